/** Decoded-audio and segment-index artifacts made directly from sample arrays, as the decode and segment stages store them. */
import * as fs from "node:fs"
import * as path from "node:path"
import type { Artifact } from "../../src/runtime/stage.ts"
import { DecodedAudioCodec, type DecodedAudio } from "../../src/artifacts/decoded-audio.ts"
import { segmentStarts } from "../../src/stages/segment.ts"
import { SEGMENT_FILE, SegmentsCodec, type Segments } from "../../src/artifacts/segments.ts"
import { artifactOf, tempDir } from "../support/stage-harness.ts"

export const toInt16 = (x: Float32Array): Int16Array => Int16Array.from(x, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))))

export const audioArtifacts = (
  tracks: ReadonlyArray<Float32Array>,
  rate: number,
  seconds = 10,
): { readonly audio: Artifact<DecodedAudio>; readonly segments: Artifact<Segments> } => {
  const audioDir = tempDir("mea-audio-")
  const offsets: Array<number> = []
  let offset = 0
  const chunks = tracks.map((t) => {
    offsets.push(offset)
    offset += t.length
    return Buffer.from(toInt16(t).buffer)
  })
  fs.writeFileSync(path.join(audioDir, "audio.s16le"), Buffer.concat(chunks))
  const ids = tracks.map((_, i) => `t${i}`)
  const audio = artifactOf(
    DecodedAudioCodec,
    { dataset: "demo", rate, sample_format: "s16le", file: "audio.s16le", ids, offsets, lengths: tracks.map((t) => t.length), skipped: [] },
    audioDir,
    "decode",
  )
  const length = Math.round(seconds * rate)
  const rows: Array<number> = []
  tracks.forEach((t, track) => segmentStarts(t.length, length, length, "pad").forEach((start, s) => rows.push(track, s, start, start + length)))
  const segDir = tempDir("mea-seg-")
  fs.writeFileSync(path.join(segDir, SEGMENT_FILE), Buffer.from(Uint32Array.from(rows).buffer))
  const segments = artifactOf(
    SegmentsCodec,
    { dataset: "demo", rate, seconds, hop: seconds, length, short: "pad", file: SEGMENT_FILE, count: rows.length / 4, tracks: ids, short_tracks: [] },
    segDir,
    "segment",
  )
  return { audio, segments }
}

export const lcg = (seed: number) => () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
  return seed / 2 ** 32
}
