/** A small seeded PRNG (mulberry32): the demo data must be the same bytes for the same seed on every machine. */
import { hashId } from "../split.ts"

export interface Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number
  readonly uniform: (lo: number, hi: number) => number
  readonly int: (lo: number, hiInclusive: number) => number
  readonly normal: () => number
  readonly pick: <T>(xs: ReadonlyArray<T>) => T
}

export const rng = (seed: number, stream: string): Rng => {
  let a = hashId(seed, stream)
  const next = () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * next()
  return {
    next,
    uniform,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
  }
}
