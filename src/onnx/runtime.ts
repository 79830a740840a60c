/**
 * onnxruntime-node behind an Effect service: sessions are scoped resources (released when the scope closes), their
 * inputs/outputs are described up front so callers can check a model's contract before running it, and every failure
 * is an OnnxError naming the model file.
 *
 * Generic on purpose: MERT feature extraction and label embeddings both use it.
 */
import { Context, Data, Effect, Layer, Schema, type Scope } from "effect"
import type * as Ort from "onnxruntime-node"
import { lazyRequire } from "../util/lazy.ts"

/** Loaded on first use: a command that runs no model never loads onnxruntime's native library. */
const ort = lazyRequire<typeof Ort>("onnxruntime-node")

export class OnnxError extends Data.TaggedError("OnnxError")<{ readonly message: string; readonly cause?: unknown }> {}

export const ExecutionProvider = Schema.Literal("cpu", "cuda")
export type ExecutionProvider = typeof ExecutionProvider.Type
export const GraphOptimization = Schema.Literal("disabled", "basic", "extended", "all")
export type GraphOptimization = typeof GraphOptimization.Type

export interface SessionOptions {
  /** Intra-op threads (0 or undefined: onnxruntime's default, one per core). */
  readonly threads?: number
  readonly graphOptimization?: GraphOptimization
  /** Tried in order; "cpu" is always appended as the fallback for ops a GPU provider lacks. */
  readonly executionProviders?: ReadonlyArray<ExecutionProvider>
}

export type ElementType = Ort.Tensor.Type

/** An input or output as the model declares it; symbolic dimensions are strings (e.g. "batch"), unknown ones -1. */
export interface ValueInfo {
  readonly name: string
  readonly type: ElementType | "non-tensor"
  readonly shape: ReadonlyArray<number | string>
}

export type Tensor = Ort.Tensor

export const float32Tensor = (data: Float32Array, dims: ReadonlyArray<number>): Tensor => new (ort().Tensor)("float32", data, dims)
export const int64Tensor = (data: BigInt64Array, dims: ReadonlyArray<number>): Tensor => new (ort().Tensor)("int64", data, dims)

export interface OnnxSession {
  /** The model file, for error messages. */
  readonly path: string
  readonly inputs: ReadonlyArray<ValueInfo>
  readonly outputs: ReadonlyArray<ValueInfo>
  /** Runs the model; `fetches` limits the outputs computed (default: all). */
  readonly run: (feeds: Readonly<Record<string, Tensor>>, fetches?: ReadonlyArray<string>) => Effect.Effect<Readonly<Record<string, Tensor>>, OnnxError>
}

export class OnnxRuntime extends Context.Tag("mea/OnnxRuntime")<
  OnnxRuntime,
  {
    /** Loads a model file; the session lives until the scope closes. */
    readonly session: (path: string, options?: SessionOptions) => Effect.Effect<OnnxSession, OnnxError, Scope.Scope>
  }
>() {}

const describeError = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const valueInfo = (m: Ort.InferenceSession.ValueMetadata): ValueInfo =>
  m.isTensor ? { name: m.name, type: m.type, shape: m.shape.map((d) => (typeof d === "number" ? d : d === "" ? -1 : d)) } : { name: m.name, type: "non-tensor", shape: [] }

/** "name: float32[batch, 240000]" */
export const formatValueInfo = (v: ValueInfo): string => `${v.name}: ${v.type}[${v.shape.join(", ")}]`

const toOrtOptions = (options: SessionOptions): Ort.InferenceSession.SessionOptions => {
  const providers = [...(options.executionProviders ?? ["cpu"])]
  if (!providers.includes("cpu")) providers.push("cpu")
  return {
    executionProviders: providers,
    graphOptimizationLevel: options.graphOptimization ?? "all",
    ...(options.threads !== undefined && options.threads > 0 ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
    executionMode: "sequential",
  }
}

const createSession = (path: string, options: SessionOptions): Effect.Effect<OnnxSession, OnnxError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => ort().InferenceSession.create(path, toOrtOptions(options)),
      catch: (cause) => {
        const wantsCuda = options.executionProviders?.includes("cuda") === true
        const cudaHint = wantsCuda
          ? " (the CUDA execution provider needs onnxruntime-node installed with its CUDA binaries: " +
            "`npm install onnxruntime-node --onnxruntime-node-install=cuda12`, and CUDA 12 + cuDNN 9 on the machine)"
          : ""
        return new OnnxError({ message: `cannot load ONNX model ${path}: ${describeError(cause)}${cudaHint}`, cause })
      },
    }),
    (session) => Effect.promise(() => session.release()).pipe(Effect.ignore),
  ).pipe(
    Effect.map((session): OnnxSession => ({
      path,
      inputs: session.inputMetadata.map(valueInfo),
      outputs: session.outputMetadata.map(valueInfo),
      run: (feeds, fetches) =>
        Effect.tryPromise({
          try: () => (fetches === undefined ? session.run(feeds) : session.run(feeds, [...fetches])),
          catch: (cause) => new OnnxError({ message: `running ONNX model ${path} failed: ${describeError(cause)}`, cause }),
        }),
    })),
  )

export const OnnxRuntimeLive: Layer.Layer<OnnxRuntime> = Layer.succeed(OnnxRuntime, {
  session: (path, options = {}) => createSession(path, options),
})
