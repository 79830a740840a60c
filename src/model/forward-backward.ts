/**
 * Runs a net's ONNX graphs with onnxruntime: one session per graph, created once and reused every step. Weights,
 * inputs and masks are passed as tensors over the caller's typed arrays (no copy); saved activations go from the
 * forward outputs straight back into the backward feeds.
 *
 * Every output is written into buffers the engine allocates once per batch size and reuses (onnxruntime's
 * pre-allocated outputs): no per-step allocation of the ~58 MB of gradients and ~20 MB of activations, and no copy out
 * of onnxruntime's own buffers. The price is aliasing: what forward, backward and embed return stays valid only until
 * the next call of the same method with the same row count.
 */
import type * as Ort from "onnxruntime-node"
import { lazyRequire } from "../util/lazy.ts"
import type { ElemType } from "./onnx/builder.ts"
import { gradName, maskName } from "./onnx/tape.ts"
import {
  ANCHORS,
  buildInferenceGraph,
  buildTrainGraphs,
  D_ANCHORS,
  D_SIMILARITY,
  EMBEDDING,
  INPUT,
  SIMILARITY,
  type TrainGraphs,
} from "./graphs.ts"
import type { MaskSpec, Module, ParamSpec } from "./layers.ts"
import type { Rng } from "./rng.ts"

export const onnxRuntime = lazyRequire<typeof Ort>("onnxruntime-node")

export type Floats = Float32Array | Float64Array
export type FloatMap = Map<string, Floats>

export interface ForwardResult {
  readonly rows: number
  readonly anchors: Floats
  readonly similarity: Floats
  readonly saved: Readonly<Record<string, Ort.Tensor>>
}

const sessionOptions = (threads: number): Ort.InferenceSession.SessionOptions => ({
  intraOpNumThreads: Math.max(1, threads),
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
  // onnxruntime's pool threads otherwise spin for a while after each run, on the cores the AdamW worker and the
  // loss need right then.
  extra: { session: { intra_op: { allow_spinning: "0" } } },
})

/** Output tensors of one graph for one batch size, reused by every run of that size. */
type Fetches = Record<string, Ort.Tensor>

/** Batch sizes whose buffers are kept: the full batch, the epoch's last partial one, and a spare. */
const KEPT_SIZES = 3

class FetchCache {
  private readonly bySize = new Map<number, Fetches>()
  get(rows: number): Fetches | undefined {
    const f = this.bySize.get(rows)
    if (f !== undefined) {
      this.bySize.delete(rows)
      this.bySize.set(rows, f)
    }
    return f
  }
  set(rows: number, f: Fetches): void {
    this.bySize.set(rows, f)
    while (this.bySize.size > KEPT_SIZES) this.bySize.delete(this.bySize.keys().next().value as number)
  }
}

export class NetEngine {
  private readonly fwdFetches = new FetchCache()
  private readonly inferFetches = new FetchCache()
  /**
   * Gradient buffers do not depend on the batch size: one set for every step. backward returns this map itself, and
   * whoever holds it may replace an entry by another array of the same length (AdamW does, when it moves buffers to
   * a worker thread and back): the next backward writes into whatever the map holds then.
   */
  private readonly grads: FloatMap = new Map()
  private readonly dxFetches = new FetchCache()

  private constructor(
    private readonly ort: typeof Ort,
    readonly params: ReadonlyArray<ParamSpec>,
    readonly masks: ReadonlyArray<MaskSpec>,
    readonly inDim: number,
    readonly elem: ElemType,
    private readonly fwd: Ort.InferenceSession,
    private readonly bwd: Ort.InferenceSession,
    private readonly infer: Ort.InferenceSession,
    private readonly graphs: TrainGraphs,
    private readonly inputGradient: boolean,
  ) {
    for (const p of params) {
      const n = p.shape.reduce((a, b) => a * b, 1)
      this.grads.set(p.name, elem === "float32" ? new Float32Array(n) : new Float64Array(n))
    }
  }

  static async create(
    net: Module,
    inDim: number,
    options: { readonly threads: number; readonly elem?: ElemType; readonly inputGradient?: boolean },
  ): Promise<NetEngine> {
    const ort = onnxRuntime()
    const elem = options.elem ?? "float32"
    const graphs = buildTrainGraphs(net, inDim, elem, { inputGradient: options.inputGradient })
    const opts = sessionOptions(options.threads)
    const [fwd, bwd, infer] = await Promise.all([
      ort.InferenceSession.create(graphs.forward, opts),
      ort.InferenceSession.create(graphs.backward, opts),
      ort.InferenceSession.create(buildInferenceGraph(net, inDim, undefined, elem), opts),
    ])
    return new NetEngine(ort, net.params, net.masks, inDim, elem, fwd, bwd, infer, graphs, options.inputGradient === true)
  }

  private tensor(data: Floats, dims: ReadonlyArray<number>): Ort.Tensor {
    return new this.ort.Tensor(this.elem, data, dims)
  }

  private alloc(dims: ReadonlyArray<number>): Ort.Tensor {
    const n = dims.reduce((a, b) => a * b, 1)
    return this.tensor(this.elem === "float32" ? new Float32Array(n) : new Float64Array(n), dims)
  }

