/**
 * Squared Euclidean distances computed the way scikit-learn 1.2's pairwise-distance reductions compute them for
 * float32 data on OpenBLAS (Haswell kernels): ||x||² + (-2 x·y) + ||y||², each term a float64 dot product of float32
 * values, summed in the order the BLAS kernels sum.
 *
 * Why emulate rounding at all: on the reference's label embeddings the estimated MeanShift bandwidth is ~2.7e-8, i.e.
 * made of rounding noise (the distance of a point to itself), and which seeds survive depends on whether that noise
 * for a point lands above or below the bandwidth. Exact arithmetic would give bandwidth 0 and a different partition.
 * The orders below were measured against sklearn 1.2.1 + OpenBLAS 0.3.21 (Haswell kernels) and reproduce its
 * bandwidths bit for bit and its partitions exactly at dimensions 384 and 768 (checked up to 520 points, across
 * sklearn's 256-row chunks). At dimensions whose K blocks are not multiples of 16 (e.g. 100) the one-row kernel's tail
 * order is not modelled: bandwidths still match, but a partition made by a ~0 bandwidth can differ from sklearn's.
 *
 * Products of float32 values are exact in float64, so a fused multiply-add equals multiply-then-add here.
 * kneighbors (ArgKmin) on float32 data also keeps the squared distances as float32; callers round with Math.fround.
 */

/** A row-major float32 matrix. */
export interface Points {
  readonly n: number
  readonly d: number
  readonly data: Float32Array
}

export const pointsOf = (rows: ReadonlyArray<ArrayLike<number>>): Points => {
  const n = rows.length
  const d = n === 0 ? 0 : rows[0].length
  const data = new Float32Array(n * d)
  rows.forEach((r, i) => {
    if (r.length !== d) throw new Error(`row ${i} has ${r.length} values, expected ${d}`)
    for (let k = 0; k < d; k++) data[i * d + k] = r[k]
  })
  return { n, d, data }
}

export const rowOf = (p: Points, i: number): Float32Array => p.data.subarray(i * p.d, (i + 1) * p.d)

/** OpenBLAS ddot (Haswell micro-kernel): 4 vector accumulators of 4 lanes over blocks of 16, then the tail. */
export const sqNorm = (x: Float32Array): number => {
  const n = x.length
  const n1 = n & -16
  const acc = new Float64Array(16)
  for (let i = 0; i < n1; i += 16) {
    for (let j = 0; j < 16; j++) {
      const v = x[i + j]
      acc[j] += v * v
    }
  }
  // acc[4r + l]: register r, lane l. High 128 bits folded onto low, registers paired, then the horizontal add.
  const a = (r: number, l: number) => acc[4 * r + l] + acc[4 * r + l + 2]
  const b0 = a(0, 0) + a(1, 0)
  const b1 = a(0, 1) + a(1, 1)
  const c0 = a(2, 0) + a(3, 0)
  const c1 = a(2, 1) + a(3, 1)
  let dot = (b0 + c0) + (b1 + c1)
  for (let i = n1; i < n; i++) dot += x[i] * x[i]
  return dot
}

const GEMM_Q = 256
const GEMM_UNROLL_M = 4

/** OpenBLAS level-3 driver's split of the inner dimension K into blocks (each block a separate kernel call). */
export const kBlocks = (k: number): ReadonlyArray<readonly [number, number]> => {
  const out: Array<readonly [number, number]> = []
  for (let ls = 0; ls < k; ) {
    let minL = k - ls
    if (minL >= GEMM_Q * 2) minL = GEMM_Q
    else if (minL > GEMM_Q) minL = Math.floor((Math.floor(minL / 2) + GEMM_UNROLL_M - 1) / GEMM_UNROLL_M) * GEMM_UNROLL_M
    out.push([ls, ls + minL])
    ls += minL
  }
  return out
}

const blockCache = new Map<number, ReadonlyArray<readonly [number, number]>>()
const blocksFor = (k: number) => {
  let b = blockCache.get(k)
  if (b === undefined) {
    b = kBlocks(k)
    blockCache.set(k, b)
  }
  return b
}

/** x·y as dgemm computes one element of a many-row product: per K block a sequential sum. */
const dotGemm = (x: Float32Array, y: Float32Array): number => {
  let c = 0
  for (const [s, e] of blocksFor(x.length)) {
    let acc = 0
    for (let k = s; k < e; k++) acc += x[k] * y[k]
    c += acc
  }
  return c
}

/** x·y as dgemm computes it for a one-row query inside a full 4-row tile: 4 lanes per K block, pairwise horizontal add. */
const dotGemmLanes = (x: Float32Array, y: Float32Array): number => {
  let c = 0
  for (const [s, e] of blocksFor(x.length)) {
    let a0 = 0
    let a1 = 0
    let a2 = 0
    let a3 = 0
    let k = s
    for (; k + 4 <= e; k += 4) {
      a0 += x[k] * y[k]
      a1 += x[k + 1] * y[k + 1]
      a2 += x[k + 2] * y[k + 2]
      a3 += x[k + 3] * y[k + 3]
    }
    let block = (a0 + a1) + (a2 + a3)
    for (; k < e; k++) block += x[k] * y[k]
    c += block
  }
  return c
}

/** Squared distance as sklearn's ArgKmin (kneighbors) computes it: many query rows at once. */
export const sqDistMany = (x: Float32Array, xNorm: number, y: Float32Array, yNorm: number): number =>
  xNorm + -2 * dotGemm(x, y) + yNorm

/** sklearn's chunk of fitted rows per reduction step. */
export const Y_CHUNK = 256

/**
 * Squared distance as sklearn's RadiusNeighbors computes it for a single query row against fitted row `j` of `m`
 * fitted rows: rows of a full 4-row tile within their chunk use the lane kernel, the chunk's last m % 4 rows do not.
 */
export const sqDistOneQuery = (x: Float32Array, xNorm: number, y: Float32Array, yNorm: number, j: number, m: number): number => {
  const chunkStart = Math.floor(j / Y_CHUNK) * Y_CHUNK
  const chunkRows = Math.min(Y_CHUNK, m - chunkStart)
  const inFullTile = j - chunkStart < chunkRows - (chunkRows % 4)
  return xNorm + -2 * (inFullTile ? dotGemmLanes(x, y) : dotGemm(x, y)) + yNorm
}

export const rowNorms = (p: Points): Float64Array => {
  const out = new Float64Array(p.n)
  for (let i = 0; i < p.n; i++) out[i] = sqNorm(rowOf(p, i))
  return out
}

/** numpy's pairwise summation of a contiguous float64 array (np.sum). */
export const numpySum = (a: ArrayLike<number>, start = 0, n = a.length): number => {
  if (n < 8) {
    let res = 0
    for (let i = 0; i < n; i++) res += a[start + i]
    return res
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0].map((_, j) => a[start + j])
    let i = 8
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[start + i + j]
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for (; i < n; i++) res += a[start + i]
    return res
  }
  let n2 = Math.floor(n / 2)
  n2 -= n2 % 8
  return numpySum(a, start, n2) + numpySum(a, start + n2, n - n2)
}
