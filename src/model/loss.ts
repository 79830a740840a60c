/**
 * The training objective, with exact gradients (computed in float64; both are O(rows x dim) or O(rows^2), cheap
 * next to the net).
 *
 * Triplet loss, per training data set d of the step:
 *   L_d = mean_{i in d} relu(cos(a_i, neg_i) - cos(a_i, pos_i) + margin),  summed over d.
 *
 * Alignment regulariser over all anchors of the step, S = cosine matrix, c_i = anchor i's cluster id,
 *   n_i = mean_{j != i, c_j != c_i} S_ij,  p_i = mean_{j != i, c_j == c_i} S_ij
 *   v1: alpha * mean_i relu(n_i - p_i + 1)    v2: alpha * mean_i relu(n_i + 1)    v3: alpha * mean_i (1 - p_i)
 * An anchor for which a mean it needs is empty (no other-cluster or no same-cluster partner in the step) is left out
 * of mean_i, rather than contributing NaN.
 */
import type { Floats } from "./forward-backward.ts"

export interface TripletInput {
  readonly rows: number
  readonly dim: number
  /** rows x dim. */
  readonly anchors: Floats
  /** rows x dim positive targets (not necessarily normalised). */
  readonly positives: Float64Array
  readonly negatives: Float64Array
  /** Training data set index of each row. */
  readonly group: Int32Array
  readonly margin?: number
}

export interface LossResult {
  readonly loss: number
  /** Per-group loss (triplet) for the training curves. */
  readonly parts: ReadonlyArray<number>
}

/** Cosine of row i of `a` and row i of `t`, and its gradient w.r.t. a_i added with weight `w` into `grad`. */
const cosine = (a: Floats, t: Float64Array, off: number, dim: number): { cos: number; na: number; nt: number } => {
  let dot = 0
  let na = 0
  let nt = 0
  for (let k = 0; k < dim; k++) {
    dot += a[off + k] * t[off + k]
    na += a[off + k] * a[off + k]
    nt += t[off + k] * t[off + k]
  }
  na = Math.sqrt(na)
  nt = Math.sqrt(nt)
  return { cos: dot / Math.max(na * nt, 1e-8), na, nt }
}

const addCosineGrad = (grad: Float64Array, a: Floats, t: Float64Array, off: number, dim: number, c: { cos: number; na: number; nt: number }, w: number): void => {
  const denom = Math.max(c.na * c.nt, 1e-8)
  for (let k = 0; k < dim; k++) grad[off + k] += w * (t[off + k] / denom - (c.cos * a[off + k]) / (c.na * c.na))
}

export const tripletLoss = (input: TripletInput): LossResult & { readonly dA: Float64Array } => {
  const { rows, dim, anchors, positives, negatives, group } = input
  const margin = input.margin ?? 1
  let groups = 0
  for (let i = 0; i < rows; i++) groups = Math.max(groups, group[i] + 1)
  const counts = new Array<number>(groups).fill(0)
  for (let i = 0; i < rows; i++) counts[group[i]]++
  const parts = new Array<number>(groups).fill(0)
  const dA = new Float64Array(rows * dim)
  for (let i = 0; i < rows; i++) {
    const off = i * dim
    const p = cosine(anchors, positives, off, dim)
    const n = cosine(anchors, negatives, off, dim)
    const hinge = n.cos - p.cos + margin
    if (hinge <= 0) continue
    const w = 1 / counts[group[i]]
    parts[group[i]] += w * hinge
    addCosineGrad(dA, anchors, negatives, off, dim, n, w)
    addCosineGrad(dA, anchors, positives, off, dim, p, -w)
  }
  return { loss: parts.reduce((a, b) => a + b, 0), parts, dA }
}

export type RegulariserVersion = "v1" | "v2" | "v3"

/** The alignment regulariser on the step's cosine matrix S (rows x rows) and the anchors' cluster ids. */
export const alignmentRegulariser = (
  S: Floats,
  rows: number,
  clusters: Int32Array,
  version: RegulariserVersion,
  alpha: number,
): LossResult & { readonly dS: Float64Array } => {
  const dS = new Float64Array(rows * rows)
  const n = new Float64Array(rows)
  const p = new Float64Array(rows)
  const nCount = new Int32Array(rows)
  const pCount = new Int32Array(rows)
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < rows; j++) {
      if (j === i) continue
      if (clusters[j] === clusters[i]) {
        p[i] += S[i * rows + j]
        pCount[i]++
      } else {
        n[i] += S[i * rows + j]
        nCount[i]++
      }
    }
    if (nCount[i] > 0) n[i] /= nCount[i]
    if (pCount[i] > 0) p[i] /= pCount[i]
  }
  const usable = (i: number): boolean =>
    version === "v1" ? nCount[i] > 0 && pCount[i] > 0 : version === "v2" ? nCount[i] > 0 : pCount[i] > 0
  let used = 0
  for (let i = 0; i < rows; i++) if (usable(i)) used++
  if (used === 0) return { loss: 0, parts: [0], dS }
  let total = 0
  const w = alpha / used
  for (let i = 0; i < rows; i++) {
    if (!usable(i)) continue
    // dTerm/dn_i and dTerm/dp_i for this anchor's term.
    let dn = 0
    let dp = 0
    if (version === "v1") {
      const h = n[i] - p[i] + 1
      if (h > 0) {
        total += h
        dn = 1
        dp = -1
      }
    } else if (version === "v2") {
      const h = n[i] + 1
      if (h > 0) {
        total += h
        dn = 1
      }
    } else {
      total += 1 - p[i]
      dp = -1
    }
    for (let j = 0; j < rows; j++) {
      if (j === i) continue
      dS[i * rows + j] = clusters[j] === clusters[i] ? (w * dp) / pCount[i] : nCount[i] > 0 ? (w * dn) / nCount[i] : 0
    }
  }
  return { loss: w * total, parts: [w * total], dS }
}
