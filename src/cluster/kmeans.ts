/** k-means (ml-kmeans, k-means++ initialisation), seeded so the same inputs give the same clusters. */
import { Data, Effect } from "effect"
import { importModule } from "../util/lazy.ts"

export class KMeansError extends Data.TaggedError("KMeansError")<{ readonly message: string }> {}

export interface KMeansResult {
  readonly labels: Int32Array
  readonly centres: ReadonlyArray<Float64Array>
  readonly iterations: number
  readonly converged: boolean
}

/** An Effect because ml-kmeans (with ml-matrix) takes ~250 ms to load: it is imported only when k-means actually runs. */
export const kMeans = (rows: ReadonlyArray<ArrayLike<number>>, k: number, seed: number, maxIterations = 300): Effect.Effect<KMeansResult, KMeansError> =>
  Effect.gen(function* () {
    if (!Number.isInteger(k) || k < 1) return yield* Effect.fail(new KMeansError({ message: `k must be a positive integer, got ${k}` }))
    if (k > rows.length) return yield* Effect.fail(new KMeansError({ message: `k = ${k} exceeds the number of points (${rows.length})` }))
    const { kmeans } = yield* Effect.tryPromise({
      try: () => importModule<typeof import("ml-kmeans")>("ml-kmeans"),
      catch: (e) => new KMeansError({ message: `cannot load ml-kmeans: ${e instanceof Error ? e.message : String(e)}` }),
    })
    return run(kmeans, rows, k, seed, maxIterations)
  })

const run = (
  mlKmeans: typeof import("ml-kmeans").kmeans,
  rows: ReadonlyArray<ArrayLike<number>>,
  k: number,
  seed: number,
  maxIterations: number,
): KMeansResult => {
  const data = rows.map((r) => Array.from(r))
  const result = mlKmeans(data, k, { seed, initialization: "kmeans++", maxIterations, tolerance: 1e-9 })
  // ml-kmeans numbers clusters by initialisation order; renumber by first appearance so ids read naturally.
  const order = new Map<number, number>()
  for (const c of result.clusters) if (!order.has(c)) order.set(c, order.size)
  for (let c = 0; c < k; c++) if (!order.has(c)) order.set(c, order.size)
  const centres: Array<Float64Array> = new Array(k)
  for (const [old, id] of order) centres[id] = Float64Array.from(result.centroids[old])
  return {
    labels: Int32Array.from(result.clusters, (c) => order.get(c)!),
    centres,
    iterations: result.iterations,
    converged: result.converged,
  }
}
