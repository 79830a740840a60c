/**
 * Mean shift with a flat kernel, following scikit-learn's MeanShift and estimate_bandwidth step for step: float32
 * points and means, every point a seed (or grid-binned seeds), hill climbing until the mean moves by at most
 * 1e-3 x bandwidth or 300 iterations, centres ranked by (intensity, coordinates) descending, near-duplicates within
 * the bandwidth removed, points assigned to the nearest centre. Distances use sklearn's rounding (sklearn-distance.ts),
 * so cluster ids and centres come out in sklearn's order.
 */
import { Data, Either } from "effect"
import { numpySum, type Points, rowNorms, rowOf, sqDistMany, sqDistOneQuery, sqNorm } from "./sklearn-distance.ts"

export class MeanShiftError extends Data.TaggedError("MeanShiftError")<{ readonly message: string }> {}

/**
 * sklearn.cluster.estimate_bandwidth(X, quantile, n_samples=None): the mean over points of the distance to their k-th
 * nearest neighbour, the point itself counting as the first, k = max(1, floor(n x quantile)).
 */
export const estimateBandwidth = (points: Points, quantile: number, minNeighbours = 1): Either.Either<{ readonly bandwidth: number; readonly k: number }, MeanShiftError> => {
  if (!(quantile >= 0 && quantile <= 1)) return Either.left(new MeanShiftError({ message: `quantile must be in [0, 1], got ${quantile}` }))
  if (points.n === 0) return Either.left(new MeanShiftError({ message: "cannot estimate a bandwidth for 0 points" }))
  // minNeighbours > 1 is mea's option (sklearn: 1), so that k never means the point itself alone.
  const k = Math.min(points.n, Math.max(1, minNeighbours, Math.trunc(points.n * quantile)))
  const norms = rowNorms(points)
  const kth = new Float64Array(points.n)
  const row = new Float64Array(points.n)
  for (let i = 0; i < points.n; i++) {
    const x = rowOf(points, i)
    for (let j = 0; j < points.n; j++) row[j] = sqDistMany(x, norms[i], rowOf(points, j), norms[j])
    const sorted = Array.from(row).sort((a, b) => a - b)
    // sklearn's float32 ArgKmin keeps squared distances as float32, then takes the square root.
    kth[i] = Math.sqrt(Math.fround(Math.max(sorted[k - 1], 0)))
  }
  // sklearn sums per batch of 500 rows with numpy, then divides once.
  let total = 0
  for (let s = 0; s < points.n; s += 500) total += numpySum(kth, s, Math.min(500, points.n - s))
  return Either.right({ bandwidth: total / points.n, k })
}

export interface MeanShiftOptions {
  readonly bandwidth: number
  readonly binSeeding?: boolean
  readonly minBinFreq?: number
  readonly clusterAll?: boolean
  readonly maxIter?: number
}

export interface MeanShiftResult {
  readonly centres: ReadonlyArray<Float32Array>
  /** Cluster id per point; -1 for orphans when clusterAll is false. */
  readonly labels: Int32Array
  /** Points within the bandwidth of each centre when it converged. */
  readonly intensities: ReadonlyArray<number>
  readonly nIter: number
  /** Seeds that had no point within the bandwidth (their points are assigned to the nearest other centre). */
  readonly emptySeeds: number
}

/** Indices of fitted rows within `radius` of the query, in row order (sklearn's radius_neighbors, unsorted). */
const radiusNeighbours = (q: Float32Array, fitted: Points, norms: Float64Array, r2: number): Array<number> => {
  const qn = sqNorm(q)
  const out: Array<number> = []
  for (let j = 0; j < fitted.n; j++) {
    if (sqDistOneQuery(q, qn, rowOf(fitted, j), norms[j], j, fitted.n) <= r2) out.push(j)
  }
  return out
}

/** np.mean(X[idx], axis=0) for float32 X: rows added in order in float32, then divided in float32. */
const float32Mean = (points: Points, idx: ReadonlyArray<number>): Float32Array => {
  const out = new Float32Array(points.d)
  out.set(rowOf(points, idx[0]))
  for (let t = 1; t < idx.length; t++) {
    const r = rowOf(points, idx[t])
    for (let k = 0; k < points.d; k++) out[k] = Math.fround(out[k] + r[k])
  }
  for (let k = 0; k < points.d; k++) out[k] = Math.fround(out[k] / idx.length)
  return out
}

const distance = (a: Float32Array, b: Float32Array): number => {
  let s = 0
  for (let k = 0; k < a.length; k++) {
    const d = Math.fround(a[k] - b[k])
    s += d * d
  }
  return Math.sqrt(s)
}

