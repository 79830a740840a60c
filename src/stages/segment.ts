/**
 * Stage `segment`: the segment index of a decoded data set. Reference semantics by default: floor(duration / seconds)
 * consecutive segments without overlap, each exactly `seconds` long. A `hop` below `seconds` overlaps them. A track
 * shorter than one segment gets one zero-padded segment (`short: pad`, counted in the value) or none (`short: drop`,
 * what the reference does silently). Samples are not copied: readers take them from the decoded audio.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import { readVerifiedFile } from "../runtime/integrity.ts"
import * as path from "node:path"
import { attempt, codec, defineStage, Input, StageError, type Artifact } from "../runtime/stage.ts"
import type { PcmReader } from "../audio/pcm.ts"
import { DecodedAudioCodec, openDecoded, type DecodedAudio } from "./decode.ts"

export const SegmentsSchema = Schema.Struct({
  dataset: Schema.String,
  rate: Schema.Int,
  seconds: Schema.Number,
  hop: Schema.Number,
  /** Samples per segment (round(seconds * rate)). */
  length: Schema.Int,
  short: Schema.Literal("pad", "drop"),
  /** The rows: `count` x 4 uint32 little-endian (track index into `tracks`, segment number, start, end sample). */
  file: Schema.String,
  count: Schema.Int,
  /** Track ids, as in the decoded audio; rows refer to them by index. */
  tracks: Schema.Array(Schema.String),
  /** Ids of tracks shorter than one segment: padded (short: pad) or left without segments (short: drop). */
  short_tracks: Schema.Array(Schema.String),
})
export type Segments = typeof SegmentsSchema.Type

export const SegmentsCodec = codec("segments", SegmentsSchema, {
  summarize: (s) =>
    `${s.dataset}: ${s.count} segments of ${s.seconds} s (hop ${s.hop} s) from ${s.tracks.length} tracks` +
    (s.short_tracks.length > 0 ? `, ${s.short_tracks.length} shorter than a segment (${s.short === "pad" ? "padded" : "dropped"})` : ""),
})

export const SegmentParams = Schema.Struct({
  seconds: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 10 }),
  /** Seconds between segment starts; defaults to `seconds` (no overlap). */
  hop: Schema.optional(Schema.Number.pipe(Schema.positive())),
  short: Schema.optionalWith(Schema.Literal("pad", "drop"), { default: () => "pad" as const }),
})

/** Segment starts (in samples) for a track of `n` samples. */
export const segmentStarts = (n: number, length: number, hop: number, short: "pad" | "drop"): Array<number> => {
  if (n < length) return short === "pad" ? [0] : []
  const count = Math.floor((n - length) / hop) + 1
  return Array.from({ length: count }, (_, i) => i * hop)
}

export interface SegmentRow {
  readonly track: number
  readonly id: string
  readonly segment: number
  readonly start: number
  readonly end: number
}

const COLUMNS = 4
export const SEGMENT_FILE = "segments.u32"

/** The whole index as one typed array (4 uint32 per row). */
export const readSegmentTable = (artifact: Artifact<Segments>): Uint32Array => {
  const buf = readVerifiedFile(artifact.file(artifact.value.file))
  const table = new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
  if (table.length !== artifact.value.count * COLUMNS) {
    throw new Error(`${artifact.file(artifact.value.file)}: expected ${artifact.value.count} rows of ${COLUMNS} uint32, found ${table.length / COLUMNS}`)
  }
  return table
}

export const segmentRow = (artifact: Artifact<Segments>, table: Uint32Array, i: number): SegmentRow => ({
  track: table[i * COLUMNS],
  id: artifact.value.tracks[table[i * COLUMNS]],
  segment: table[i * COLUMNS + 1],
  start: table[i * COLUMNS + 2],
  end: table[i * COLUMNS + 3],
})

