/**
 * Multi-data-set batching, as Lightning's CombinedLoader does it with one shuffled DataLoader per training data set
 * (drop_last off):
 *   max_size_cycle: an epoch has as many steps as the longest data set has batches; each step takes one batch from
 *                   every data set, shorter ones starting over (freshly shuffled) when they run out.
 *   max_size:       the same number of steps, but a data set that has run out sits the remaining steps out.
 * Upsampling repeats a data set's rows `factor` times in its pool, once (the original applied it twice).
 */
import type { Rng } from "./rng.ts"

export type BatchingMode = "max_size_cycle" | "max_size"

export interface StepBatch {
  readonly dataset: number
  /** Indices into that data set's rows. */
  readonly rows: Int32Array
}

/** Row indices of a data set of `n` rows, each repeated `factor` times (factor a positive integer). */
export const upsampledPool = (n: number, factor: number): Int32Array => {
  const pool = new Int32Array(n * factor)
  for (let r = 0; r < factor; r++) for (let i = 0; i < n; i++) pool[r * n + i] = i
  return pool
}

const shuffledBatches = (pool: Int32Array, batch: number, rng: Rng): Array<Int32Array> => {
  const order = Int32Array.from(pool)
  rng.shuffle(order)
  const out: Array<Int32Array> = []
  for (let s = 0; s < order.length; s += batch) out.push(order.subarray(s, Math.min(order.length, s + batch)))
  return out
}

/** One epoch's steps; each step lists the batches of the data sets taking part in it. */
export const planEpoch = (pools: ReadonlyArray<Int32Array>, batch: number, mode: BatchingMode, rng: Rng): Array<Array<StepBatch>> => {
  const batches = pools.map((p) => shuffledBatches(p, batch, rng))
  const steps = Math.max(0, ...batches.map((b) => b.length))
  const plan: Array<Array<StepBatch>> = []
  const cursor = pools.map(() => 0)
  for (let s = 0; s < steps; s++) {
    const step: Array<StepBatch> = []
    for (let d = 0; d < pools.length; d++) {
      if (batches[d].length === 0) continue
      if (cursor[d] === batches[d].length) {
        if (mode === "max_size") continue
        batches[d] = shuffledBatches(pools[d], batch, rng)
        cursor[d] = 0
      }
      step.push({ dataset: d, rows: batches[d][cursor[d]++] })
    }
    plan.push(step)
  }
  return plan
}
