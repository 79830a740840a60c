/**
 * Stage `import-segments`: the segment index of features the original implementation computed (its "Option B"), from
 * each part's `<part>_index.npy` (a structured array with a `track_id` field, one record per feature row). Row r of
 * the parts, taken in the order listed, is segment r; a track's segments are numbered in the order its rows appear.
 * Every track id must be a track of the data set (its JSON metadata, read with `audio: none` when there is no audio).
 * Use with import-features, which checks the source matrices against this index.
 */
import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { INDEX_SUFFIX, partFile } from "../features/reference-import.ts"
import { readStringField } from "../io/npy-records.ts"
import { attempt, defineStage, Input, StageError, stageError } from "../runtime/stage.ts"
import { DatasetCodec } from "../artifacts/dataset.ts"
import { SEGMENT_FILE, SegmentsCodec } from "../artifacts/segments.ts"

export const ImportSegmentsParams = Schema.Struct({
  /** File name prefixes, in row order: `jamendo-train` reads jamendo-train_index.npy. */
  parts: Schema.NonEmptyArray(Schema.String),
  /** The record field naming each row's track (a key of the JSON metadata). */
  field: Schema.optionalWith(Schema.String, { default: () => "track_id" }),
  /** How the original cut its segments (10 s at 24 kHz), recorded in the index. */
  seconds: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 10 }),
  rate: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 24000 }),
})

const fail = (message: string) => Effect.fail(new StageError({ message }))

export const ImportSegmentsStage = defineStage({
  name: "import-segments",
  version: 1,
  description: "Segment index of the original implementation's preprocessed features, from its *_index.npy files",
  params: ImportSegmentsParams,
  inputs: { folder: Input.dir({ glob: `**/*${INDEX_SUFFIX}` }), dataset: Input.node(DatasetCodec) },
  output: SegmentsCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const p = ctx.params
      const { folder, dataset } = ctx.inputs
      const known = new Set(dataset.value.tracks.map((t) => t.id))
      const trackIndex = new Map<string, number>()
      const tracks: Array<string> = []
      const perTrack: Array<number> = []
      const length = Math.round(p.seconds * p.rate)
      const rows: Array<number> = []
      for (const part of p.parts) {
        const file = yield* attempt("import-segments", () => partFile(folder, part, INDEX_SUFFIX))
        const ids = yield* Effect.mapError(readStringField(file, p.field), stageError("import-segments"))
        for (const [r, id] of ids.entries()) {
          if (!known.has(id)) {
            return yield* fail(
              `import-segments: ${file}: record ${r} has ${p.field} ${JSON.stringify(id)}, which is not a track of data set '${dataset.value.name}' (${dataset.node}, ${known.size} tracks); the index and the metadata must come from the same preprocessing`,
            )
          }
          let t = trackIndex.get(id)
          if (t === undefined) {
            t = tracks.length
            trackIndex.set(id, t)
            tracks.push(id)
            perTrack.push(0)
          }
          const segment = perTrack[t]++
          rows.push(t, segment, segment * length, (segment + 1) * length)
        }
      }
      if (rows.length === 0) return yield* fail(`import-segments: the index files of ${p.parts.join(", ")} have no records`)
      const table = Uint32Array.from(rows)
      yield* attempt(`cannot write ${SEGMENT_FILE}`, () => fs.writeFileSync(path.join(ctx.outDir, SEGMENT_FILE), new Uint8Array(table.buffer)))
      const missing = known.size - tracks.length
      yield* ctx.progress.note(
        `import-segments ${dataset.value.name}: ${table.length / 4} segments of ${tracks.length} tracks` + (missing > 0 ? ` (${missing} tracks of the metadata have no rows)` : ""),
      )
      return {
        dataset: dataset.value.name,
        rate: p.rate,
        seconds: p.seconds,
        hop: p.seconds,
        length,
        short: "drop" as const,
        file: SEGMENT_FILE,
        count: table.length / 4,
        tracks,
        short_tracks: [],
      }
    }),
})
