/**
 * A seeded PRNG (sfc32), so training is reproducible bit for bit. Independent streams (weight init, shuffling,
 * dropout, target sampling) are derived from the seed and a stream name, so changing how one stream is consumed
 * does not shift the others.
 */
/** fillMask's native kernel: the state (4 x int32) is read and advanced. */
export type MaskKernel = (out: Float32Array | Float64Array, state: Int32Array, block: number, threshold: number, keep: number) => void

export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number
  private scratch: Int32Array | undefined

  constructor(seed: number, stream = "") {
    // Mix seed and stream name into four words with a string hash (cyrb128).
    const text = `${seed}:${stream}`
    let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762
    for (let i = 0; i < text.length; i++) {
      const k = text.charCodeAt(i)
      h1 = h2 ^ Math.imul(h1 ^ k, 597399067)
      h2 = h3 ^ Math.imul(h2 ^ k, 2869860233)
      h3 = h4 ^ Math.imul(h3 ^ k, 951274213)
      h4 = h1 ^ Math.imul(h4 ^ k, 2716044179)
    }
    h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067)
    h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233)
    h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213)
    h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179)
    this.a = (h1 ^ h2 ^ h3 ^ h4) >>> 0
    this.b = (h2 ^ h1) >>> 0
    this.c = (h3 ^ h1) >>> 0
    this.d = (h4 ^ h1) >>> 0
    for (let i = 0; i < 12; i++) this.u32()
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Fills `out` with the next out.length values of u32(), with the state in locals (several times faster). */
  fillU32(out: Uint32Array): void {
    // `| 0`: the fields hold uint32 values (doubles to V8); int32 locals keep the whole loop in integer registers (~4x).
    let a = this.a | 0
    let b = this.b | 0
    let c = this.c | 0
    let d = this.d | 0
    for (let i = 0; i < out.length; i++) {
      const t = (((a + b) | 0) + d) | 0
      d = (d + 1) | 0
      a = b ^ (b >>> 9)
      b = (c + (c << 3)) | 0
      c = (c << 21) | (c >>> 11)
      c = (c + t) | 0
      out[i] = t >>> 0
    }
    this.a = a
    this.b = b
    this.c = c
    this.d = d
  }

  /**
   * Dropout in place: for each run of `block` entries, one draw; the run is 0 where the draw is below `threshold`, else
   * `keep`. The same draws, in the same order, as fillU32 over out.length / block values. `kernel` (mea's native
   * one, src/native/mea-native.c) computes the same values about 3x faster.
   */
  fillMask(out: Float32Array | Float64Array, block: number, threshold: number, keep: number, kernel?: MaskKernel): void {
    if (kernel !== undefined) {
      const s = (this.scratch ??= new Int32Array(4))
      s[0] = this.a
      s[1] = this.b
      s[2] = this.c
      s[3] = this.d
      kernel(out, s, block, threshold, keep)
      this.a = s[0] >>> 0
      this.b = s[1] >>> 0
      this.c = s[2] >>> 0
      this.d = s[3] >>> 0
      return
    }
    let a = this.a | 0
    let b = this.b | 0
    let c = this.c | 0
    let d = this.d | 0
    // u < threshold, for a uint32 u, is u < ceil(threshold); flipping the sign bit of both sides turns that into an
    // int32 comparison, which keeps the loop free of doubles.
    const bound = Math.min(Math.ceil(threshold), 4294967295)
    const flipped = (bound - 2147483648) | 0
    const all = bound === 4294967295 && threshold > 4294967295
    if (block === 1) {
      for (let i = 0; i < out.length; i++) {
        const t = (((a + b) | 0) + d) | 0
        d = (d + 1) | 0
        a = b ^ (b >>> 9)
        b = (c + (c << 3)) | 0
        c = (c << 21) | (c >>> 11)
        c = (c + t) | 0
        out[i] = all || (t ^ -2147483648) < flipped ? 0 : keep
      }
    } else {
      for (let start = 0; start < out.length; start += block) {
        const t = (((a + b) | 0) + d) | 0
        d = (d + 1) | 0
        a = b ^ (b >>> 9)
        b = (c + (c << 3)) | 0
        c = (c << 21) | (c >>> 11)
        c = (c + t) | 0
        out.fill(all || (t ^ -2147483648) < flipped ? 0 : keep, start, start + block)
      }
    }
    this.a = a
    this.b = b
    this.c = c
    this.d = d
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(a: Array<T> | Int32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = a[i]
      a[i] = a[j]
      a[j] = t
    }
  }

  /** `k` distinct items of `pool` (all of them when the pool is smaller), in random order. */
  sample<T>(pool: ReadonlyArray<T>, k: number): Array<T> {
    const copy = [...pool]
    const n = Math.min(k, copy.length)
    for (let i = 0; i < n; i++) {
      const j = i + this.int(copy.length - i)
      const t = copy[i]
      copy[i] = copy[j]
      copy[j] = t
    }
    return copy.slice(0, n)
  }
}
