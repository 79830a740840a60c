/**
 * Filterbanks and small numeric helpers for the built-in extractor. Everything here is precomputed once per sample
 * rate and FFT size; the per-frame work lives in builtin.ts.
 */

/** Periodic Hann window (the STFT convention: overlap-add of hop = n/4 is constant). */
export const hann = (n: number): Float64Array => {
  const w = new Float64Array(n)
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n)
  return w
}

/** A sparse row of a filterbank: weights for FFT bins [start, start + weights.length). */
export interface SparseFilter {
  readonly start: number
  readonly weights: Float64Array
}

const hzToMel = (hz: number): number => 2595 * Math.log10(1 + hz / 700)
const melToHz = (mel: number): number => 700 * (10 ** (mel / 2595) - 1)

/**
 * Triangular mel filters (HTK mel scale), area-normalised like librosa's `norm="slaney"`: a flat (white) power
 * spectrum gives the same value in every band, which is what makes mel-band flatness meaningful.
 */
export const melFilterbank = (sampleRate: number, nFft: number, nMels: number, fmin: number, fmax: number): ReadonlyArray<SparseFilter> => {
  const nBins = nFft / 2 + 1
  const binHz = sampleRate / nFft
  const lo = hzToMel(fmin)
  const hi = hzToMel(fmax)
  const edges = Array.from({ length: nMels + 2 }, (_, i) => melToHz(lo + ((hi - lo) * i) / (nMels + 1)))
  const filters: Array<SparseFilter> = []
  for (let m = 0; m < nMels; m++) {
    const [left, center, right] = [edges[m], edges[m + 1], edges[m + 2]]
    const norm = 2 / (right - left)
    const first = Math.max(0, Math.ceil(left / binHz))
    const last = Math.min(nBins - 1, Math.floor(right / binHz))
    const weights: Array<number> = []
    for (let k = first; k <= last; k++) {
      const f = k * binHz
      const w = f <= center ? (f - left) / (center - left) : (right - f) / (right - center)
      weights.push(Math.max(0, w) * norm * binHz)
    }
    // A band narrower than one bin still gets the nearest bin, so no band is structurally empty.
    if (weights.every((w) => w === 0)) filters.push({ start: Math.min(nBins - 1, Math.round(center / binHz)), weights: Float64Array.of(1) })
    else filters.push({ start: first, weights: Float64Array.from(weights) })
  }
  return filters
}

/** Orthonormal DCT-II matrix (nOut x nIn, row-major), as scipy's `dct(type=2, norm="ortho")` used for MFCCs. */
export const dctMatrix = (nOut: number, nIn: number): Float64Array => {
  const m = new Float64Array(nOut * nIn)
  for (let k = 0; k < nOut; k++) {
    const scale = k === 0 ? Math.sqrt(1 / nIn) : Math.sqrt(2 / nIn)
    for (let n = 0; n < nIn; n++) m[k * nIn + n] = scale * Math.cos((Math.PI * k * (2 * n + 1)) / (2 * nIn))
  }
  return m
}

/**
 * Pitch-class weights per FFT bin: each bin between `fmin` and `fmax` is split between the two nearest pitch classes
 * by its distance in semitones (A4 = 440 Hz; class 0 = C). Bins outside the range have weight 0.
 */
export interface ChromaMap {
  readonly lower: Int32Array
  readonly lowerWeight: Float64Array
  readonly upper: Int32Array
  readonly upperWeight: Float64Array
  /** First and last bin (inclusive) with any weight. */
  readonly first: number
  readonly last: number
}

export const chromaMap = (sampleRate: number, nFft: number, fmin: number, fmax: number): ChromaMap => {
  const nBins = nFft / 2 + 1
  const lower = new Int32Array(nBins)
  const upper = new Int32Array(nBins)
  const lowerWeight = new Float64Array(nBins)
  const upperWeight = new Float64Array(nBins)
  let first = nBins
  let last = -1
  for (let k = 0; k < nBins; k++) {
    const f = (k * sampleRate) / nFft
    if (f < fmin || f > fmax) continue
    const midi = 69 + 12 * Math.log2(f / 440)
    const below = Math.floor(midi)
    const frac = midi - below
    lower[k] = ((below % 12) + 12) % 12
    lowerWeight[k] = 1 - frac
    upper[k] = (((below + 1) % 12) + 12) % 12
    upperWeight[k] = frac
    first = Math.min(first, k)
    last = k
  }
  return { lower, lowerWeight, upper, upperWeight, first, last }
}

/** Octave sub-bands for spectral contrast (librosa's layout): [0, fmin), then octaves from fmin, the last up to Nyquist. */
export const contrastBands = (sampleRate: number, nFft: number, nBands: number, fmin: number): ReadonlyArray<readonly [number, number]> => {
  const nBins = nFft / 2 + 1
  const binHz = sampleRate / nFft
  const bands: Array<readonly [number, number]> = []
  for (let b = 0; b <= nBands; b++) {
    const lowHz = b === 0 ? 0 : fmin * 2 ** (b - 1)
    const highHz = b === nBands ? sampleRate / 2 : fmin * 2 ** b
    const start = Math.min(nBins - 1, Math.round(lowHz / binHz))
    const end = Math.max(start + 1, Math.min(nBins, Math.round(highHz / binHz) + (b === nBands ? 1 : 0)))
    bands.push([start, end])
  }
  return bands
}

/** Linear-interpolated percentile (numpy's default) of an ascending-sorted array. */
export const percentileSorted = (sorted: Float64Array, n: number, q: number): number => {
  if (n === 0) return 0
  const pos = (q / 100) * (n - 1)
  const lo = Math.floor(pos)
  const hi = Math.min(n - 1, lo + 1)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
}

/**
 * Partially orders a[lo..hi) so that a[k] holds the value it would have if sorted, everything before it is <= and
 * everything after >= (quickselect, median-of-three pivot). Spectral contrast needs only the extreme 2% of each band;
 * this is linear where a full sort was most of the extractor's time.
 */
export const selectInPlace = (a: Float64Array, lo: number, hi: number, k: number): void => {
  let left = lo
  let right = hi - 1
  while (right > left) {
    const mid = (left + right) >> 1
    // Median of three as pivot, moved to `right`.
    if (a[mid] < a[left]) swap(a, mid, left)
    if (a[right] < a[left]) swap(a, right, left)
    if (a[mid] < a[right]) swap(a, mid, right)
    const pivot = a[right]
    let store = left
    for (let i = left; i < right; i++) {
      if (a[i] < pivot) {
        swap(a, i, store)
        store++
      }
    }
    swap(a, store, right)
    if (store === k) return
    if (store < k) left = store + 1
    else right = store - 1
  }
}

const swap = (a: Float64Array, i: number, j: number): void => {
  const t = a[i]
  a[i] = a[j]
  a[j] = t
}
