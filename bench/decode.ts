/**
 * bench/decode: mp3 -> 24 kHz mono, the decode stage's job, in x realtime per core (audio seconds / CPU seconds).
 * Goal (issue #3): >= 200x per core.
 *
 * Candidates:
 *   ffmpeg+soxr  the npm static ffmpeg (@ffmpeg-installer), soxr resampler: what `decode` uses
 *   ffmpeg+swr   the same binary with ffmpeg's own windowed-sinc resampler
 *   ffmpeg mp3 only  decoding to native-rate PCM, no resampling/downmix (the decoder's share of the cost)
 *   mpg123 WASM  mpg123-decoder from npm, decoding only (no resampling: a JS band-limited resampler would add to it);
 *                run when it is importable: `npm install --prefix /tmp/benchdeps mpg123-decoder` and
 *                MEA_BENCH_NODE_MODULES=/tmp/benchdeps/node_modules
 * CPU time of the ffmpeg children is read from /proc/self/stat (cutime + cstime), so the figure holds on a busy machine.
 * Also decodes one 10-minute mp3 through the stage's streaming path and prints the peak RSS growth of this process.
 *
 * Run: npx tsx bench/decode.ts [files=6] [seconds=60]
 */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { decodeFile, locateFfmpeg, type Resampler } from "../src/audio/ffmpeg.ts"
import { writeAudio } from "../src/datasets/demo/encode.ts"
import { LABEL_MOODS } from "../src/datasets/demo/moods.ts"
import { rng } from "../src/datasets/demo/random.ts"
import { musicFor, render } from "../src/datasets/demo/synth.ts"

const GOAL = 200
const files = Number(process.argv[2] ?? 6)
const seconds = Number(process.argv[3] ?? 60)
const ffmpeg = Effect.runSync(locateFfmpeg)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mea-bench-decode-"))

const TICKS = 100 // USER_HZ on Linux
const childCpu = (): number => {
  const fields = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")
  // After "pid (comm) ", field 3 is index 0; cutime and cstime are fields 16 and 17.
  return (Number(fields[13]) + Number(fields[14])) / TICKS
}
const selfCpu = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

const mp3s: Array<string> = []
const labels = Object.keys(LABEL_MOODS)
for (let i = 0; i < files; i++) {
  const r = rng(1, `bench:${i}`)
  const file = path.join(dir, `${i}.mp3`)
  await writeAudio(file, "mp3", render(musicFor(LABEL_MOODS[labels[(i * 7) % labels.length]], "pop", r), seconds, 44100, r, 2), 44100, ffmpeg)
  mp3s.push(file)
}
const audioSeconds = files * seconds
console.log(`bench/decode: ${files} mp3 files x ${seconds} s (44.1 kHz stereo, 128 kb/s) = ${audioSeconds} s of audio`)

const report = (name: string, cpu: number, wall: number, note = "") => {
  const x = audioSeconds / cpu
  console.log(
    `${name.padEnd(28)} ${x.toFixed(0).padStart(6)}x realtime per core  (cpu ${cpu.toFixed(2)} s, wall ${wall.toFixed(2)} s; ${(x / GOAL).toFixed(2)} x the ${GOAL}x goal)${note ? "  " + note : ""}`,
  )
}

const viaFfmpeg = async (name: string, resampler: Resampler) => {
  const c0 = childCpu()
  const s0 = selfCpu()
  const t0 = performance.now()
  for (const f of mp3s) await decodeFile(f, { ffmpeg, rate: 24000, resampler }, async () => undefined)
  // Our own share (reading the pipe) counts too.
  report(name, childCpu() - c0 + (selfCpu() - s0), (performance.now() - t0) / 1000)
}

const decodeOnly = () => {
  const c0 = childCpu()
  const t0 = performance.now()
  for (const f of mp3s) execFileSync(ffmpeg, ["-nostdin", "-v", "error", "-i", f, "-f", "f32le", "-"], { maxBuffer: 1 << 30 })
  report("ffmpeg mp3 only (no resample)", childCpu() - c0, (performance.now() - t0) / 1000)
}

const wasm = async () => {
  const nm = process.env.MEA_BENCH_NODE_MODULES
  let mod: { MPEGDecoder: new () => { ready: Promise<void>; decode: (d: Uint8Array) => { samplesDecoded: number }; free: () => void; reset: () => Promise<void> } }
  try {
    const entry = nm ? createRequire(path.join(nm, "noop.js")).resolve("mpg123-decoder") : createRequire(import.meta.url).resolve("mpg123-decoder")
    mod = await import(pathToFileURL(entry).href)
  } catch {
    console.log(`${"mpg123 WASM (decode only)".padEnd(28)} skipped: mpg123-decoder not importable (see the header of bench/decode.ts)`)
    return
  }
  const decoder = new mod.MPEGDecoder()
  await decoder.ready
  const s0 = selfCpu()
  const t0 = performance.now()
  let samples = 0
  for (const f of mp3s) {
    await decoder.reset()
    samples += decoder.decode(new Uint8Array(fs.readFileSync(f))).samplesDecoded
  }
  decoder.free()
  report("mpg123 WASM (decode only)", selfCpu() - s0, (performance.now() - t0) / 1000, `${(samples / 44100).toFixed(0)} s decoded, still at 44.1 kHz stereo`)
}

const longTrack = async () => {
  const file = path.join(dir, "ten-minutes.mp3")
  execFileSync(ffmpeg, ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=600", "-ac", "2", "-c:a", "libmp3lame", "-compression_level", "9", "-b:a", "128k", file])
  const out = await fsp.open(path.join(dir, "long.s16le"), "w")
  let pos = 0
  let peak = process.memoryUsage().rss
  const rss0 = peak
  const bytes = await decodeFile(file, { ffmpeg, rate: 24000 }, async (chunk) => {
    const { bytesWritten } = await out.write(chunk, 0, chunk.length, pos)
    pos += bytesWritten
    peak = Math.max(peak, process.memoryUsage().rss)
  })
  await out.close()
  console.log(
    `10-minute mp3 streamed: ${(bytes / 2 / 24000).toFixed(1)} s decoded, ${(bytes / 2 ** 20).toFixed(1)} MB written, peak RSS growth ${((peak - rss0) / 2 ** 20).toFixed(1)} MB (no temp WAV)`,
  )
}

await viaFfmpeg("ffmpeg+soxr (decode stage)", "soxr")
await viaFfmpeg("ffmpeg+swr", "swr")
decodeOnly()
await wasm()
await longTrack()
fs.rmSync(dir, { recursive: true, force: true })