  /**
   * Runs `session` into the cached output buffers for `rows`; the first run of a size lets onnxruntime allocate, and
   * its output shapes size the buffers of every later run.
   */
  private async runInto(session: Ort.InferenceSession, cache: FetchCache, rows: number, feeds: Record<string, Ort.Tensor>): Promise<Fetches> {
    const fetches = cache.get(rows)
    if (fetches !== undefined) {
      await session.run(feeds, fetches)
      return fetches
    }
    const out = await session.run(feeds)
    const kept: Fetches = {}
    for (const name of session.outputNames) {
      const t = out[name]
      const buffer = this.alloc(t.dims)
      ;(buffer.data as Floats).set(t.data as Floats)
      kept[name] = buffer
    }
    cache.set(rows, kept)
    return kept
  }

  private weightFeeds(session: Ort.InferenceSession, weights: FloatMap, feeds: Record<string, Ort.Tensor>): void {
    for (const p of this.params) {
      if (!session.inputNames.includes(p.name)) continue
      const w = weights.get(p.name)
      if (w === undefined) throw new Error(`missing weight ${p.name}`)
      feeds[p.name] = this.tensor(w, p.shape)
    }
  }

  private maskFeeds(session: Ort.InferenceSession, masks: FloatMap, rows: number, feeds: Record<string, Ort.Tensor>): void {
    for (const m of this.masks) {
      const n = maskName(m.name)
      if (!session.inputNames.includes(n)) continue
      const data = masks.get(m.name)
      if (data === undefined) throw new Error(`missing dropout mask ${m.name}`)
      feeds[n] = this.tensor(data, [rows, m.width])
    }
  }

  /** Training-mode forward of `rows` samples (x is rows x inDim, row-major). */
  async forward(weights: FloatMap, x: Floats, rows: number, masks: FloatMap): Promise<ForwardResult> {
    const feeds: Record<string, Ort.Tensor> = { [INPUT]: this.tensor(x, [rows, this.inDim]) }
    this.weightFeeds(this.fwd, weights, feeds)
    this.maskFeeds(this.fwd, masks, rows, feeds)
    const out = await this.runInto(this.fwd, this.fwdFetches, rows, feeds)
    const saved: Record<string, Ort.Tensor> = {}
    for (const s of this.graphs.saved) saved[s] = out[s]
    for (const s of this.graphs.passedInputs) saved[s] = feeds[s]
    return { rows, anchors: out[ANCHORS].data as Floats, similarity: out[SIMILARITY].data as Floats, saved }
  }

  /** Gradients of every weight given dL/d(anchors) (rows x out) and dL/d(similarity) (rows x rows). */
  async backward(weights: FloatMap, f: ForwardResult, masks: FloatMap, dA: Floats, dS: Floats): Promise<FloatMap> {
    const outDim = dA.length / f.rows
    const feeds: Record<string, Ort.Tensor> = {
      ...f.saved,
      [D_ANCHORS]: this.tensor(dA, [f.rows, outDim]),
      [D_SIMILARITY]: this.tensor(dS, [f.rows, f.rows]),
    }
    this.weightFeeds(this.bwd, weights, feeds)
    this.maskFeeds(this.bwd, masks, f.rows, feeds)
    const fetches: Fetches = {}
    for (const p of this.params) fetches[gradName(p.name)] = this.tensor(this.grads.get(p.name)!, p.shape)
    if (this.inputGradient) {
      let dx = this.dxFetches.get(f.rows)
      if (dx === undefined) {
        dx = { [gradName(INPUT)]: this.alloc([f.rows, this.inDim]) }
        this.dxFetches.set(f.rows, dx)
      }
      Object.assign(fetches, dx)
    }
    await this.bwd.run(feeds, fetches)
    const dx = fetches[gradName(INPUT)]
    if (dx !== undefined) this.grads.set(INPUT, dx.data as Floats)
    return this.grads
  }

  /** Inference (no dropout): rows x out embeddings. */
  async embed(weights: FloatMap, x: Floats, rows: number): Promise<Floats> {
    const feeds: Record<string, Ort.Tensor> = { [INPUT]: this.tensor(x, [rows, this.inDim]) }
    this.weightFeeds(this.infer, weights, feeds)
    const out = await this.runInto(this.infer, this.inferFetches, rows, feeds)
    return out[EMBEDDING].data as Floats
  }

  async release(): Promise<void> {
    await Promise.all([this.fwd.release(), this.bwd.release(), this.infer.release()])
  }
}

/** Draws one step's dropout masks: 0 with probability p, else 1/(1-p); `groups` blocks of a row share one draw. */
export const drawMasks = (specs: ReadonlyArray<MaskSpec>, rows: number, rng: Rng, elem: ElemType = "float32"): FloatMap =>
  new DropoutMasks(specs, elem).draw(rows, rng)

/**
 * Dropout masks drawn into buffers kept per batch size: a step's masks stay valid until the next draw of the same row
 * count, which is all a training step needs (forward and backward of that step).
 */
export class DropoutMasks {
  private readonly bySize = new Map<number, FloatMap>()
  constructor(
    private readonly specs: ReadonlyArray<MaskSpec>,
    private readonly elem: ElemType = "float32",
  ) {}

  draw(rows: number, rng: Rng): FloatMap {
    let masks = this.bySize.get(rows)
    if (masks === undefined) {
      masks = new Map()
      for (const s of this.specs) masks.set(s.name, this.elem === "float32" ? new Float32Array(rows * s.width) : new Float64Array(rows * s.width))
      if (this.bySize.size >= KEPT_SIZES) this.bySize.delete(this.bySize.keys().next().value as number)
      this.bySize.set(rows, masks)
    }
    for (const s of this.specs) {
      // Compare raw 32-bit draws against p * 2^32: the same decision as next() < p, without the division.
      rng.fillMask(masks.get(s.name)!, s.width / s.groups, s.p * 4294967296, 1 / (1 - s.p))
    }
    return masks
  }
}
