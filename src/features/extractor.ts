/**
 * A feature extractor as a service: what the mert stage needs from an extractor that turns the segments of decoded
 * audio into one L x D float32 matrix per segment, streamed into an .npy. Two Layers: the built-in descriptors (worker
 * threads, no weights) and MERT through ONNX (the user's export, its session opened when the Layer is built). The stage
 * picks one from its params and provides it, as label-embed does with TextEmbedder.
 */
import { Context, Data, Effect, Layer, type Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Artifact, type FileValue } from "../runtime/stage.ts"
import { type DecodedAudio } from "../artifacts/decoded-audio.ts"
import { iterateSegmentSamples, type Segments } from "../artifacts/segments.ts"
import { NpyFloat32Writer } from "../io/npy.ts"
import { type ExecutionProvider, type GraphOptimization, OnnxRuntime, type OnnxError } from "../onnx/runtime.ts"
import { BUILTIN_DIM, BUILTIN_LAYERS, COLUMNS, STATISTICS } from "./builtin.ts"
import { packBatch, type SegmentBatch } from "./builtin-batch.ts"
import { hiddenStateNames, type Pooling, resolveMertContract, runMertBatch } from "./mert-onnx.ts"
import { forEachOrdered } from "./ordered.ts"
import { WorkerPool } from "./pool.ts"

export class FeatureError extends Data.TaggedError("FeatureError")<{ readonly message: string; readonly cause?: unknown }> {}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))
const attempt = <A>(what: string, f: () => A): Effect.Effect<A, FeatureError> =>
  Effect.try({ try: f, catch: (cause) => new FeatureError({ message: `${what}: ${describe(cause)}`, cause }) })
/** A library's typed error with context; the original stays its cause (and keeps its tag). */
const featureError =
  (what: string) =>
  (e: { readonly message: string }): FeatureError =>
    new FeatureError({ message: `${what}: ${e.message}`, cause: e })
const fromOnnx = (e: OnnxError): FeatureError => new FeatureError({ message: e.message, cause: e })

/** What to extract: the segments of one decoded audio artifact, into `out`. */
export interface ExtractJob {
  readonly audio: Artifact<DecodedAudio>
  readonly segments: Artifact<Segments>
  readonly out: string
  /** Called after each batch of segments is written. */
  readonly advance: (n: number) => Effect.Effect<void>
}

/** What was extracted, for the features artifact. */
export interface Extracted {
  readonly extractor: "builtin" | "onnx"
  readonly pooling: "statistics" | "first" | "mean"
  readonly layers: number
  readonly dim: number
  readonly layerNames: ReadonlyArray<string>
  readonly columnNames?: ReadonlyArray<string>
  readonly model?: { readonly file: string; readonly hash: string }
}

export interface FeatureExtractorService {
  /** Writes one row per segment, in the segment index's order; on failure no partial file is left at `job.out`. */
  readonly extract: (job: ExtractJob) => Effect.Effect<Extracted, FeatureError, Scope.Scope>
}

export class FeatureExtractor extends Context.Tag("mea/FeatureExtractor")<FeatureExtractor, FeatureExtractorService>() {}

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

/** Batches of equal-length segments in index order; the audio file is closed when the scope ends, even on failure. */
const openBatches = (job: ExtractJob, size: number): Effect.Effect<Generator<Array<Float32Array>>, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => batchesOf(samplesOf(job.audio, job.segments), size, (a, b) => a.length === b.length)),
    (batches) => Effect.sync(() => void batches.return(undefined)),
  )

/** One batch at a time from a generator; a read error (e.g. a truncated PCM file) becomes a FeatureError. */
const pull = <T>(batches: Iterator<T>, job: ExtractJob): Effect.Effect<T | undefined, FeatureError> =>
  attempt(`cannot read segment samples (audio ${job.audio.node}, segments ${job.segments.node})`, () => {
    const r = batches.next()
    return r.done === true ? undefined : r.value
  })

