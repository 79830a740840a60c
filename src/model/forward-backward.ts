/**
 * Runs a net's ONNX graphs: one session per graph (src/model/graph-session.ts), created once and reused every step.
 * Weights, inputs and masks are passed over the caller's typed arrays (no copy); saved activations go from the
 * forward outputs straight back into the backward feeds.
 *
 * Every output is written into buffers the engine allocates once per batch size and reuses: no per-step allocation of
 * the ~58 MB of gradients and ~20 MB of activations. With the in-place binding nothing else is allocated or copied
 * either. The price is aliasing: what forward, backward and embed return stays valid only until the next call of the
 * same method with the same row count.
 */
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
import { openGraphSession, type Binding, type Feed, type Floats, type GraphSession } from "./graph-session.ts"
import { KeptBySize } from "./kept-by-size.ts"
import type { MaskSpec, Module, ParamSpec } from "./layers.ts"
import type { MaskKernel, Rng } from "./rng.ts"
import { meaNativeIfWanted } from "../native/mea-native.ts"

export { onnxRuntime } from "./graph-session.ts"
export type { Floats } from "./graph-session.ts"
export type FloatMap = Map<string, Floats>

export interface ForwardResult {
  readonly rows: number
  readonly anchors: Floats
  readonly similarity: Floats
  /** Forward outputs and inputs that the backward graph reads. */
  readonly saved: ReadonlyArray<Feed>
}

/** Output buffers of one graph for one batch size, reused by every run of that size. */
type Fetches = ReadonlyArray<Feed>

const byName = (feeds: ReadonlyArray<Feed>, name: string): Feed => {
  const f = feeds.find((x) => x.name === name)
  if (f === undefined) throw new Error(`internal: no tensor ${name}`)
  return f
}

export class NetEngine {
  private readonly fwdFetches = new KeptBySize<Fetches>()
  private readonly inferFetches = new KeptBySize<Fetches>()
  /**
   * Gradient buffers do not depend on the batch size: one set for every step. backward returns this map itself, and
   * whoever holds it may replace an entry by another array of the same length (AdamW does, to keep gradients in its
   * WebAssembly memory): the next backward writes into whatever the map holds then.
   */
  private readonly grads: FloatMap = new Map()
  private readonly dxFetches = new KeptBySize<Fetches>()

  private constructor(
    readonly params: ReadonlyArray<ParamSpec>,
    readonly masks: ReadonlyArray<MaskSpec>,
    readonly inDim: number,
    readonly elem: ElemType,
    private readonly fwd: GraphSession,
    private readonly bwd: GraphSession,
    private readonly infer: GraphSession,
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
    options: { readonly threads: number; readonly elem?: ElemType; readonly inputGradient?: boolean; readonly binding?: Binding },
  ): Promise<NetEngine> {
    const elem = options.elem ?? "float32"
    const graphs = buildTrainGraphs(net, inDim, elem, { inputGradient: options.inputGradient })
    const open = (model: Uint8Array) => openGraphSession(model, options.threads, options.binding)
    const [fwd, bwd, infer] = await Promise.all([open(graphs.forward), open(graphs.backward), open(buildInferenceGraph(net, inDim, undefined, elem))])
    return new NetEngine(net.params, net.masks, inDim, elem, fwd, bwd, infer, graphs, options.inputGradient === true)
  }

  /** Which binding runs the graphs ("in-place" or "onnxruntime-node"). */
  get binding(): GraphSession["binding"] {
    return this.fwd.binding
  }

  private alloc(name: string, dims: ReadonlyArray<number>): Feed {
    const n = dims.reduce((a, b) => a * b, 1)
    return { name, data: this.elem === "float32" ? new Float32Array(n) : new Float64Array(n), dims }
  }

  /**
   * Runs `session` into the cached output buffers for `rows`; the first run of a size lets onnxruntime allocate, and
   * its output shapes size the buffers of every later run.
   */
  private async runInto(session: GraphSession, cache: KeptBySize<Fetches>, rows: number, feeds: ReadonlyArray<Feed>): Promise<Fetches> {
    const fetches = cache.get(rows)
    if (fetches !== undefined) {
      await session.run(feeds, fetches)
      return fetches
    }
    const out = await session.run(feeds, [], session.outputNames)
    const kept = out.map((t) => {
      const buffer = this.alloc(t.name, t.dims)
      buffer.data.set(t.data)
      return buffer
    })
    cache.set(rows, kept)
    return kept
  }

