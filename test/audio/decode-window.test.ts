/**
 * The check-then-read window: a cached artifact's audio file is checked against its recorded block hashes and then
 * decoded; ffmpeg must decode the bytes that were checked, even when the file is replaced in between. A stand-in for
 * ffmpeg replaces the file just before running the real one (the worst moment), as another process could.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { decodeFile, DecodeFailure } from "../../src/audio/ffmpeg.ts"
import { hashFileBlocks, writerBlockHash } from "../../src/runtime/integrity.ts"
import { sha256 } from "../../src/runtime/hash.ts"
import { tempDir } from "../support/stage-harness.ts"
import { ffmpegPath, sine, transcode, writeWav } from "./fixtures.ts"

/** An object-store artifact holding `files` (name -> source path), with the manifest the store writes at commit. */
const artifactWith = (root: string, files: Record<string, string>): string => {
  const hash = sha256(Object.keys(files).join(",") + Math.random())
  const dir = path.join(root, "objects", hash.slice(0, 2), hash)
  fs.mkdirSync(dir, { recursive: true })
  const entries = Object.entries(files).map(([name, src]) => {
    fs.copyFileSync(src, path.join(dir, name))
    const h = hashFileBlocks(path.join(dir, name))
    return { name, size: h.size, hash: h.hash, blocks: h.blocks }
  })
  fs.writeFileSync(path.join(dir, ".mea-manifest.json"), JSON.stringify({ hash, blockBytes: 1 << 20, blockHash: writerBlockHash(), files: entries }))
  return dir
}

const decode = async (file: string, ffmpeg: string): Promise<Buffer> => {
  const chunks: Array<Buffer> = []
  await decodeFile(file, { ffmpeg, rate: 8000 }, async (c) => void chunks.push(Buffer.from(c)))
  return Buffer.concat(chunks)
}

/** An "ffmpeg" that first overwrites `target` with `replacement` (same size, other content), then runs ffmpeg. */
const racingFfmpeg = (dir: string, target: string, replacement: string): string => {
  const script = path.join(dir, "ffmpeg-racing.sh")
  fs.writeFileSync(script, `#!/bin/sh\ncat '${replacement}' > '${target}'\nexec '${ffmpegPath()}' "$@"\n`, { mode: 0o755 })
  return script
}

describe("decode reads what it checked", () => {
  for (const format of ["wav", "mp3", "flac", "ogg", "m4a"] as const) {
    it(`${format}: a cached file replaced between the check and ffmpeg's read decodes as the checked bytes`, async () => {
      const dir = tempDir("mea-window-")
      const make = (name: string, freq: number) => {
        const wav = writeWav(path.join(dir, `${name}.wav`), [sine(freq, 0.3, 8000, 2)], 8000)
        return format === "wav" ? wav : transcode(wav, path.join(dir, `${name}.m4a`))
      }
      const a = make("a", 440)
      const b = make("b", 880)
      if (format === "wav") expect(fs.statSync(b).size).toBe(fs.statSync(a).size)
      const expected = await decode(a, ffmpegPath()) // a plain file, by path
      expect((await decode(b, ffmpegPath())).equals(expected)).toBe(false)
      const artifact = artifactWith(path.join(dir, "cache"), { [`t.${format}`]: a })
      const cached = path.join(artifact, `t.${format}`)
      const got = await decode(cached, racingFfmpeg(dir, cached, b))
      // The racing stand-in did replace the file on disk, yet what was decoded is what the manifest vouches for.
      expect(fs.readFileSync(cached).equals(fs.readFileSync(b))).toBe(true)
      expect(got.equals(expected)).toBe(true)
    })
  }

  it("a cached file ffmpeg rejects (it stops reading its stdin early) is a decode failure, not a pipe error", async () => {
    const dir = tempDir("mea-window-")
    const junk = path.join(dir, "junk.wav")
    fs.writeFileSync(junk, Buffer.alloc(3 << 20, "not audio at all "))
    const cached = path.join(artifactWith(path.join(dir, "cache"), { "t.wav": junk }), "t.wav")
    const error = await decode(cached, ffmpegPath()).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(DecodeFailure)
    expect(String(error)).toMatch(/ffmpeg exited with code/)
  })

  it("a cached file corrupt on disk is an error naming the file and the block, not decoded audio", async () => {
    const dir = tempDir("mea-window-")
    const a = writeWav(path.join(dir, "a.wav"), [sine(440, 0.3, 8000, 2)], 8000)
    const cached = path.join(artifactWith(path.join(dir, "cache"), { "t.wav": a }), "t.wav")
    const bytes = fs.readFileSync(cached)
    bytes[bytes.length - 100] ^= 0x10
    fs.writeFileSync(cached, bytes)
    await expect(decode(cached, ffmpegPath())).rejects.toThrow(/t\.wav.*block 1 of 1.*do not match the hash recorded when it was written/)
  })
})
