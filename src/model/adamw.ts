/**
 * AdamW exactly as torch.optim.AdamW (decoupled weight decay, bias-corrected moments, eps added after the square
 * root), applied in place to every weight. Moments are kept in float32 like PyTorch's.
 */
import type { FloatMap, Floats } from "./forward-backward.ts"

export interface AdamWOptions {
  readonly lr: number
  readonly weightDecay: number
  readonly beta1?: number
  readonly beta2?: number
  readonly eps?: number
}

export class AdamW {
  private readonly m = new Map<string, Float32Array>()
  private readonly v = new Map<string, Float32Array>()
  private step = 0
  lr: number
  readonly weightDecay: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number

  constructor(options: AdamWOptions) {
    this.lr = options.lr
    this.weightDecay = options.weightDecay
    this.beta1 = options.beta1 ?? 0.9
    this.beta2 = options.beta2 ?? 0.999
    this.eps = options.eps ?? 1e-8
  }

  get steps(): number {
    return this.step
  }

  /** One update of every weight that has a gradient. */
  update(weights: FloatMap, grads: FloatMap): void {
    this.step++
    const { lr, beta1: b1, beta2: b2, eps } = this
    const bc1 = 1 - b1 ** this.step
    const bc2sqrt = Math.sqrt(1 - b2 ** this.step)
    const decay = 1 - lr * this.weightDecay
    const stepSize = lr / bc1
    for (const [name, w] of weights) {
      const g = grads.get(name)
      if (g === undefined) continue
      let m = this.m.get(name)
      let v = this.v.get(name)
      if (m === undefined || v === undefined) {
        m = new Float32Array(w.length)
        v = new Float32Array(w.length)
        this.m.set(name, m)
        this.v.set(name, v)
      }
      kernel(w, g, m, v, decay, b1, b2, stepSize, bc2sqrt, eps)
    }
  }
}

const kernel = (
  w: Floats,
  g: Floats,
  m: Float32Array,
  v: Float32Array,
  decay: number,
  b1: number,
  b2: number,
  stepSize: number,
  bc2sqrt: number,
  eps: number,
): void => {
  const n = w.length
  const c1 = 1 - b1
  const c2 = 1 - b2
  // A multiplication instead of torch's division by the bias correction: ~20% faster, equal to rounding.
  const invBc2 = 1 / bc2sqrt
  for (let i = 0; i < n; i++) {
    const gi = g[i]
    const mi = b1 * m[i] + c1 * gi
    const vi = b2 * v[i] + c2 * gi * gi
    m[i] = mi
    v[i] = vi
    w[i] = w[i] * decay - (stepSize * mi) / (Math.sqrt(vi) * invBc2 + eps)
  }
}