/** sklearn's get_bin_seeds: points rounded onto a grid of `binSize`, bins with at least minBinFreq points. */
export const binSeeds = (points: Points, binSize: number, minBinFreq: number): ReadonlyArray<Float32Array> | "all-points" => {
  if (binSize === 0) return "all-points"
  const bins = new Map<string, { readonly bin: Float32Array; count: number }>()
  for (let i = 0; i < points.n; i++) {
    const r = rowOf(points, i)
    const bin = new Float32Array(points.d)
    for (let k = 0; k < points.d; k++) bin[k] = roundHalfEven(Math.fround(r[k] / binSize))
    const key = bin.join(",")
    const b = bins.get(key)
    if (b === undefined) bins.set(key, { bin, count: 1 })
    else b.count++
  }
  const seeds = [...bins.values()].filter((b) => b.count >= minBinFreq)
  if (seeds.length === points.n) return "all-points"
  return seeds.map((b) => b.bin.map((v) => Math.fround(v * binSize)))
}

const roundHalfEven = (v: number): number => {
  const f = Math.floor(v)
  const diff = v - f
  if (diff > 0.5) return f + 1
  if (diff < 0.5) return f
  return f % 2 === 0 ? f : f + 1
}

const compareTuplesDesc = (a: Float32Array, b: Float32Array): number => {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k] > b[k] ? -1 : 1
  return 0
}

export const meanShift = (points: Points, options: MeanShiftOptions): Either.Either<MeanShiftResult, MeanShiftError> => {
  const bandwidth = options.bandwidth
  const maxIter = options.maxIter ?? 300
  const clusterAll = options.clusterAll ?? true
  if (!(bandwidth >= 0) || !Number.isFinite(bandwidth)) return Either.left(new MeanShiftError({ message: `bandwidth must be a finite number >= 0, got ${bandwidth}` }))
  if (points.n === 0) return Either.left(new MeanShiftError({ message: "no points to cluster" }))
  const binned = options.binSeeding ? binSeeds(points, bandwidth, options.minBinFreq ?? 1) : "all-points"
  const seeds: ReadonlyArray<Float32Array> =
    binned === "all-points" ? Array.from({ length: points.n }, (_, i) => rowOf(points, i)) : binned
  const norms = rowNorms(points)
  const r2 = bandwidth * bandwidth
  const stopThresh = 1e-3 * bandwidth

  // center_intensity_dict: insertion-ordered, keyed by the exact float32 coordinates.
  const found = new Map<string, { readonly centre: Float32Array; intensity: number }>()
  let nIter = 0
  let emptySeeds = 0
  for (const seed of seeds) {
    let mean: Float32Array = seed
    let completed = 0
    let within: Array<number> = []
    for (;;) {
      within = radiusNeighbours(mean, points, norms, r2)
      if (within.length === 0) break
      const old = mean
      mean = float32Mean(points, within)
      if (distance(mean, old) <= stopThresh || completed === maxIter) break
      completed++
    }
    nIter = Math.max(nIter, completed)
    if (within.length === 0) {
      emptySeeds++
      continue
    }
    const key = mean.join(",")
    const prev = found.get(key)
    if (prev === undefined) found.set(key, { centre: mean, intensity: within.length })
    else prev.intensity = within.length
  }
  if (found.size === 0) {
    return Either.left(new MeanShiftError({ message: `no point was within bandwidth=${bandwidth} of any seed; increase the bandwidth or the quantile` }))
  }

  const ranked = [...found.values()].sort((a, b) => b.intensity - a.intensity || compareTuplesDesc(a.centre, b.centre))
  const sortedCentres: Points = {
    n: ranked.length,
    d: points.d,
    data: (() => {
      const data = new Float32Array(ranked.length * points.d)
      ranked.forEach((r, i) => data.set(r.centre, i * points.d))
      return data
    })(),
  }
  const centreNorms = rowNorms(sortedCentres)
  const unique = new Array<boolean>(ranked.length).fill(true)
  for (let i = 0; i < ranked.length; i++) {
    if (!unique[i]) continue
    for (const j of radiusNeighbours(rowOf(sortedCentres, i), sortedCentres, centreNorms, r2)) unique[j] = false
    unique[i] = true
  }
  const kept = ranked.flatMap((r, i) => (unique[i] ? [r] : []))
  const centres = kept.map((r) => r.centre)
  const keptNorms = centres.map(sqNorm)

  const labels = new Int32Array(points.n)
  for (let i = 0; i < points.n; i++) {
    const x = rowOf(points, i)
    let best = 0
    let bestD = Infinity
    for (let c = 0; c < centres.length; c++) {
      // float32 squared distances, as sklearn's kneighbors on float32 data: ties go to the lower centre id.
      const d2 = Math.fround(Math.max(sqDistMany(x, norms[i], centres[c], keptNorms[c]), 0))
      if (d2 < bestD) {
        bestD = d2
        best = c
      }
    }
    labels[i] = clusterAll || Math.sqrt(Math.max(bestD, 0)) <= bandwidth ? best : -1
  }
  return Either.right({ centres, labels, intensities: kept.map((r) => r.intensity), nIter, emptySeeds })
}