  private weightFeeds(session: GraphSession, weights: FloatMap, feeds: Array<Feed>): void {
    for (const p of this.params) {
      if (!session.inputNames.includes(p.name)) continue
      const w = weights.get(p.name)
      if (w === undefined) throw new Error(`missing weight ${p.name}`)
      feeds.push({ name: p.name, data: w, dims: p.shape })
    }
  }

  private maskFeeds(session: GraphSession, masks: FloatMap, rows: number, feeds: Array<Feed>): void {
    for (const m of this.masks) {
      const n = maskName(m.name)
      if (!session.inputNames.includes(n)) continue
      const data = masks.get(m.name)
      if (data === undefined) throw new Error(`missing dropout mask ${m.name}`)
      feeds.push({ name: n, data, dims: [rows, m.width] })
    }
  }

  /** Training-mode forward of `rows` samples (x is rows x inDim, row-major). */
  async forward(weights: FloatMap, x: Floats, rows: number, masks: FloatMap): Promise<ForwardResult> {
    const input: Feed = { name: INPUT, data: x, dims: [rows, this.inDim] }
    const feeds: Array<Feed> = [input]
    this.weightFeeds(this.fwd, weights, feeds)
    this.maskFeeds(this.fwd, masks, rows, feeds)
    const out = await this.runInto(this.fwd, this.fwdFetches, rows, feeds)
    const saved: Array<Feed> = this.graphs.saved.map((s) => byName(out, s))
    for (const s of this.graphs.passedInputs) saved.push(byName(feeds, s))
    return { rows, anchors: byName(out, ANCHORS).data, similarity: byName(out, SIMILARITY).data, saved }
  }

  /** Gradients of every weight given dL/d(anchors) (rows x out) and dL/d(similarity) (rows x rows). */
  async backward(weights: FloatMap, f: ForwardResult, masks: FloatMap, dA: Floats, dS: Floats): Promise<FloatMap> {
    const outDim = dA.length / f.rows
    const feeds: Array<Feed> = [
      ...f.saved,
      { name: D_ANCHORS, data: dA, dims: [f.rows, outDim] },
      { name: D_SIMILARITY, data: dS, dims: [f.rows, f.rows] },
    ]
    this.weightFeeds(this.bwd, weights, feeds)
    this.maskFeeds(this.bwd, masks, f.rows, feeds)
    const fetches: Array<Feed> = this.params.map((p) => ({ name: gradName(p.name), data: this.grads.get(p.name)!, dims: p.shape }))
    if (this.inputGradient) {
      let dx = this.dxFetches.get(f.rows)
      if (dx === undefined) {
        dx = [this.alloc(gradName(INPUT), [f.rows, this.inDim])]
        this.dxFetches.set(f.rows, dx)
      }
      fetches.push(...dx)
      this.grads.set(INPUT, dx[0].data)
    }
    await this.bwd.run(feeds, fetches)
    return this.grads
  }

  /** Inference (no dropout): rows x out embeddings. */
  async embed(weights: FloatMap, x: Floats, rows: number): Promise<Floats> {
    const feeds: Array<Feed> = [{ name: INPUT, data: x, dims: [rows, this.inDim] }]
    this.weightFeeds(this.infer, weights, feeds)
    const out = await this.runInto(this.infer, this.inferFetches, rows, feeds)
    return byName(out, EMBEDDING).data
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
  private readonly bySize = new KeptBySize<FloatMap>()
  private readonly kernel: MaskKernel | undefined
  constructor(
    private readonly specs: ReadonlyArray<MaskSpec>,
    private readonly elem: ElemType = "float32",
    options: { readonly native?: boolean } = {},
  ) {
    this.kernel = meaNativeIfWanted(options.native)?.fillMask
  }

  draw(rows: number, rng: Rng): FloatMap {
    let masks = this.bySize.get(rows)
    if (masks === undefined) {
      masks = new Map()
      for (const s of this.specs) masks.set(s.name, this.elem === "float32" ? new Float32Array(rows * s.width) : new Float64Array(rows * s.width))
      this.bySize.set(rows, masks)
    }
    for (const s of this.specs) {
      // Compare raw 32-bit draws against p * 2^32: the same decision as next() < p, without the division.
      rng.fillMask(masks.get(s.name)!, s.width / s.groups, s.p * 4294967296, 1 / (1 - s.p), this.kernel)
    }
    return masks
  }
}
