import { Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { DecodedAudioCodec, type DecodedAudio } from "../../src/artifacts/decoded-audio.ts"
import { SegmentStage } from "../../src/stages/segment.ts"
import { iterateSegmentSamples, readSegments, segmentSamples, type Segments } from "../../src/artifacts/segments.ts"
import { artifactFromResult, artifactOf, runStagePromise, tempDir } from "../support/stage-harness.ts"

const RATE = 1000

/** A decoded-audio artifact whose track i holds the ramp i*1000 + 0, 1, 2, ... (as int16), so positions are checkable. */
const decodedOf = (seconds: ReadonlyArray<number>) => {
  const dir = tempDir("mea-seg-")
  const lengths = seconds.map((s) => Math.round(s * RATE))
  const offsets = lengths.map((_, i) => lengths.slice(0, i).reduce((a, b) => a + b, 0))
  const total = lengths.reduce((a, b) => a + b, 0)
  const pcm = new Int16Array(total)
  lengths.forEach((n, t) => {
    for (let j = 0; j < n; j++) pcm[offsets[t] + j] = (t * 1000 + (j % 1000)) % 32768
  })
  fs.writeFileSync(path.join(dir, "audio.s16le"), new Uint8Array(pcm.buffer))
  const value: DecodedAudio = {
    dataset: "fixture",
    rate: RATE,
    sample_format: "s16le",
    file: "audio.s16le",
    ids: seconds.map((_, i) => `t${i}`),
    offsets,
    lengths,
    skipped: [],
  }
  return artifactOf(DecodedAudioCodec, value, dir)
}

describe("segment", () => {
  const durations = [25, 9.999, 10, 30.001, 3, 59.9, 100]

  it("cuts floor(duration / 10) segments per track and pads a track shorter than one segment", async () => {
    const decoded = decodedOf(durations)
    const result = await runStagePromise(SegmentStage, { inputs: { audio: decoded } })
    const seg = artifactFromResult<Segments>(result)
    const expected = durations.map((d) => Math.max(1, Math.floor(d / 10)))
    expect(seg.value.count).toBe(expected.reduce((a, b) => a + b, 0))
    expect(seg.value.short_tracks).toEqual(["t1", "t4"])
    expect(result.warnings).toEqual(["segment fixture: 2 track(s) shorter than 10 s padded to one segment: t1, t4"])
    const rows = Either.getOrThrow(readSegments(seg))
    durations.forEach((_, t) => expect(rows.filter((r) => r.id === `t${t}`).length).toBe(expected[t]))
    expect(rows.filter((r) => r.id === "t0")).toEqual([
      { track: 0, id: "t0", segment: 0, start: 0, end: 10000 },
      { track: 0, id: "t0", segment: 1, start: 10000, end: 20000 },
    ])
    // Every segment is exactly 10 s; the short track's is zero-padded after its 3 s.
    const short = rows.findIndex((r) => r.id === "t4")
    const x = segmentSamples(decoded, seg, short)
    expect(x.length).toBe(10000)
    expect(x[2999]).toBeCloseTo(((4 * 1000 + 999) % 32768) / 32768, 6)
    expect(x.subarray(3000).every((v) => v === 0)).toBe(true)
    // The second segment of t0 starts at sample 10000 of t0.
    const s1 = segmentSamples(decoded, seg, 1)
    expect(s1[0]).toBeCloseTo(0, 6)
    expect(s1[1]).toBeCloseTo(1 / 32768, 6)
    let n = 0
    for (const { row, samples } of iterateSegmentSamples(decoded, seg)) {
      expect(samples.length).toBe(10000)
      expect(row.end - row.start).toBe(10000)
      n++
    }
    expect(n).toBe(seg.value.count)
  })

  it("drops short tracks as the reference does with short: drop", async () => {
    const result = await runStagePromise(SegmentStage, { params: { short: "drop" }, inputs: { audio: decodedOf(durations) } })
    const seg = result.value as Segments
    expect(seg.count).toBe(durations.reduce((a, d) => a + Math.floor(d / 10), 0))
    expect(seg.short_tracks).toEqual(["t1", "t4"])
  })

  it("overlaps segments with a hop below the segment length", async () => {
    const result = await runStagePromise(SegmentStage, { params: { seconds: 10, hop: 5 }, inputs: { audio: decodedOf([25, 10, 12]) } })
    const rows = Either.getOrThrow(readSegments(artifactFromResult<Segments>(result)))
    expect(rows.map((r) => [r.id, r.start])).toEqual([
      ["t0", 0], ["t0", 5000], ["t0", 10000], ["t0", 15000],
      ["t1", 0],
      ["t2", 0],
    ])
  })

  it("fails when every track is too short and short: drop", async () => {
    await expect(runStagePromise(SegmentStage, { params: { short: "drop" }, inputs: { audio: decodedOf([3, 4]) } })).rejects.toMatchObject({
      message: "segment fixture: no segment (every track is shorter than 10 s and short: drop)",
    })
  })
})
