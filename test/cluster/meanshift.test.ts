import { Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import { binSeeds, estimateBandwidth, meanShift, MeanShiftError } from "../../src/cluster/meanshift.ts"
import { kBlocks, numpySum, pointsOf, sqNorm } from "../../src/cluster/sklearn-distance.ts"

const messageOf = <A>(r: Either.Either<A, MeanShiftError>): string => Option.getOrThrow(Either.getLeft(r)).message

// scikit-learn's own docstring example (answers checked against sklearn 1.2.1).
const X = pointsOf([
  [1, 1],
  [2, 1],
  [1, 0],
  [4, 7],
  [3, 5],
  [3, 6],
])

describe("estimate_bandwidth", () => {
  it("is the mean distance to the k-th neighbour, the point itself first", () => {
    // k = 3: distances to the 3rd nearest (self, then two others).
    expect(Either.getOrThrow(estimateBandwidth(X, 0.5))).toEqual({ bandwidth: 1.6191294403531442, k: 3 })
  })
  it("is 0 when k = floor(n x quantile) <= 1 picks the point itself", () => {
    expect(Either.getOrThrow(estimateBandwidth(X, 0.3))).toEqual({ bandwidth: 0, k: 1 })
    expect(Either.getOrThrow(estimateBandwidth(X, 0))).toEqual({ bandwidth: 0, k: 1 })
  })
  it("min_neighbours lifts k above sklearn's", () => {
    const r = Either.getOrThrow(estimateBandwidth(X, 0.3, 2))
    expect(r.k).toBe(2)
    // nearest other point: 1 for every point but (4, 7), whose is (3, 6) at sqrt(2)
    expect(r.bandwidth).toBeCloseTo((5 + Math.SQRT2) / 6, 12)
  })
  it("rejects a quantile outside [0, 1]", () => {
    expect(Either.getLeft(estimateBandwidth(X, 1.5)).pipe(Option.getOrThrow)).toBeInstanceOf(MeanShiftError)
  })
})

describe("meanShift", () => {
  it("finds sklearn's two blobs, centres ranked by intensity then coordinates", () => {
    const r = Either.getOrThrow(meanShift(X, { bandwidth: 2 }))
    expect(Array.from(r.labels)).toEqual([1, 1, 1, 0, 0, 0])
    expect(r.centres.map((c) => Array.from(c))).toEqual([
      [Math.fround(10 / 3), 6],
      [Math.fround(4 / 3), Math.fround(2 / 3)],
    ])
    expect(r.intensities).toEqual([3, 3])
    expect(r.nIter).toBe(2)
  })
  it("with bandwidth 0 every point is its own cluster, ordered by coordinates descending", () => {
    const r = Either.getOrThrow(meanShift(X, { bandwidth: 0 }))
    expect(r.centres.map((c) => Array.from(c))).toEqual([
      [4, 7],
      [3, 6],
      [3, 5],
      [2, 1],
      [1, 1],
      [1, 0],
    ])
    expect(Array.from(r.labels)).toEqual([4, 3, 5, 0, 2, 1])
  })
  const Y = pointsOf([
    [0, 0],
    [0, 1],
    [1, 0],
    [10, 10],
  ])
  it("bin seeding with min_bin_freq drops lone points; cluster_all decides whether orphans join", () => {
    expect(binSeeds(Y, 2, 2)).toEqual([new Float32Array([0, 0])])
    const all = Either.getOrThrow(meanShift(Y, { bandwidth: 2, binSeeding: true, minBinFreq: 2 }))
    expect(all.centres.map((c) => Array.from(c))).toEqual([[Math.fround(1 / 3), Math.fround(1 / 3)]])
    expect(Array.from(all.labels)).toEqual([0, 0, 0, 0])
    const orphans = Either.getOrThrow(meanShift(Y, { bandwidth: 2, binSeeding: true, minBinFreq: 2, clusterAll: false }))
    expect(Array.from(orphans.labels)).toEqual([0, 0, 0, -1])
  })
  it("merges near-duplicate centres into the more intense one", () => {
    // A dense triple and a point 1.5 away: its seed climbs to its own mean, within the bandwidth of the triple's.
    const Z = pointsOf([
      [0, 0],
      [0.1, 0],
      [0, 0.1],
      [1.5, 0],
    ])
    const r = Either.getOrThrow(meanShift(Z, { bandwidth: 1 }))
    expect(r.centres.length).toBe(2)
    const one = Either.getOrThrow(meanShift(Z, { bandwidth: 1.6 }))
    expect(one.centres.length).toBe(1)
    expect(Array.from(one.labels)).toEqual([0, 0, 0, 0])
  })
  it("fails clearly when no seed has a point within the bandwidth, or on bad input", () => {
    expect(messageOf(meanShift(pointsOf([]), { bandwidth: 1 }))).toMatch(/no points/)
    expect(messageOf(meanShift(X, { bandwidth: -1 }))).toMatch(/bandwidth must be/)
    expect(messageOf(meanShift(X, { bandwidth: 1, binSeeding: true, minBinFreq: 9 }))).toMatch(/no point was within/)
  })
})

describe("sklearn rounding emulation", () => {
  it("splits K as OpenBLAS's level-3 driver does", () => {
    expect(kBlocks(384)).toEqual([
      [0, 192],
      [192, 384],
    ])
    expect(kBlocks(100)).toEqual([[0, 100]])
    expect(kBlocks(600)).toEqual([
      [0, 256],
      [256, 428],
      [428, 600],
    ])
  })
  it("row norms and numpy sums equal exact sums on exactly representable values", () => {
    const v = Float32Array.from({ length: 37 }, (_, i) => i - 18)
    expect(sqNorm(v)).toBe(Array.from(v).reduce((s, x) => s + x * x, 0))
    const a = Array.from({ length: 300 }, (_, i) => i)
    expect(numpySum(a)).toBe((299 * 300) / 2)
  })
  it("numpy's pairwise sum differs from a running sum where numpy's does (8 accumulators)", () => {
    // 1 + 8 x 2^-53: a running sum loses every 2^-53; numpy's 8 accumulators add them up in one lane first.
    const a = [1, ...new Array(15).fill(2 ** -53)]
    const running = a.reduce((s, x) => s + x, 0)
    expect(running).toBe(1)
    expect(numpySum(a)).toBeGreaterThan(1)
  })
})
