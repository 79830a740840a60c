/**
 * The ffmpeg binary shipped by @ffmpeg-installer (installed by `npm ci`, no system package), and one-file decoding
 * through it: ffmpeg decodes, downmixes to mono and resamples with soxr, and streams 16-bit PCM to our stdout pipe.
 * bench/decode.ts compares this with the alternatives that were considered.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { isArtifactFile, VerifiedReader } from "../runtime/integrity.ts"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Writable } from "node:stream"
import { createRequire } from "node:module"
import { StageError } from "../runtime/stage.ts"

const require = createRequire(import.meta.url)

/** Absolute path of the ffmpeg binary; `MEA_FFMPEG` overrides it. Makes it executable when npm lost the bit. */
export const locateFfmpeg: Effect.Effect<string, StageError> = Effect.suspend(() => {
  const override = process.env.MEA_FFMPEG
  const located = (() => {
    if (override !== undefined && override !== "") return override
    try {
      return (require("@ffmpeg-installer/ffmpeg") as { path: string }).path
    } catch (e) {
      return new StageError({
        message: `cannot find the ffmpeg binary of @ffmpeg-installer/ffmpeg (run npm ci; or set MEA_FFMPEG): ${e instanceof Error ? e.message : String(e)}`,
        cause: e,
      })
    }
  })()
  if (located instanceof StageError) return Effect.fail(located)
  return ensureExecutable(located)
})

/** npm extracts some tarballs without the executable bit (e.g. after a copy through a zip); restore it. */
export const ensureExecutable = (file: string): Effect.Effect<string, StageError> =>
  Effect.try({
    try: () => {
      try {
        fs.accessSync(file, fs.constants.X_OK)
      } catch {
        const mode = fs.statSync(file).mode
        fs.chmodSync(file, mode | 0o111)
        fs.accessSync(file, fs.constants.X_OK)
      }
      return file
    },
    catch: (e) =>
      new StageError({ message: `ffmpeg binary ${file} is not executable and cannot be made so: ${e instanceof Error ? e.message : String(e)}`, cause: e }),
  })

export type Resampler = "soxr" | "swr"

export interface DecodeOptions {
  readonly ffmpeg: string
  readonly rate: number
  /** soxr (default): SoX's band-limited resampler; swr: ffmpeg's own windowed-sinc one. */
  readonly resampler?: Resampler
}

/**
 * Arguments for: first audio stream of `file` -> mono -> `rate` Hz (soxr) -> s16le on stdout.
 * Mono first, so the resampler runs on one channel. `rematrix_maxval=1` makes swresample normalise its downmix matrix
 * to unity gain, so stereo becomes exactly (L + R) / 2, the mean of the channels (test/audio/decode.test.ts checks
 * it). Sources with more than two channels get ffmpeg's standard surround downmix (centre and surrounds at -3 dB,
 * LFE dropped), normalised the same way, not a plain mean.
 * The resampler must output float: when soxr writes int16 itself it dithers with a random seed, and the same file
 * would decode to different bits on every run (breaking content hashing downstream).
 */
export const ffmpegArgs = (file: string, options: DecodeOptions): ReadonlyArray<string> => [
  "-nostdin",
  "-hide_banner",
  "-v",
  "error",
  "-i",
  file,
  "-map",
  "0:a:0",
  "-vn",
  "-af",
  `aresample=ocl=mono:rematrix_maxval=1,aresample=${options.rate}:resampler=${options.resampler ?? "soxr"},aformat=sample_fmts=flt`,
  "-f",
  "s16le",
  "-acodec",
  "pcm_s16le",
  "pipe:1",
]

export class DecodeFailure extends Error {}

/** ISO base media (mp4, m4a, mov): ffmpeg must seek in these (the moov box is often at the end), so not a pipe. */
const needsSeeking = (head: Uint8Array): boolean => head.length >= 8 && Buffer.from(head.subarray(4, 8)).toString("latin1") === "ftyp"

const FEED_BYTES = 1 << 20

/**
 * Writes the reader's bytes, each block checked as it is read, into ffmpeg's stdin; honours backpressure. Rejects
 * only with the reader's error (a corrupt block).
 */
