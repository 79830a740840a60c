/**
 * Runs a net's ONNX graphs with onnxruntime: one session per graph, created once and reused every step. Weights,
 * inputs and masks are passed as tensors over the caller's typed arrays (no copy); saved activations go from the
 * forward outputs straight back into the backward feeds.
 */
import * as ort from "onnxruntime-node"
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

export type Floats = Float32Array | Float64Array
export type FloatMap = Map<string, Floats>

export interface ForwardResult {
  readonly rows: number
  readonly anchors: Floats
  readonly similarity: Floats
  readonly saved: Readonly<Record<string, ort.Tensor>>
}

const sessionOptions = (threads: number): ort.InferenceSession.SessionOptions => ({
  intraOpNumThreads: Math.max(1, threads),
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
})

export class NetEngine {
  private constructor(
    readonly params: ReadonlyArray<ParamSpec>,
    readonly masks: ReadonlyArray<MaskSpec>,
    readonly inDim: number,
    readonly elem: ElemType,
    private readonly fwd: ort.InferenceSession,
    private readonly bwd: ort.InferenceSession,
    private readonly infer: ort.InferenceSession,
    private readonly graphs: TrainGraphs,
  ) {}

  static async create(
    net: Module,
    inDim: number,
    options: { readonly threads: number; readonly elem?: ElemType; readonly inputGradient?: boolean },
  ): Promise<NetEngine> {
    const elem = options.elem ?? "float32"
    const graphs = buildTrainGraphs(net, inDim, elem, { inputGradient: options.inputGradient })
    const opts = sessionOptions(options.threads)
    const [fwd, bwd, infer] = await Promise.all([
      ort.InferenceSession.create(graphs.forward, opts),
      ort.InferenceSession.create(graphs.backward, opts),
      ort.InferenceSession.create(buildInferenceGraph(net, inDim, undefined, elem), opts),
    ])
    return new NetEngine(net.params, net.masks, inDim, elem, fwd, bwd, infer, graphs)
  }

  private tensor(data: Floats, dims: ReadonlyArray<number>): ort.Tensor {
    return new ort.Tensor(this.elem, data, dims)
  }

  private weightFeeds(session: ort.InferenceSession, weights: FloatMap, feeds: Record<string, ort.Tensor>): void {
    for (const p of this.params) {
      if (!session.inputNames.includes(p.name)) continue
      const w = weights.get(p.name)
      if (w === undefined) throw new Error(`missing weight ${p.name}`)
      feeds[p.name] = this.tensor(w, p.shape)
    }
  }

  private maskFeeds(session: ort.InferenceSession, masks: FloatMap, rows: number, feeds: Record<string, ort.Tensor>): void {
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
    const feeds: Record<string, ort.Tensor> = { [INPUT]: this.tensor(x, [rows, this.inDim]) }
    this.weightFeeds(this.fwd, weights, feeds)
    this.maskFeeds(this.fwd, masks, rows, feeds)
    const out = await this.fwd.run(feeds)
    const saved: Record<string, ort.Tensor> = {}
    for (const s of this.graphs.saved) saved[s] = out[s]
    for (const s of this.graphs.passedInputs) saved[s] = feeds[s]
    return { rows, anchors: out[ANCHORS].data as Floats, similarity: out[SIMILARITY].data as Floats, saved }
  }

  /** Gradients of every weight given dL/d(anchors) (rows x out) and dL/d(similarity) (rows x rows). */
  async backward(weights: FloatMap, f: ForwardResult, masks: FloatMap, dA: Floats, dS: Floats): Promise<FloatMap> {
    const outDim = dA.length / f.rows
    const feeds: Record<string, ort.Tensor> = {
      ...f.saved,
      [D_ANCHORS]: this.tensor(dA, [f.rows, outDim]),
      [D_SIMILARITY]: this.tensor(dS, [f.rows, f.rows]),
    }
    this.weightFeeds(this.bwd, weights, feeds)
    this.maskFeeds(this.bwd, masks, f.rows, feeds)
    const out = await this.bwd.run(feeds)
    const grads: FloatMap = new Map()
    for (const p of this.params) {
      const g = out[gradName(p.name)]
      if (g === undefined) throw new Error(`backward graph has no gradient for ${p.name}`)
      grads.set(p.name, g.data as Floats)
    }
    const dx = out[gradName(INPUT)]
    if (dx !== undefined) grads.set(INPUT, dx.data as Floats)
    return grads
  }

  /** Inference (no dropout): rows x out embeddings. */
  async embed(weights: FloatMap, x: Floats, rows: number): Promise<Floats> {
    const feeds: Record<string, ort.Tensor> = { [INPUT]: this.tensor(x, [rows, this.inDim]) }
    this.weightFeeds(this.infer, weights, feeds)
    const out = await this.infer.run(feeds)
    return out[EMBEDDING].data as Floats
  }

  async release(): Promise<void> {
    await Promise.all([this.fwd.release(), this.bwd.release(), this.infer.release()])
  }
}

/** Draws one step's dropout masks: 0 with probability p, else 1/(1-p); `groups` blocks of a row share one draw. */
export const drawMasks = (specs: ReadonlyArray<MaskSpec>, rows: number, rng: Rng, elem: ElemType = "float32"): FloatMap => {
  const masks: FloatMap = new Map()
  for (const s of specs) {
    const a = elem === "float32" ? new Float32Array(rows * s.width) : new Float64Array(rows * s.width)
    const keep = 1 / (1 - s.p)
    // Compare raw 32-bit draws against p * 2^32: the same decision as next() < p, without the division.
    const threshold = s.p * 4294967296
    const block = s.width / s.groups
    const draws = new Uint32Array(rows * s.groups)
    rng.fillU32(draws)
    if (block === 1) {
      for (let i = 0; i < a.length; i++) a[i] = draws[i] < threshold ? 0 : keep
    } else {
      for (let g = 0; g < draws.length; g++) if (draws[g] >= threshold) a.fill(keep, g * block, (g + 1) * block)
    }
    masks.set(s.name, a)
  }
  return masks
}
