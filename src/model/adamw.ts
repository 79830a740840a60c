/**
 * AdamW exactly as torch.optim.AdamW (decoupled weight decay, bias-corrected moments, eps added after the square
 * root), applied in place to every weight. Moments are kept in the weights' precision (float32 in training, like PyTorch).
 *
 * Float32 weights (every training run) are updated by a WebAssembly SIMD kernel (adamw-simd.ts) in float32, as torch
 * does: on the first update, the weights and gradients are copied into the kernel's memory and the caller's maps get
 * views of that memory in their place, so that the next backward writes its gradients straight there. A map entry
 * later replaced by another array is copied in again. Where mea's native addon is built, its C kernel updates that same
 * memory instead, with the same float32 operations (the same bits), vectorised and on several threads. Float64
 * weights (gradient checks) take a JS loop in doubles.
 */
import { meaNativeIfWanted, type AdamWKernel } from "../native/mea-native.ts"
import { SimdArena, type SimdStep } from "./adamw-simd.ts"
import type { FloatMap, Floats } from "./forward-backward.ts"

export interface AdamWOptions {
  readonly lr: number
  readonly weightDecay: number
  /**
   * Threads for float32 updates, which run on mea's native kernel (the same bits as the WebAssembly one) where its
   * native addon is built (src/native/mea-native.ts); default 1. `native: false` keeps the WebAssembly kernel.
   */
  readonly threads?: number
  readonly native?: boolean
  readonly beta1?: number
  readonly beta2?: number
  readonly eps?: number
}

const adamwDoubles = (w: Floats, g: Floats, m: Float64Array, v: Float64Array, k: SimdStep): void => {
  const c1 = 1 - k.b1
  const c2 = 1 - k.b2
  for (let i = 0; i < w.length; i++) {
    const gi = g[i]
    const mi = k.b1 * m[i] + c1 * gi
    const vi = k.b2 * v[i] + c2 * gi * gi
    m[i] = mi
    v[i] = vi
    w[i] = w[i] * k.decay - (k.stepSize * mi) / (Math.sqrt(vi) * k.invBc2 + k.eps)
  }
}

export class AdamW {
  private arena: SimdArena | undefined
  private readonly m = new Map<string, Float64Array>()
  private readonly v = new Map<string, Float64Array>()
  private step = 0
  private readonly native: { readonly kernel: AdamWKernel; readonly threads: number } | undefined
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
    const addon = meaNativeIfWanted(options.native)
    this.native = addon === undefined ? undefined : { kernel: addon.adamw, threads: Math.max(1, options.threads ?? 1) }
  }

  /** Which kernel updates float32 weights. */
  get kernel(): "native" | "webassembly" {
    return this.native === undefined ? "webassembly" : "native"
  }

  get steps(): number {
    return this.step
  }

  /** One update of every weight that has a gradient. */
  update(weights: FloatMap, grads: FloatMap): void {
    this.step++
    const k: SimdStep = {
      decay: 1 - this.lr * this.weightDecay,
      b1: this.beta1,
      b2: this.beta2,
      stepSize: this.lr / (1 - this.beta1 ** this.step),
      // A multiplication instead of torch's division by the bias correction: equal up to rounding.
      invBc2: 1 / Math.sqrt(1 - this.beta2 ** this.step),
      eps: this.eps,
    }
    const updated = [...weights].filter(([name]) => grads.has(name))
    if (this.arena === undefined && this.m.size === 0) {
      const float32 = updated.every(([name, w]) => w instanceof Float32Array && grads.get(name) instanceof Float32Array)
      if (float32 && updated.length > 0) this.arena = new SimdArena(new Map(updated.map(([name, w]) => [name, w.length])))
    }
    const arena = this.arena
    if (arena === undefined) {
      for (const [name, w] of updated) adamwDoubles(w, grads.get(name)!, this.moment(this.m, name, w.length), this.moment(this.v, name, w.length), k)
      return
    }
    for (const [name, w] of updated) {
      const g = grads.get(name)!
      const aw = arena.weights.get(name)
      const ag = arena.grads.get(name)
      if (aw === undefined || ag === undefined || aw.length !== w.length) throw new Error(`AdamW: ${name} was not among the weights of the first update, or changed size`)
      if (w !== aw) {
        aw.set(w)
        weights.set(name, aw)
      }
      if (g !== ag) {
        ag.set(g)
        grads.set(name, ag)
      }
    }
    arena.update(updated.map(([name]) => name), k, this.native)
  }

  private moment(store: Map<string, Float64Array>, name: string, n: number): Float64Array {
    let a = store.get(name)
    if (a === undefined) {
      a = new Float64Array(n)
      store.set(name, a)
    }
    return a
  }
}
