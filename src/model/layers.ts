/**
 * The layers of the nets, each as forward + backward ONNX ops on a Tape. Shapes are (batch, features) throughout:
 * the reference applies its transformer to a sequence of length 1, so every layer sees one vector per sample.
 *
 * Weights of a linear layer are stored (in, out), so the forward pass is x·W + b without a transpose.
 */
import type { Tape } from "./onnx/tape.ts"

/** How a parameter is initialised (PyTorch's defaults for the corresponding module). */
export type Init =
  | { readonly kind: "uniform"; readonly bound: number }
  | { readonly kind: "const"; readonly value: number }

export interface ParamSpec {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly init: Init
}

/** A dropout site: the mask is drawn per step in JS, `groups` independent draws per row, each shared by a contiguous block of width / groups (width for elementwise dropout, the head count for attention dropout). */
export interface MaskSpec {
  readonly name: string
  readonly width: number
  readonly p: number
  readonly groups: number
}

/** Backward of one layer: given dL/dy, emits param grads and returns dL/dx (or undefined when not needed). */
export type Backward = (dy: string, needDx: boolean) => string | undefined

export interface Forward {
  readonly y: string
  readonly back: Backward
}

export interface Module {
  readonly params: ReadonlyArray<ParamSpec>
  readonly masks: ReadonlyArray<MaskSpec>
  readonly forward: (t: Tape, x: string) => Forward
}

const must = (dx: string | undefined, what: string): string => {
  if (dx === undefined) throw new Error(`internal: ${what} produced no input gradient`)
  return dx
}

/** nn.Linear: W, b ~ U(-1/sqrt(in), 1/sqrt(in)). */
export const linear = (name: string, nIn: number, nOut: number, init?: { readonly weight: Init; readonly bias: Init }): Module => {
  const bound = 1 / Math.sqrt(nIn)
  const W: ParamSpec = { name: `${name}.weight`, shape: [nIn, nOut], init: init?.weight ?? { kind: "uniform", bound } }
  const b: ParamSpec = { name: `${name}.bias`, shape: [nOut], init: init?.bias ?? { kind: "uniform", bound } }
  return {
    params: [W, b],
    masks: [],
    forward: (t, x) => {
      const y = t.f.op("Gemm", [x, t.param(W.name, W.shape), t.param(b.name, b.shape)])
      if (!t.train) return { y, back: () => undefined }
      const xs = t.save(x)
      return {
        y,
        back: (dy, needDx) => {
          t.grad(W.name, t.b.op("Gemm", [xs, dy], { transA: { int: 1 } }))
          t.grad(b.name, t.b.op("ReduceSum", [dy, t.b.ints([0])], { keepdims: { int: 0 } }))
          return needDx ? t.b.op("Gemm", [dy, t.paramB(W.name, W.shape)], { transB: { int: 1 } }) : undefined
        },
      }
    },
  }
}

export const relu = (): Module => ({
  params: [],
  masks: [],
  forward: (t, x) => {
    const y = t.f.op("Relu", [x])
    if (!t.train) return { y, back: () => undefined }
    const ys = t.save(y)
    return {
      y,
      back: (dy) => t.b.op("Where", [t.b.op("Greater", [ys, t.b.scalar(0)]), dy, t.b.scalar(0)]),
    }
  },
})

/** Inverted dropout with an externally drawn mask; identity at inference. */
export const dropout = (name: string, width: number, p: number, groups = width): Module => {
  const spec: MaskSpec = { name, width, p, groups }
  return {
    params: [],
    masks: p > 0 ? [spec] : [],
    forward: (t, x) => {
      if (!t.train || p === 0) return { y: x, back: (dy) => dy }
      const m = t.mask(name, width)
      return { y: t.f.op("Mul", [x, m.f]), back: (dy) => t.b.op("Mul", [dy, m.b]) }
    },
  }
}

/** nn.LayerNorm over the last axis (eps 1e-5, weight 1, bias 0). */
export const layerNorm = (name: string, d: number, eps = 1e-5): Module => {
  const g: ParamSpec = { name: `${name}.weight`, shape: [d], init: { kind: "const", value: 1 } }
  const bb: ParamSpec = { name: `${name}.bias`, shape: [d], init: { kind: "const", value: 0 } }
  return {
    params: [g, bb],
    masks: [],
    forward: (t, x) => {
      const f = t.f
      const mu = f.op("ReduceMean", [x], { axes: { ints: [-1] }, keepdims: { int: 1 } })
      const xc = f.op("Sub", [x, mu])
      const variance = f.op("ReduceMean", [f.op("Mul", [xc, xc])], { axes: { ints: [-1] }, keepdims: { int: 1 } })
      const rstd = f.op("Reciprocal", [f.op("Sqrt", [f.op("Add", [variance, f.scalar(eps)])])])
      const xhat = f.op("Mul", [xc, rstd])
      const y = f.op("Add", [f.op("Mul", [xhat, t.param(g.name, g.shape)]), t.param(bb.name, bb.shape)])
      if (!t.train) return { y, back: () => undefined }
      const xh = t.save(xhat)
      const rs = t.save(rstd)
      return {
        y,
        back: (dy) => {
          const b = t.b
          t.grad(g.name, b.op("ReduceSum", [b.op("Mul", [dy, xh]), b.ints([0])], { keepdims: { int: 0 } }))
          t.grad(bb.name, b.op("ReduceSum", [dy, b.ints([0])], { keepdims: { int: 0 } }))
          const dxh = b.op("Mul", [dy, t.paramB(g.name, g.shape)])
          const m1 = b.op("ReduceMean", [dxh], { axes: { ints: [-1] }, keepdims: { int: 1 } })
          const m2 = b.op("ReduceMean", [b.op("Mul", [dxh, xh])], { axes: { ints: [-1] }, keepdims: { int: 1 } })
          const inner = b.op("Sub", [b.op("Sub", [dxh, m1]), b.op("Mul", [xh, m2])])
          return b.op("Mul", [inner, rs])
        },
      }
    },
  }
}