const removeOnError = <A, E, R>(file: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(Effect.onError(() => Effect.sync(() => fs.rmSync(file, { force: true }))))

/** Most segments per worker task for the builtin extractor: big enough to amortise messaging, small enough to balance. */
const BUILTIN_TASK = 4

/** The built-in descriptors (src/features/builtin.ts), spread over `threads` worker threads. */
export const builtinExtractor = (options: { readonly threads: number }): Layer.Layer<FeatureExtractor> =>
  Layer.succeed(FeatureExtractor, {
    extract: (job) =>
      Effect.gen(function* () {
        const { out, segments } = job
        const count = segments.value.count
        // Small data sets get smaller tasks, so every thread has work.
        const task = Math.max(1, Math.min(BUILTIN_TASK, Math.ceil(count / (options.threads * 4))))
        const writer = yield* Effect.mapError(NpyFloat32Writer.open(out, count, [BUILTIN_LAYERS, BUILTIN_DIM]), featureError(`cannot create ${out}`))
        const pool = yield* Effect.acquireRelease(
          attempt("cannot start feature worker threads", () => new WorkerPool<SegmentBatch, Float32Array>(
              "src/features/builtin-worker.ts",
              // No idle workers for a handful of segments: each costs a thread start.
              Math.max(1, Math.min(options.threads, Math.ceil(count / task))),
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
            (rows, batch) => Effect.zipRight(Effect.mapError(writer.write(rows), featureError(`cannot write ${out}`)), job.advance(batch.length)),
            (cause) => new FeatureError({ message: `builtin feature extraction failed: ${describe(cause)}`, cause }),
          ).pipe(Effect.zipRight(Effect.suspend(() => Effect.mapError(writer.close(), featureError(`cannot finish ${out}`))))),
        )
        return { extractor: "builtin" as const, pooling: "statistics" as const, layers: BUILTIN_LAYERS, dim: BUILTIN_DIM, layerNames: STATISTICS, columnNames: COLUMNS }
      }),
  })

export interface OnnxExtractorOptions {
  readonly model: FileValue
  readonly pooling: Pooling
  readonly batchSize: number
  readonly threads: number
  readonly executionProvider: ExecutionProvider
  readonly graphOptimization: GraphOptimization
}

/**
 * MERT through ONNX (src/features/mert-onnx.ts): the session is opened and checked against the model contract when
 * the Layer is built, and closed with the Layer's scope.
 */
export const onnxExtractor = (options: OnnxExtractorOptions): Layer.Layer<FeatureExtractor, FeatureError, OnnxRuntime> =>
  Layer.scoped(
    FeatureExtractor,
    Effect.gen(function* () {
      const ort = yield* OnnxRuntime
      const session = yield* ort
        .session(options.model.path, { threads: options.threads, graphOptimization: options.graphOptimization, executionProviders: [options.executionProvider] })
        .pipe(Effect.mapError(fromOnnx))
      const contract = yield* resolveMertContract(session).pipe(Effect.mapError(fromOnnx))
      const extract = (job: ExtractJob): Effect.Effect<Extracted, FeatureError, Scope.Scope> =>
        Effect.gen(function* () {
          const { out, segments } = job
          let writer: NpyFloat32Writer | undefined
          let shape = { layers: 0, dim: 0 }
          yield* removeOnError(
            out,
            Effect.gen(function* () {
              const next = pull(yield* openBatches(job, options.batchSize), job)
              for (;;) {
                const batch = yield* next
                if (batch === undefined) break
                const pooled = yield* runMertBatch(session, contract, batch, options.pooling).pipe(Effect.mapError(fromOnnx))
                if (writer === undefined) {
                  shape = { layers: pooled.layers, dim: pooled.dim }
                  writer = yield* Effect.mapError(NpyFloat32Writer.open(out, segments.value.count, [pooled.layers, pooled.dim]), featureError(`cannot create ${out}`))
                }
                yield* Effect.mapError(writer.write(pooled.data), featureError(`cannot write ${out}`))
                yield* job.advance(batch.length)
              }
              const w = writer
              if (w === undefined) return yield* Effect.fail(new FeatureError({ message: `mert: no segment was read from ${segments.node}` }))
              yield* Effect.mapError(w.close(), featureError(`cannot finish ${out}`))
            }),
          )
          return {
            extractor: "onnx" as const,
            pooling: options.pooling,
            layers: shape.layers,
            dim: shape.dim,
            layerNames: hiddenStateNames(shape.layers),
            model: { file: path.basename(options.model.path), hash: options.model.hash },
          }
        })
      return { extract }
    }),
  )
