import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { DatasetCodec, type Dataset } from "../../src/artifacts/dataset.ts"
import { DecodeStage } from "../../src/stages/decode.ts"
import { openDecoded, readTrackSamples, type DecodedAudio } from "../../src/artifacts/decoded-audio.ts"
import { artifactFromResult, artifactOf, runStagePromise, tempDir } from "../support/stage-harness.ts"
import { sine, toneOf, transcode, writeWav } from "./fixtures.ts"

const dir = tempDir("mea-decode-")
const f = (name: string) => path.join(dir, name)

const track = (id: string, audio: string): Dataset["tracks"][number] => ({ id, audio, labels: ["happy"], split: "train" })
const datasetOf = (tracks: Dataset["tracks"]) =>
  artifactOf(DatasetCodec, { name: "fixture", format: "reference-json", labels: ["happy"], tracks, skipped: [] })

beforeAll(() => {
  // Stereo 44.1 kHz: 1 kHz at 0.5 on the left, silence on the right -> the mono mean is 1 kHz at 0.25.
  writeWav(f("stereo44.wav"), [sine(1000, 0.5, 44100, 2), new Float32Array(88200)], 44100)
  writeWav(f("mono48.wav"), [sine(1000, 0.5, 48000, 2)], 48000)
  writeWav(f("high44.wav"), [sine(15000, 0.5, 44100, 2)], 44100)
  writeWav(f("short.wav"), [sine(440, 0.3, 22050, 3)], 22050)
  for (const ext of ["mp3", "ogg", "opus", "flac", "m4a"]) transcode(f("mono48.wav"), f(`mono48.${ext}`))
  fs.writeFileSync(f("corrupt.mp3"), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)))
  fs.writeFileSync(f("empty.wav"), new Uint8Array(0))
})

describe("decode", () => {
  it("decodes wav/mp3/ogg/opus/flac/m4a to mono 24 kHz, keeping a 1 kHz tone's frequency and level", async () => {
    const files = ["stereo44.wav", "mono48.wav", "mono48.mp3", "mono48.ogg", "mono48.opus", "mono48.flac", "mono48.m4a"]
    const result = await runStagePromise(DecodeStage, { inputs: { dataset: datasetOf(files.map((n) => track(n, f(n)))) } })
    const decoded = artifactFromResult<DecodedAudio>(result)
    expect(decoded.value.ids).toEqual(files)
    expect(decoded.value.rate).toBe(24000)
    expect(result.progress).toEqual({ total: files.length, done: files.length })
    files.forEach((name, i) => {
      const x = readTrackSamples(decoded, i)
      // Lossy codecs add encoder delay/padding; a 2 s source stays within 2 s +- 0.1 s.
      expect(Math.abs(x.length - 48000), name).toBeLessThan(2400)
      const core = x.subarray(4800, 43200)
      const { rms, freq } = toneOf(core, 24000, 900, 1100)
      expect(Math.abs(freq - 1000), name).toBeLessThanOrEqual(1)
      // Lossless sources keep the level to 0.5 %; lossy ones (LAME at 128k drops this tone ~5 %) to 8 %.
      const expected = (name.startsWith("stereo") ? 0.25 : 0.5) / Math.SQRT2
      expect(Math.abs(rms / expected - 1), name).toBeLessThan(name.endsWith(".wav") || name.endsWith(".flac") ? 0.005 : 0.08)
    })
    const wav = readTrackSamples(decoded, 1)
    expect(wav.length).toBe(48000)
  })

  it("removes a 15 kHz tone above the new Nyquist (12 kHz) instead of aliasing it", async () => {
    const result = await runStagePromise(DecodeStage, { inputs: { dataset: datasetOf([track("high", f("high44.wav"))]) } })
    const x = readTrackSamples(artifactFromResult<DecodedAudio>(result), 0)
    const { rms } = toneOf(x.subarray(2400, 45600), 24000, 8000, 8000)
    let all = 0
    for (const v of x.subarray(2400, 45600)) all += v * v
    // -60 dB below the 0.35 rms source would be 3.5e-4; soxr does far better.
    expect(Math.sqrt(all / 43200)).toBeLessThan(3.5e-4)
    expect(rms).toBeLessThan(3.5e-4)
  })

  it("gives the same samples with one worker or two, at another rate", async () => {
    const tracks = ["mono48.mp3", "short.wav", "stereo44.wav", "mono48.flac"].map((n) => track(n, f(n)))
    const one = artifactFromResult<DecodedAudio>(await runStagePromise(DecodeStage, { params: { rate: 16000 }, threads: 1, inputs: { dataset: datasetOf(tracks) } }))
    const two = artifactFromResult<DecodedAudio>(await runStagePromise(DecodeStage, { params: { rate: 16000 }, threads: 2, inputs: { dataset: datasetOf(tracks) } }))
    expect(two.value.ids).toEqual(one.value.ids)
    expect(two.value.lengths).toEqual(one.value.lengths)
    expect(one.value.lengths[1]).toBe(48000)
    const r1 = openDecoded(one)
    const r2 = openDecoded(two)
    for (let i = 0; i < tracks.length; i++) expect(r2.read(i)).toEqual(r1.read(i))
    // Reads past the end are zero-padded.
    const tail = r1.read(1, 47990, 20)
    expect(tail.subarray(10).every((v) => v === 0)).toBe(true)
    expect(tail.subarray(0, 10).some((v) => v !== 0)).toBe(true)
    r1.close()
    r2.close()
  })

  it("fails on a corrupt file, naming it", async () => {
    const tracks = [track("ok", f("mono48.wav")), track("bad", f("corrupt.mp3"))]
    const outDir = tempDir("mea-decode-fail-")
    await expect(runStagePromise(DecodeStage, { outDir, inputs: { dataset: datasetOf(tracks) } })).rejects.toMatchObject({
      message: expect.stringMatching(new RegExp(`^${f("corrupt.mp3").replace(/[.]/g, "\\.")} \\(track "bad"\\): cannot decode: ffmpeg exited with code 1`)),
    })
    // No partial output is left behind.
    expect(fs.readdirSync(outDir)).toEqual([])
  })

  it("skips corrupt and empty files under on_error: skip, and lists them", async () => {
    const tracks = [track("bad", f("corrupt.mp3")), track("ok", f("mono48.wav")), track("empty", f("empty.wav")), track("short", f("short.wav"))]
    const result = await runStagePromise(DecodeStage, { params: { on_error: "skip" }, inputs: { dataset: datasetOf(tracks) } })
    const value = result.value as DecodedAudio
    expect(value.ids).toEqual(["ok", "short"])
    expect(value.skipped.map((s) => s.id).sort()).toEqual(["bad", "empty"])
    expect(value.skipped.every((s) => s.reason.startsWith("cannot decode: "))).toBe(true)
    expect(result.warnings).toHaveLength(2)
    expect(fs.readdirSync(result.outDir).sort()).toEqual(["audio.s16le"])
    expect(fs.statSync(path.join(result.outDir, "audio.s16le")).size).toBe((48000 + 72000) * 2)
  })
})
