/**
 * Multi-data-set batching, as Lightning's CombinedLoader does it with one shuffled DataLoader per training data set
 * (drop_last off):
 *   max_size_cycle: an epoch has as many steps as the longest data set has batches; each step takes one batch from
 *                   every data set, shorter ones starting over (freshly shuffled) when they run out.
 *   max_size:       the same number of steps, but a data set that has run out sits the remaining steps out.
 * Upsampling repeats a data set's rows `factor` times in its pool, once (the original applied it twice).
 *
 * Order within a data set: a full random permutation, or for rows read from disk in blocks a block shuffle: the pool
 * is cut into runs of rows sharing a disk block, the runs are permuted, and the rows of every `window` consecutive runs
 * are permuted among themselves. A batch then touches at most 2 x `window` blocks, each read whole, instead of 256
 * scattered rows; every row still appears exactly as often as in the pool.
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

export interface BlockShuffle {
  /** Pool values v and w share a block when floor(v / blockRows) = floor(w / blockRows). */
  readonly blockRows: number
  /** Runs of a block shuffled together. */
  readonly window: number
}

/** The pool in block-shuffled order (see the top of this file). */
export const blockShuffle = (pool: Int32Array, b: BlockShuffle, rng: Rng): Int32Array => {
  const starts: Array<number> = []
  for (let i = 0; i < pool.length; i++) {
    if (i === 0 || Math.floor(pool[i] / b.blockRows) !== Math.floor(pool[i - 1] / b.blockRows) || pool[i] !== pool[i - 1] + 1) starts.push(i)
  }
  starts.push(pool.length)
  const runs = Int32Array.from({ length: starts.length - 1 }, (_, i) => i)
  rng.shuffle(runs)
  const order = new Int32Array(pool.length)
  let at = 0
  for (let w = 0; w < runs.length; w += b.window) {
    const from = at
    for (let k = w; k < Math.min(runs.length, w + b.window); k++) {
      const r = runs[k]
      order.set(pool.subarray(starts[r], starts[r + 1]), at)
      at += starts[r + 1] - starts[r]
    }
    rng.shuffle(order.subarray(from, at))
  }
  return order
}

const shuffledBatches = (pool: Int32Array, batch: number, rng: Rng, block?: BlockShuffle): Array<Int32Array> => {
  let order: Int32Array
  if (block === undefined) {
    order = Int32Array.from(pool)
    rng.shuffle(order)
  } else {
    order = blockShuffle(pool, block, rng)
  }
  const out: Array<Int32Array> = []
  for (let s = 0; s < order.length; s += batch) out.push(order.subarray(s, Math.min(order.length, s + batch)))
  return out
}

/** One epoch's steps; each step lists the batches of the data sets taking part in it. */
export const planEpoch = (
  pools: ReadonlyArray<Int32Array>,
  batch: number,
  mode: BatchingMode,
  rng: Rng,
  blocks: ReadonlyArray<BlockShuffle | undefined> = [],
): Array<Array<StepBatch>> => {
  const batches = pools.map((p, d) => shuffledBatches(p, batch, rng, blocks[d]))
  const steps = Math.max(0, ...batches.map((b) => b.length))
  const plan: Array<Array<StepBatch>> = []
  const cursor = pools.map(() => 0)
  for (let s = 0; s < steps; s++) {
    const step: Array<StepBatch> = []
    for (let d = 0; d < pools.length; d++) {
      if (batches[d].length === 0) continue
      if (cursor[d] === batches[d].length) {
        if (mode === "max_size") continue
        batches[d] = shuffledBatches(pools[d], batch, rng, blocks[d])
        cursor[d] = 0
      }
      step.push({ dataset: d, rows: batches[d][cursor[d]++] })
    }
    plan.push(step)
  }
  return plan
}
