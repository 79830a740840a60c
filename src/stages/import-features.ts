/**
 * Stage `import-features`: the original implementation's preprocessed MERT features ("Option B") as mea features,
 * by reference: the artifact records each `<part>_source.npy` (path, size, rows) and training and evaluation read
 * those files where they are, so 15 GB are not copied into the cache. Checked before anything is recorded: each
 * source is float32 (N, L, D), every part has the same L x D (and the expected one, when given), and each part's N
 * equals the record count of its `<part>_index.npy`; the rows together must be the segments of `segments` (an
 * import-segments node of the same parts).
 */
import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs"
import { INDEX_SUFFIX, partFile, SOURCE_SUFFIX } from "../features/reference-import.ts"
import { NpyFloat32Reader } from "../io/npy.ts"
import { readRecordHeader } from "../io/npy-records.ts"
import { attempt, defineStage, Input, StageError, stageError } from "../runtime/stage.ts"
import { FeaturesCodec } from "../artifacts/features.ts"
import { SegmentsCodec } from "../artifacts/segments.ts"

export const ImportFeaturesParams = Schema.Struct({
  /** File name prefixes, in row order, as given to import-segments. */
  parts: Schema.NonEmptyArray(Schema.String),
  /** Expected layers and width per row (13 x 768 for MERT-v1-95M); checked when given. */
  layers: Schema.optional(Schema.Int.pipe(Schema.positive())),
  dim: Schema.optional(Schema.Int.pipe(Schema.positive())),
})

const fail = (message: string) => Effect.fail(new StageError({ message }))

export const ImportFeaturesStage = defineStage({
  name: "import-features",
  version: 1,
  description: "The original implementation's preprocessed MERT features (*_source.npy), imported by reference",
  params: ImportFeaturesParams,
  inputs: { folder: Input.dir({ glob: `**/*{${SOURCE_SUFFIX},${INDEX_SUFFIX}}` }), segments: Input.node(SegmentsCodec) },
  output: FeaturesCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const p = ctx.params
      const { folder, segments } = ctx.inputs
      const sources: Array<{ path: string; bytes: number; rows: number }> = []
      let shape: readonly [number, number] | undefined
      for (const part of p.parts) {
        const file = yield* attempt("import-features", () => partFile(folder, part, SOURCE_SUFFIX))
        const index = yield* attempt("import-features", () => partFile(folder, part, INDEX_SUFFIX))
        const head = yield* Effect.mapError(
          Either.map(NpyFloat32Reader.open(file), (r) => {
            r.close()
            return r
          }),
          stageError("import-features"),
        )
        if (head.rowShape.length !== 2) {
          return yield* fail(`import-features: ${file}: expected shape (segments, layers, dim), found (${[head.rows, ...head.rowShape].join(", ")})`)
        }
        const [L, D] = head.rowShape
        if ((p.layers !== undefined && L !== p.layers) || (p.dim !== undefined && D !== p.dim)) {
          return yield* fail(`import-features: ${file}: rows are ${L} x ${D}, expected ${p.layers ?? L} x ${p.dim ?? D} (params layers, dim)`)
        }
        if (shape !== undefined && (shape[0] !== L || shape[1] !== D)) {
          return yield* fail(`import-features: ${file}: rows are ${L} x ${D}, but part '${p.parts[0]}' has ${shape[0]} x ${shape[1]}`)
        }
        shape = [L, D]
        const records = yield* Effect.mapError(Either.map(readRecordHeader(index), (h) => h.rows), stageError("import-features"))
        if (records !== head.rows) {
          return yield* fail(`import-features: ${file} has ${head.rows} rows but ${index} has ${records} records; each row needs its index record`)
        }
        sources.push({ path: file, bytes: fs.statSync(file).size, rows: head.rows })
      }
      const total = sources.reduce((a, s) => a + s.rows, 0)
      if (total !== segments.value.count) {
        return yield* fail(
          `import-features: the parts ${p.parts.join(", ")} have ${total} rows, the segments ${segments.node} list ${segments.value.count}; import the segments from the same parts`,
        )
      }
      const [layers, dim] = shape!
      yield* ctx.progress.note(`import-features ${segments.value.dataset}: ${total} segments x ${layers} x ${dim}, by reference to ${sources.length} file(s)`)
      return {
        dataset: segments.value.dataset,
        extractor: "imported" as const,
        pooling: "first" as const,
        layers,
        dim,
        rows: total,
        file: sources[0].path,
        layerNames: Array.from({ length: layers }, (_, i) => (i === 0 ? "embedding" : `layer_${i}`)),
        sampleRate: segments.value.rate,
        sources,
      }
    }),
})
