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
import { Effect, Schema, type Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { BUILTIN_DIM, BUILTIN_LAYERS, COLUMNS, STATISTICS } from "../features/builtin.ts"
import { packBatch, type SegmentBatch } from "../features/builtin-batch.ts"
import { hiddenStateNames, MERT_SAMPLE_RATE, resolveMertContract, runMertBatch } from "../features/mert-onnx.ts"
import { forEachOrdered } from "../features/ordered.ts"
import { WorkerPool } from "../features/pool.ts"
import { NpyFloat32Writer } from "../io/npy.ts"
import { ExecutionProvider, GraphOptimization, OnnxRuntime, OnnxRuntimeLive, type OnnxError } from "../onnx/runtime.ts"
import { attempt, defineStage, Input, StageError, type Artifact, type FileValue } from "../runtime/stage.ts"
import { DecodedAudioCodec, type DecodedAudio } from "../artifacts/decoded-audio.ts"
import { iterateSegmentSamples, SegmentsCodec, type Segments } from "../artifacts/segments.ts"
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

/** Most segments per worker task for the builtin extractor: big enough to amortise messaging, small enough to balance. */
const BUILTIN_TASK = 4

function* batchesOf<T>(items: Iterable<T>, size: number, sameGroup: (a: T, b: T) => boolean = () => true): Generator<Array<T>> {
  let batch: Array<T> = []
  for (const item of items) {
    if (batch.length > 0 && (batch.length >= size || !sameGroup(batch[0], item))) {
      yield batch
      batch = []
    }
    batch.push(item)
  }
  if (batch.length > 0) yield batch
}

const samplesOf = (decoded: Artifact<DecodedAudio>, segments: Artifact<Segments>): Iterable<Float32Array> => ({
  *[Symbol.iterator]() {
    for (const { samples } of iterateSegmentSamples(decoded, segments)) yield samples
  },
})

const toStageError = (e: OnnxError): StageError => new StageError({ message: e.message, cause: e.cause })

interface ExtractJob {
  readonly audio: Artifact<DecodedAudio>
  readonly segments: Artifact<Segments>
  readonly out: string
  readonly threads: number
  readonly params: MertParams
  readonly advance: (n: number) => Effect.Effect<void>
}

interface Extracted {
  readonly extractor: "builtin" | "onnx"
  readonly pooling: "statistics" | "first" | "mean"
  readonly layers: number
  readonly dim: number
  readonly layerNames: ReadonlyArray<string>
  readonly columnNames?: ReadonlyArray<string>
  readonly model?: { readonly file: string; readonly hash: string }
}

/** Batches of equal-length segments in index order; the audio file is closed when the scope ends, even on failure. */
const openBatches = (job: ExtractJob, size: number): Effect.Effect<Generator<Array<Float32Array>>, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => batchesOf(samplesOf(job.audio, job.segments), size, (a, b) => a.length === b.length)),
    (batches) => Effect.sync(() => void batches.return(undefined)),
  )

/** One batch at a time from a generator; a read error (e.g. a truncated PCM file) becomes a StageError. */
const pull = <T>(batches: Iterator<T>, job: ExtractJob): Effect.Effect<T | undefined, StageError> =>
  attempt(`cannot read segment samples (audio ${job.audio.node}, segments ${job.segments.node})`, () => {
    const r = batches.next()
    return r.done === true ? undefined : r.value
  })

