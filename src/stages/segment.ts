/**
 * Stage `segment`: the segment index of a decoded data set. Reference semantics by default: floor(duration / seconds)
 * consecutive segments without overlap, each exactly `seconds` long. A `hop` below `seconds` overlaps them. A track
 * shorter than one segment gets one zero-padded segment (`short: pad`, counted in the value) or none (`short: drop`,
 * what the reference does silently). Samples are not copied: readers take them from the decoded audio.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { attempt, defineStage, Input, StageError } from "../runtime/stage.ts"
import { DecodedAudioCodec } from "../artifacts/decoded-audio.ts"
import { SEGMENT_COLUMNS, SegmentsCodec, SEGMENT_FILE } from "../artifacts/segments.ts"

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
      const count = rows.length / SEGMENT_COLUMNS
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
