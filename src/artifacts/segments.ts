/**
 * The `segments` artifact: the segment index of a decoded data set (track, segment number, start and end sample per
 * row) and readers that take each segment's samples from the decoded audio without copying them.
 */
import { Either, Schema } from "effect"
import { ArtifactReadError, artifactError } from "./errors.ts"
import * as fs from "node:fs"
import { readVerifiedFile } from "../runtime/integrity.ts"
import type { PcmReader } from "../audio/pcm.ts"
import { codec, type Artifact } from "../runtime/stage.ts"
import { openDecoded, type DecodedAudio } from "./decoded-audio.ts"

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


export interface SegmentRow {
  readonly track: number
  readonly id: string
  readonly segment: number
  readonly start: number
  readonly end: number
}

/** uint32 columns per row of the segment table. */
export const SEGMENT_COLUMNS = 4
export const SEGMENT_FILE = "segments.u32"

/** The whole index as one typed array (4 uint32 per row). */
export const readSegmentTable = (artifact: Artifact<Segments>): Either.Either<Uint32Array, ArtifactReadError> =>
  Either.flatMap(
    Either.try({ try: () => readVerifiedFile(artifact.file(artifact.value.file)), catch: (cause) => new ArtifactReadError({ message: cause instanceof Error ? cause.message : String(cause), cause }) }),
    (buf) => {
      const table = new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
      if (table.length !== artifact.value.count * SEGMENT_COLUMNS) {
        return artifactError(`${artifact.file(artifact.value.file)}: expected ${artifact.value.count} rows of ${SEGMENT_COLUMNS} uint32, found ${table.length / SEGMENT_COLUMNS}`)
      }
      return Either.right(table)
    },
  )

/**
 * For the synchronous sample iterators below, whose consumers pull segments in a loop and wrap each pull (see
 * src/features/extractor.ts): the table's typed error goes on as a plain Error carrying the same message.
 */
const tableOrThrow = (artifact: Artifact<Segments>): Uint32Array =>
  Either.getOrThrowWith(readSegmentTable(artifact), (e) => new Error(e.message, { cause: e }))

export const segmentRow = (artifact: Artifact<Segments>, table: Uint32Array, i: number): SegmentRow => ({
  track: table[i * SEGMENT_COLUMNS],
  id: artifact.value.tracks[table[i * SEGMENT_COLUMNS]],
  segment: table[i * SEGMENT_COLUMNS + 1],
  start: table[i * SEGMENT_COLUMNS + 2],
  end: table[i * SEGMENT_COLUMNS + 3],
})

/** All rows (convenient for small data sets; large ones iterate the table). */
export const readSegments = (artifact: Artifact<Segments>): Either.Either<Array<SegmentRow>, ArtifactReadError> =>
  Either.map(readSegmentTable(artifact), (table) => Array.from({ length: artifact.value.count }, (_, i) => segmentRow(artifact, table, i)))

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
  const table = tableOrThrow(segments)
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

