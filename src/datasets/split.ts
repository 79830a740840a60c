/**
 * The seeded 80/10/10 split for data sets without an official one. Each track's place depends only on (seed, id), so
 * adding or removing a track moves no other track between splits except at the boundaries.
 */
import type { Split } from "./types.ts"

/** FNV-1a over the UTF-16 code units of `seed:id`, then a murmur3 finaliser for avalanche. */
export const hashId = (seed: number, id: string): number => {
  let h = 0x811c9dc5
  const s = `${seed}:${id}`
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Exactly round(0.8 n) train and round(0.1 n) validation tracks, the rest test. With `minimum`, validation and test
 * get at least that many tracks each (taken from train) where there are enough tracks.
 */
export const seededSplit = (ids: ReadonlyArray<string>, seed: number, minimum = 0): Map<string, Split> => {
  const order = [...ids].sort((a, b) => hashId(seed, a) - hashId(seed, b) || (a < b ? -1 : a > b ? 1 : 0))
  const floor = ids.length >= 3 ? minimum : 0
  const nValidation = Math.max(floor, Math.round(0.1 * ids.length))
  const nTrain = Math.min(Math.round(0.8 * ids.length), ids.length - nValidation - floor)
  const out = new Map<string, Split>()
  order.forEach((id, i) => out.set(id, i < nTrain ? "train" : i < nTrain + nValidation ? "validation" : "test"))
  return out
}
