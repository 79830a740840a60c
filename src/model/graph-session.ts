/**
 * One ONNX graph ready to run with its outputs written into the caller's arrays: through mea's in-place binding
 * (src/native/mea-native.ts) where it is available, else through onnxruntime-node, which writes the same arrays but also
 * hands every output back in a new buffer (the copies a training step paid for before the binding). Both run the
 * same onnxruntime library with the same options, so they compute the same numbers.
 */
import type * as Ort from "onnxruntime-node"
import { meaNative, type Floats } from "../native/mea-native.ts"
import { lazyRequire } from "../util/lazy.ts"

export type { Floats }

export const onnxRuntime = lazyRequire<typeof Ort>("onnxruntime-node")

/** A tensor over a caller's array: an input to read, or an output to write. */
export interface Feed {
  readonly name: string
  readonly data: Floats
  readonly dims: ReadonlyArray<number>
}

export interface GraphSession {
  /** "in-place" (mea's binding) or "onnxruntime-node". */
  readonly binding: "in-place" | "onnxruntime-node"
  readonly inputNames: ReadonlyArray<string>
  readonly outputNames: ReadonlyArray<string>
  /**
   * Runs the graph, writing each of `into` in place (an array of the output's shape). `allocate` names outputs whose
   * shapes the caller does not know yet: they come back as new arrays.
   */
  readonly run: (inputs: ReadonlyArray<Feed>, into: ReadonlyArray<Feed>, allocate?: ReadonlyArray<string>) => Promise<ReadonlyArray<Feed>>
  readonly release: () => Promise<void>
}

export type Binding = "auto" | "in-place" | "onnxruntime-node"

/** Why the in-place binding is not used, when it is not (once per process, for the log). */
export const inPlaceUnavailable = (): string | undefined => {
  const n = meaNative()
  return typeof n === "string" ? n : undefined
}

export const openGraphSession = async (model: Uint8Array, threads: number, binding: Binding = "auto"): Promise<GraphSession> => {
  const native = binding === "onnxruntime-node" ? "not asked for" : meaNative()
  if (typeof native !== "string") return nativeSession(model, threads)
  if (binding === "in-place") throw new Error(`the in-place onnxruntime binding is not available: ${native}`)
  return nodeSession(model, threads)
}

const nativeSession = (model: Uint8Array, threads: number): GraphSession => {
  const addon = meaNative()
  if (typeof addon === "string") throw new Error(addon)
  const s = addon.createSession(model, threads)
  let released = false
  return {
    binding: "in-place",
    inputNames: s.inputs,
    outputNames: s.outputs,
    // Each run waits for a turn of the event loop first, as onnxruntime-node's does: the run itself blocks the thread,
    // and a training epoch of back-to-back runs must still let signals, timers, heartbeats and progress through.
    run: (inputs, into, allocate = []) =>
      new Promise((resolve, reject) =>
        setImmediate(() => {
          try {
            const results = addon.run(
              s.session,
              inputs.map((f) => f.name),
              inputs.map((f) => f.data),
              inputs.map((f) => f.dims),
              [...into.map((f) => f.name), ...allocate],
              [...into.map((f) => f.data), ...allocate.map(() => null)],
              [...into.map((f) => f.dims), ...allocate.map(() => [])],
            )
            resolve(allocate.map((name, i) => ({ name, ...results[into.length + i]! })))
          } catch (e) {
            reject(e)
          }
        }),
      ),
    release: () => {
      if (!released) addon.release(s.session)
      released = true
      return Promise.resolve()
    },
  }
}

/** onnxruntime-node with the options the in-place binding sets (src/native/mea-native.c). */
const nodeSession = async (model: Uint8Array, threads: number): Promise<GraphSession> => {
  const ort = onnxRuntime()
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Math.max(1, threads),
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    // onnxruntime's pool threads otherwise spin for a while after each run, on the cores the loss and AdamW need.
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  })
  const tensor = (f: Feed) => new ort.Tensor(f.data instanceof Float32Array ? "float32" : "float64", f.data, f.dims)
  return {
    binding: "onnxruntime-node",
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: async (inputs, into, allocate = []) => {
      const feeds: Record<string, Ort.Tensor> = {}
      for (const f of inputs) feeds[f.name] = tensor(f)
      const fetches: Record<string, Ort.Tensor | null> = {}
      for (const f of into) fetches[f.name] = tensor(f)
      for (const name of allocate) fetches[name] = null
      const out = await session.run(feeds, fetches as Ort.InferenceSession.FetchesType)
      return allocate.map((name) => ({ name, data: out[name].data as Floats, dims: out[name].dims }))
    },
    release: () => session.release(),
  }
}