const feed = async (reader: VerifiedReader, stdin: Writable): Promise<void> => {
  for (let at = 0; at < reader.size; at += FEED_BYTES) {
    const chunk = Buffer.allocUnsafe(Math.min(FEED_BYTES, reader.size - at))
    reader.read(chunk, at)
    if (stdin.destroyed || stdin.writableEnded) return
    if (!stdin.write(chunk)) {
      // ffmpeg closing its stdin early (EPIPE: a file it rejects) ends the feed; its exit code tells what went wrong.
      await new Promise<void>((resolve) => {
        const done = () => {
          stdin.off("drain", done)
          stdin.off("close", done)
          stdin.off("error", done)
          resolve()
        }
        stdin.once("drain", done)
        stdin.once("close", done)
        stdin.once("error", done)
      })
      if (stdin.destroyed) return
    }
  }
  stdin.end()
}

/**
 * Decodes one file, handing each stdout chunk to `sink` (awaited, so a slow sink throttles ffmpeg through the pipe:
 * memory stays at one pipe buffer per decoder whatever the file's length). Resolves with the byte count.
 *
 * A cached artifact's file (the demo's audio) has recorded block hashes; ffmpeg must decode exactly the bytes that
 * were checked against them, not whatever the path holds a moment later. So mea reads the file, checks each block,
 * and pipes those very bytes into ffmpeg's stdin; an MP4-family file, which ffmpeg cannot decode from a pipe, is
 * first copied, checked, into a private temporary file. Files outside the cache (a data set's own audio) are read by
 * ffmpeg by path: their hashes are the input listing's, taken when the run starts.
 */
export const decodeFile = async (
  file: string,
  options: DecodeOptions,
  sink: (chunk: Buffer) => Promise<void>,
  signal?: AbortSignal,
): Promise<number> => {
  if (!isArtifactFile(file)) return runDecoder(file, undefined, options, sink, signal)
  const reader = new VerifiedReader(file)
  try {
    const head = new Uint8Array(Math.min(12, reader.size))
    reader.read(head, 0)
    if (!needsSeeking(head)) return await runDecoder("pipe:0", reader, options, sink, signal)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mea-decode-"))
    try {
      const copy = path.join(dir, path.basename(file))
      const fd = fs.openSync(copy, "w")
      try {
        const chunk = Buffer.allocUnsafe(FEED_BYTES)
        for (let at = 0; at < reader.size; at += FEED_BYTES) {
          const n = Math.min(FEED_BYTES, reader.size - at)
          reader.read(chunk.subarray(0, n), at)
          fs.writeSync(fd, chunk, 0, n)
        }
      } finally {
        fs.closeSync(fd)
      }
      return await runDecoder(copy, undefined, options, sink, signal)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  } finally {
    reader.close()
  }
}

const runDecoder = async (
  input: string,
  stdinFrom: VerifiedReader | undefined,
  options: DecodeOptions,
  sink: (chunk: Buffer) => Promise<void>,
  signal?: AbortSignal,
): Promise<number> => {
  const child = spawn(options.ffmpeg, ffmpegArgs(input, options), { stdio: [stdinFrom === undefined ? "ignore" : "pipe", "pipe", "pipe"] })
  // Interruption (another worker failed, the run was cancelled) kills the decoder; no error event escapes unhandled.
  const kill = () => child.kill("SIGKILL")
  signal?.addEventListener("abort", kill, { once: true })
  let stderr = ""
  child.stderr!.setEncoding("utf8")
  child.stderr!.on("data", (d: string) => {
    stderr = (stderr + d).slice(-4000)
  })
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code) => resolve(code))
  })
  exited.catch(() => undefined)
  child.stdin?.on("error", () => undefined)
  // A corrupt block found while feeding is the error to report (ffmpeg is killed; its exit code says nothing).
  let feedError: unknown
  const fed = stdinFrom === undefined ? Promise.resolve() : feed(stdinFrom, child.stdin!).catch((e: unknown) => {
    feedError = e
    kill()
  })
  let bytes = 0
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      bytes += chunk.length
      await sink(chunk)
    }
  } catch (e) {
    kill()
    throw e
  } finally {
    signal?.removeEventListener("abort", kill)
  }
  await fed
  const code = await exited
  if (feedError !== undefined) throw feedError
  const detail = stderr.trim().split("\n").filter((l) => l.trim() !== "").slice(-2).join(" | ")
  if (code !== 0) throw new DecodeFailure(`ffmpeg exited with code ${code}${detail ? `: ${detail}` : ""}`)
  if (bytes < 2) throw new DecodeFailure(`no audio samples decoded${detail ? `: ${detail}` : ""}`)
  return bytes
}