/** All rows (convenient for small data sets; large ones iterate the table). */
export const readSegments = (artifact: Artifact<Segments>): Array<SegmentRow> => {
  const table = readSegmentTable(artifact)
  return Array.from({ length: artifact.value.count }, (_, i) => segmentRow(artifact, table, i))
}

/**
 * Iterates segments as float32 samples (exactly `length` each, zero-padded past the track's end), reading the decoded
 * audio through one open file handle; `from`/`to` pick a range of rows (for batching or parallel workers).
 */
export function* iterateSegmentSamples(
  decoded: Artifact<DecodedAudio>,
  segments: Artifact<Segments>,
  from = 0,
  to = segments.value.count,
): Generator<{ readonly row: SegmentRow; readonly samples: Float32Array }> {
  const table = readSegmentTable(segments)
  const reader: PcmReader = openDecoded(decoded)
  try {
    for (let i = from; i < to; i++) {
      const row = segmentRow(segments, table, i)
      yield { row, samples: reader.read(row.track, row.start, row.end - row.start) }
    }
  } finally {
    reader.close()
  }
}

/** One segment's samples. For many segments prefer iterateSegmentSamples (one open file). */
export const segmentSamples = (decoded: Artifact<DecodedAudio>, segments: Artifact<Segments>, i: number): Float32Array => {
  const it = iterateSegmentSamples(decoded, segments, i, i + 1)
  const first = it.next()
  it.return(undefined)
  if (first.done === true) throw new RangeError(`segment ${i} out of range 0..${segments.value.count - 1}`)
  return first.value.samples
}

export const SegmentStage = defineStage({
  name: "segment",
  version: 1,
  description: "Cuts each decoded track into fixed-length segments (reference: floor(duration / 10 s), no overlap)",
  params: SegmentParams,
  inputs: { audio: Input.node(DecodedAudioCodec) },
  output: SegmentsCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const decoded = ctx.inputs.audio.value
      const { seconds, short } = ctx.params
      const hopSeconds = ctx.params.hop ?? seconds
      const length = Math.round(seconds * decoded.rate)
      const hop = Math.round(hopSeconds * decoded.rate)
      if (hop < 1) return yield* Effect.fail(new StageError({ message: `segment: hop ${hopSeconds} s is under one sample at ${decoded.rate} Hz` }))
      const rows: Array<number> = []
      const shortTracks: Array<string> = []
      decoded.lengths.forEach((n, track) => {
        if (n < length) shortTracks.push(decoded.ids[track])
        segmentStarts(n, length, hop, short).forEach((start, segment) => rows.push(track, segment, start, start + length))
      })
      if (rows.some((v) => v > 0xffffffff)) {
        return yield* Effect.fail(new StageError({ message: `segment: a track is longer than 2^32 samples; the index stores uint32 positions` }))
      }
      const count = rows.length / COLUMNS
      if (count === 0) {
        return yield* Effect.fail(new StageError({ message: `segment ${decoded.dataset}: no segment (every track is shorter than ${seconds} s and short: drop)` }))
      }
      const table = Uint32Array.from(rows)
      yield* attempt(`cannot write ${SEGMENT_FILE}`, () =>
        fs.writeFileSync(path.join(ctx.outDir, SEGMENT_FILE), new Uint8Array(table.buffer, table.byteOffset, table.byteLength)),
      )
      if (shortTracks.length > 0) {
        yield* ctx.progress.warn(
          `segment ${decoded.dataset}: ${shortTracks.length} track(s) shorter than ${seconds} s ${short === "pad" ? "padded to one segment" : "dropped"}: ${shortTracks.slice(0, 10).join(", ")}${shortTracks.length > 10 ? ", ..." : ""}`,
        )
      }
      return {
        dataset: decoded.dataset,
        rate: decoded.rate,
        seconds,
        hop: hopSeconds,
        length,
        short,
        file: SEGMENT_FILE,
        count,
        tracks: [...decoded.ids],
        short_tracks: shortTracks,
      }
    }),
})
