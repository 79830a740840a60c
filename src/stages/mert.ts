/**
 * Stage `mert`: one L x D float32 feature matrix per segment, in the segment index's order, streamed into
 * `features.npy` of shape (segments, L, D) (numpy.load-able; read it in row chunks with NpyFloat32Reader).
 *
 * extractor "builtin" (default): classic descriptors computed in mea, no weights (13 statistics x 92 descriptors; see
 *   src/features/builtin.ts), spread over ctx.threads worker threads.
 * extractor "onnx": the user's ONNX export of MERT (input `model`), 24 kHz audio normalised per segment as
 *   Wav2Vec2FeatureExtractor does; every hidden state's first time step (pooling "first", as the reference) or its
 *   time mean (pooling "mean"). 13 x 768 for MERT-v1-95M. See src/features/mert-onnx.ts for the model contract.
 */
import { Effect, Layer, Schema } from "effect"
import * as path from "node:path"
import { builtinExtractor, type ExtractJob, FeatureError, FeatureExtractor, onnxExtractor } from "../features/extractor.ts"
import { MERT_SAMPLE_RATE } from "../features/mert-onnx.ts"
import { ExecutionProvider, GraphOptimization, OnnxRuntimeLive } from "../onnx/runtime.ts"
import { defineStage, Input, StageError, type FileValue } from "../runtime/stage.ts"
import { DecodedAudioCodec } from "../artifacts/decoded-audio.ts"
import { SegmentsCodec } from "../artifacts/segments.ts"
import { FEATURES_FILE, FeaturesCodec } from "../artifacts/features.ts"

export const MertParams = Schema.Struct({
  extractor: Schema.optionalWith(Schema.Literal("builtin", "onnx"), { default: () => "builtin" as const }),
  /** onnx: "first" = each hidden state's first time step (the reference), "mean" = its mean over time. */
  pooling: Schema.optionalWith(Schema.Literal("first", "mean"), { default: () => "first" as const }),
  /**
   * onnx: segments per inference call. 1 on CPU: a 10 s segment's conv activations already fill the caches, and
   * batch 2 ran at 0.7x the throughput of batch 1 on the bench/mert model (2 threads); larger batches pay off on a GPU.
   */
  batch_size: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1024)), { default: () => 1 }),
  execution_provider: Schema.optionalWith(ExecutionProvider, { default: () => "cpu" as const }),
  graph_optimization: Schema.optionalWith(GraphOptimization, { default: () => "all" as const }),
  /** Threads for onnxruntime or the builtin workers; 0 = mea's -j. */
  threads: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 0 }),
})
export type MertParams = typeof MertParams.Type

const NEEDS_MODEL = `mert: extractor "onnx" needs the input \`model\` (path of a MERT .onnx export; see the README), and none was given`

/** The extractor the params choose, as a Layer (ONNX: its session opens when the Layer is built, inside the run). */
const extractorLayer = (p: MertParams, threads: number, model: FileValue | undefined): Layer.Layer<FeatureExtractor, FeatureError> =>
  p.extractor === "builtin"
    ? builtinExtractor({ threads })
    : model === undefined
      ? Layer.fail(new FeatureError({ message: NEEDS_MODEL }))
      : onnxExtractor({
          model,
          pooling: p.pooling,
          batchSize: p.batch_size,
          threads,
          executionProvider: p.execution_provider,
          graphOptimization: p.graph_optimization,
        }).pipe(Layer.provide(OnnxRuntimeLive))

/** A feature extractor's failure as the stage's; the FeatureError (and its own cause) stays the cause. */
const toStageError = (e: FeatureError): StageError => new StageError({ message: e.message, cause: e })

export const MertStage = defineStage({
  name: "mert",
  version: 1,
  description: "Audio features per segment: built-in descriptors (default) or MERT hidden states through ONNX",
  params: MertParams,
  inputs: {
    audio: Input.node(DecodedAudioCodec),
    segments: Input.node(SegmentsCodec),
    model: Input.optional(Input.file()),
  },
  output: FeaturesCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const { audio, segments, model } = ctx.inputs
      const p = ctx.params
      const seg = segments.value
      const threads = p.threads > 0 ? p.threads : ctx.threads
      if (seg.dataset !== audio.value.dataset || seg.rate !== audio.value.rate) {
        return yield* Effect.fail(
          new StageError({
            message: `mert: segments (${seg.dataset} at ${seg.rate} Hz, node ${segments.node}) do not come from this audio (${audio.value.dataset} at ${audio.value.rate} Hz, node ${audio.node})`,
          }),
        )
      }
      if (p.extractor === "onnx" && model === undefined) {
        // Checked here too, before any progress is shown; extractorLayer refuses it as well.
        return yield* Effect.fail(new StageError({ message: NEEDS_MODEL }))
      }
      if (p.extractor === "onnx" && seg.rate !== MERT_SAMPLE_RATE) {
        return yield* Effect.fail(new StageError({ message: `mert: MERT expects ${MERT_SAMPLE_RATE} Hz audio, the segments are at ${seg.rate} Hz (set the decode stage's rate to ${MERT_SAMPLE_RATE})` }))
      }
      if (seg.count === 0) return yield* Effect.fail(new StageError({ message: `mert: the segment index ${segments.node} has no segments` }))
      const out = path.join(ctx.outDir, FEATURES_FILE)
      yield* ctx.progress.start(seg.count, "segments")

      const job: ExtractJob = { audio, segments, out, advance: ctx.progress.advance }
      const result = yield* FeatureExtractor.pipe(
        Effect.flatMap((extractor) => extractor.extract(job)),
        Effect.scoped,
        Effect.provide(extractorLayer(p, threads, model)),
        Effect.mapError(toStageError),
      )

      yield* ctx.progress.note(`mert ${seg.dataset}: ${seg.count} segments -> ${result.layers} x ${result.dim} (${result.extractor})`)
      return {
        dataset: seg.dataset,
        extractor: result.extractor,
        pooling: result.pooling,
        layers: result.layers,
        dim: result.dim,
        layerNames: [...result.layerNames],
        ...(result.columnNames !== undefined ? { columnNames: [...result.columnNames] } : {}),
        ...(result.model !== undefined ? { model: result.model } : {}),
        rows: seg.count,
        file: FEATURES_FILE,
        sampleRate: seg.rate,
      }
    }),
})
