/**
 * The ONNX backward graphs against central finite differences of the ONNX forward graph, in float64 on tiny sizes.
 * The scalar checked is L = sum(A ∘ R) + sum(S ∘ Q) for random R, Q, so both the anchor and the similarity-matrix
 * paths of the backward graph are exercised.
 */
import { describe, expect, it } from "vitest"
import { drawMasks, NetEngine, type FloatMap, type Floats } from "../../src/model/forward-backward.ts"
import { INPUT } from "../../src/model/graphs.ts"
import {
  dropout,
  l2Normalize,
  layerNorm,
  linear,
  relu,
  selfAttentionLength1,
  sequential,
  transformerEncoderLayer,
  type Module,
} from "../../src/model/layers.ts"
import { buildNet, initWeights, type NetConfig } from "../../src/model/nets.ts"
import { Rng } from "../../src/model/rng.ts"

const rows = 5

const randomArray = (n: number, rng: Rng, scale = 1): Float64Array => {
  const a = new Float64Array(n)
  for (let i = 0; i < n; i++) a[i] = (rng.next() * 2 - 1) * scale
  return a
}

const scalarLoss = (A: Floats, S: Floats, R: Float64Array, Q: Float64Array): number => {
  let s = 0
  for (let i = 0; i < A.length; i++) s += A[i] * R[i]
  for (let i = 0; i < S.length; i++) s += S[i] * Q[i]
  return s
}

/** Checks every parameter's gradient (a sample of entries each) and the input gradient. */
const check = async (module: Module, inDim: number, outDim: number, seed = 1): Promise<void> => {
  const rng = new Rng(seed, "gradcheck")
  const engine = await NetEngine.create(module, inDim, { threads: 1, elem: "float64", inputGradient: true })
  const weights: FloatMap = new Map()
  for (const [k, v] of initWeights(module.params, rng)) {
    // Perturb constant inits (LayerNorm 1/0, zero biases) so every term of the gradient matters.
    const w = Float64Array.from(v, (x) => x + (rng.next() - 0.5) * 0.2)
    weights.set(k, w)
  }
  const x = randomArray(rows * inDim, rng)
  const masks = drawMasks(module.masks, rows, rng, "float64")
  const R = randomArray(rows * outDim, rng)
  const Q = randomArray(rows * rows, rng)
  const f = await engine.forward(weights, x, rows, masks)
  const grads = await engine.backward(weights, f, masks, R, Q)
  const loss = async (): Promise<number> => {
    const r = await engine.forward(weights, x, rows, masks)
    return scalarLoss(r.anchors, r.similarity, R, Q)
  }
  const h = 1e-6
  const targets: Array<[string, Float64Array]> = [[INPUT, x], ...[...weights].map(([k, v]) => [k, v as Float64Array] as [string, Float64Array])]
  for (const [name, arr] of targets) {
    const g = grads.get(name)
    expect(g, `gradient of ${name}`).toBeDefined()
    const picks = new Set<number>()
    for (let i = 0; i < Math.min(6, arr.length); i++) picks.add(rng.int(arr.length))
    for (const i of picks) {
      const old = arr[i]
      arr[i] = old + h
      const up = await loss()
      arr[i] = old - h
      const down = await loss()
      arr[i] = old
      const numeric = (up - down) / (2 * h)
      expect(g![i], `${name}[${i}]`).toBeCloseTo(numeric, 6)
    }
  }
  await engine.release()
}

describe("gradients vs finite differences (float64 ONNX)", () => {
  it("linear", () => check(linear("l", 4, 3), 4, 3))
  it("linear + relu", () => check(sequential([linear("l", 4, 6), relu()]), 4, 6))
  it("dropout (fixed mask)", () => check(sequential([linear("l", 4, 6), dropout("d", 6, 0.5)]), 4, 6, 3))
  it("layer norm", () => check(layerNorm("n", 6), 6, 6))
  it("L2 normalisation", () => check(l2Normalize(), 5, 5))
  it("self-attention on a length-1 sequence, with head dropout", () => check(selfAttentionLength1("a", 8, 2, 0.3), 8, 8, 4))
  it("transformer encoder layer", () => check(transformerEncoderLayer("e", 8, 2, 12, 0.2), 8, 8, 5))
  it("attention net", () => {
    const c: NetConfig = { net: "attention", in_dim: 6, out_dim: 4, hidden: 8, heads: 2, ff: 10, num_layers: 2, dropout: 0.1 }
    return check(buildNet(c), 6, 4, 6)
  })
  it("linear net", () => {
    const c: NetConfig = { net: "linear", in_dim: 6, out_dim: 4, hidden: 7, heads: 0, ff: 0, num_layers: 3, dropout: 0.2 }
    return check(buildNet(c), 6, 4, 7)
  })
})