/** On failure no partial matrix is left in the stage's folder. */
const removeOnError = <A, E, R>(file: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(Effect.onError(() => Effect.sync(() => fs.rmSync(file, { force: true }))))

const extractBuiltin = (job: ExtractJob): Effect.Effect<Extracted, StageError, Scope.Scope> =>
  Effect.gen(function* () {
    const { out, segments } = job
    const count = segments.value.count
    // Small data sets get smaller tasks, so every thread has work.
    const task = Math.max(1, Math.min(BUILTIN_TASK, Math.ceil(count / (job.threads * 4))))
    const writer = yield* attempt(`cannot create ${out}`, () => new NpyFloat32Writer(out, count, [BUILTIN_LAYERS, BUILTIN_DIM]))
    const pool = yield* Effect.acquireRelease(
      attempt("cannot start feature worker threads", () => new WorkerPool<SegmentBatch, Float32Array>(
          "src/features/builtin-worker.ts",
          // No idle workers for a handful of segments: each costs a thread start.
          Math.max(1, Math.min(job.threads, Math.ceil(count / task))),
        )),
      (pool) => Effect.promise(() => pool.close()),
    )
    yield* removeOnError(
      out,
      forEachOrdered(
        pull(yield* openBatches(job, task), job),
        pool.size * 2,
        (batch) =>
          attempt("cannot read segments", () => {
            const packed = packBatch(segments.value.rate, batch)
            return pool.run(packed, [packed.samples.buffer as ArrayBuffer])
          }),
        (rows, batch) => Effect.zipRight(attempt(`cannot write ${out}`, () => writer.write(rows)), job.advance(batch.length)),
        (cause) => new StageError({ message: `builtin feature extraction failed: ${cause instanceof Error ? cause.message : String(cause)}`, cause }),
      ).pipe(Effect.zipRight(attempt(`cannot finish ${out}`, () => writer.close()))),
    )
    return { extractor: "builtin" as const, pooling: "statistics" as const, layers: BUILTIN_LAYERS, dim: BUILTIN_DIM, layerNames: STATISTICS, columnNames: COLUMNS }
  })

const extractOnnx = (job: ExtractJob, model: FileValue): Effect.Effect<Extracted, StageError, Scope.Scope> =>
  Effect.gen(function* () {
    const { out, segments, params: p } = job
    const ort = yield* OnnxRuntime
    const session = yield* ort
      .session(model.path, { threads: job.threads, graphOptimization: p.graph_optimization, executionProviders: [p.execution_provider] })
      .pipe(Effect.mapError(toStageError))
    const contract = yield* resolveMertContract(session).pipe(Effect.mapError(toStageError))
    let writer: NpyFloat32Writer | undefined
    let shape = { layers: 0, dim: 0 }
    yield* removeOnError(
      out,
      Effect.gen(function* () {
        const next = pull(yield* openBatches(job, p.batch_size), job)
        for (;;) {
          const batch = yield* next
          if (batch === undefined) break
          const pooled = yield* runMertBatch(session, contract, batch, p.pooling).pipe(Effect.mapError(toStageError))
          if (writer === undefined) {
            shape = { layers: pooled.layers, dim: pooled.dim }
            writer = yield* attempt(`cannot create ${out}`, () => new NpyFloat32Writer(out, segments.value.count, [pooled.layers, pooled.dim]))
          }
          const w = writer
          yield* attempt(`cannot write ${out}`, () => w.write(pooled.data))
          yield* job.advance(batch.length)
        }
        const w = writer
        if (w === undefined) return yield* Effect.fail(new StageError({ message: `mert: no segment was read from ${segments.node}` }))
        yield* attempt(`cannot finish ${out}`, () => w.close())
      }),
    )
    return {
      extractor: "onnx" as const,
      pooling: p.pooling,
      layers: shape.layers,
      dim: shape.dim,
      layerNames: hiddenStateNames(shape.layers),
      model: { file: path.basename(model.path), hash: model.hash },
    }
  }).pipe(Effect.provide(OnnxRuntimeLive))

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
        return yield* Effect.fail(
          new StageError({ message: `mert: extractor "onnx" needs the input \`model\` (path of a MERT .onnx export; see the README), and none was given` }),
        )
      }
      if (p.extractor === "onnx" && seg.rate !== MERT_SAMPLE_RATE) {
        return yield* Effect.fail(new StageError({ message: `mert: MERT expects ${MERT_SAMPLE_RATE} Hz audio, the segments are at ${seg.rate} Hz (set the decode stage's rate to ${MERT_SAMPLE_RATE})` }))
      }
      if (seg.count === 0) return yield* Effect.fail(new StageError({ message: `mert: the segment index ${segments.node} has no segments` }))
      const out = path.join(ctx.outDir, FEATURES_FILE)
      yield* ctx.progress.start(seg.count, "segments")

      const job: ExtractJob = { audio, segments, out, threads, params: p, advance: ctx.progress.advance }
      const result = yield* (p.extractor === "builtin" ? extractBuiltin(job) : extractOnnx(job, model!)).pipe(Effect.scoped)

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
