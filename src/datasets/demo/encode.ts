/** Writes synthesised audio as WAV (in JS) or, through the shipped ffmpeg, as mp3, ogg or flac, bit-exactly reproducibly. */
import { spawn } from "node:child_process"
import * as fsp from "node:fs/promises"
import { encodeWav, interleaveS16 } from "../../audio/wav.ts"

export type AudioFormat = "wav" | "mp3" | "ogg" | "flac"

const CODEC_ARGS: Record<Exclude<AudioFormat, "wav">, ReadonlyArray<string>> = {
  // compression_level 9 = LAME's fastest algorithm: the demo's audio needs to be real mp3, not the best mp3.
  mp3: ["-c:a", "libmp3lame", "-b:a", "128k", "-compression_level", "9"],
  ogg: ["-c:a", "libvorbis", "-q:a", "3"],
  flac: ["-c:a", "flac"],
}

export const writeAudio = async (
  file: string,
  format: AudioFormat,
  channels: ReadonlyArray<Float32Array>,
  rate: number,
  ffmpeg: string,
): Promise<void> => {
  if (format === "wav") return fsp.writeFile(file, encodeWav(channels, rate))
  const pcm = interleaveS16(channels)
  // bitexact: no encoder version string, no random Ogg serial number -> the same bytes on every run.
  const args = [
    "-nostdin", "-v", "error", "-y",
    "-f", "s16le", "-ar", String(rate), "-ac", String(channels.length), "-i", "pipe:0",
    ...CODEC_ARGS[format],
    "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1",
    file,
  ]
  await new Promise<void>((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ["pipe", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8")
    child.stderr.on("data", (d: string) => void (stderr = (stderr + d).slice(-2000)))
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg could not encode ${file} (exit ${code}): ${stderr.trim()}`))))
    child.stdin.on("error", () => undefined)
    child.stdin.end(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength))
  })
}