/** F.normalize(y, dim=-1): y / max(|y|, 1e-12). */
export const l2Normalize = (eps = 1e-12): Module => ({
  params: [],
  masks: [],
  forward: (t, x) => {
    const f = t.f
    const norm = f.op("Sqrt", [f.op("ReduceSum", [f.op("Mul", [x, x]), f.ints([-1])], { keepdims: { int: 1 } })])
    const n = f.op("Max", [norm, f.scalar(eps)])
    const y = f.op("Div", [x, n])
    if (!t.train) return { y, back: () => undefined }
    const ys = t.save(y)
    const ns = t.save(n)
    return {
      y,
      back: (dy) => {
        const b = t.b
        const dot = b.op("ReduceSum", [b.op("Mul", [dy, ys]), b.ints([-1])], { keepdims: { int: 1 } })
        return b.op("Div", [b.op("Sub", [dy, b.op("Mul", [ys, dot])]), ns])
      },
    }
  },
})

/** Modules applied one after the other. */
export const sequential = (modules: ReadonlyArray<Module>): Module => ({
  params: modules.flatMap((m) => m.params),
  masks: modules.flatMap((m) => m.masks),
  forward: (t, x) => {
    const steps: Array<Forward> = []
    let y = x
    for (const m of modules) {
      const step = m.forward(t, y)
      steps.push(step)
      y = step.y
    }
    return {
      y,
      back: (dy, needDx) => {
        let g: string | undefined = dy
        for (let i = steps.length - 1; i >= 0; i--) g = steps[i].back(must(g, "sequential"), i > 0 || needDx)
        return g
      },
    }
  },
})

/**
 * Multi-head self-attention on a sequence of length 1 (nn.MultiheadAttention). The softmax over one key is exactly 1,
 * so the output is out_proj(v_proj(x)) and the query/key projections have no effect (nor gradient); they are left
 * out. Attention dropout drops that single weight per (sample, head): a mask shared by each head's slice of v.
 * PyTorch initialises in_proj with xavier_uniform and zero biases; out_proj weight as nn.Linear, bias zero.
 */
export const selfAttentionLength1 = (name: string, d: number, heads: number, p: number): Module => {
  if (d % heads !== 0) throw new Error(`attention width ${d} is not divisible by ${heads} heads`)
  const xavier = Math.sqrt(6 / (d + 3 * d))
  const zero: Init = { kind: "const", value: 0 }
  return sequential([
    linear(`${name}.v_proj`, d, d, { weight: { kind: "uniform", bound: xavier }, bias: zero }),
    dropout(`${name}.attn_drop`, d, p, heads),
    linear(`${name}.out_proj`, d, d, { weight: { kind: "uniform", bound: 1 / Math.sqrt(d) }, bias: zero }),
  ])
}

/** y = x + f(x). */
const residual = (inner: Module): Module => ({
  params: inner.params,
  masks: inner.masks,
  forward: (t, x) => {
    const r = inner.forward(t, x)
    const y = t.f.op("Add", [x, r.y])
    return { y, back: (dy) => t.b.op("Add", [dy, must(r.back(dy, true), "residual")]) }
  },
})

/** nn.TransformerEncoderLayer(d, heads, ff, dropout, activation=relu, norm_first=False) on a length-1 sequence. */
export const transformerEncoderLayer = (name: string, d: number, heads: number, ff: number, p: number): Module =>
  sequential([
    residual(sequential([selfAttentionLength1(`${name}.self_attn`, d, heads, p), dropout(`${name}.dropout1`, d, p)])),
    layerNorm(`${name}.norm1`, d),
    residual(
      sequential([
        linear(`${name}.linear1`, d, ff),
        relu(),
        dropout(`${name}.dropout`, ff, p),
        linear(`${name}.linear2`, ff, d),
        dropout(`${name}.dropout2`, d, p),
      ]),
    ),
    layerNorm(`${name}.norm2`, d),
  ])
