import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { ensureExecutable, ffmpegArgs, locateFfmpeg } from "../../src/audio/ffmpeg.ts"
import { tempDir } from "../support/stage-harness.ts"

describe("ffmpeg binary", () => {
  const saved = process.env.MEA_FFMPEG
  afterEach(() => {
    if (saved === undefined) delete process.env.MEA_FFMPEG
    else process.env.MEA_FFMPEG = saved
  })

  it("restores a lost executable bit", () => {
    const file = path.join(tempDir(), "ffmpeg")
    fs.writeFileSync(file, "#!/bin/sh\n", { mode: 0o644 })
    expect(fs.statSync(file).mode & 0o111).toBe(0)
    expect(Effect.runSync(ensureExecutable(file))).toBe(file)
    expect(fs.statSync(file).mode & 0o111).toBe(0o111)
  })

  it("says which binary it cannot use", () => {
    const missing = path.join(tempDir(), "nope")
    const exit = Effect.runSyncExit(ensureExecutable(missing))
    expect(exit._tag).toBe("Failure")
    expect(JSON.stringify(exit)).toContain(`ffmpeg binary ${missing} is not executable and cannot be made so`)
  })

  it("finds the npm-shipped binary, or MEA_FFMPEG when set", () => {
    delete process.env.MEA_FFMPEG
    expect(Effect.runSync(locateFfmpeg)).toMatch(/@ffmpeg-installer\/[^/]+\/ffmpeg(\.exe)?$/)
    const own = path.join(tempDir(), "my-ffmpeg")
    fs.writeFileSync(own, "", { mode: 0o600 })
    process.env.MEA_FFMPEG = own
    expect(Effect.runSync(locateFfmpeg)).toBe(own)
  })

  it("asks for mono before soxr resampling and float out of the resampler", () => {
    const args = ffmpegArgs("in.mp3", { ffmpeg: "ffmpeg", rate: 24000 })
    expect(args[args.indexOf("-af") + 1]).toBe("aresample=ocl=mono:rematrix_maxval=1,aresample=24000:resampler=soxr,aformat=sample_fmts=flt")
    expect(args.slice(-5)).toEqual(["-f", "s16le", "-acodec", "pcm_s16le", "pipe:1"])
  })
})
