/**
 * The built-in extractor: classic music descriptors that need no model weights, laid out as an L x D matrix per
 * segment like MERT's (layers x dim), so training and evaluation treat both extractors alike.
 *
 * Per STFT frame (Hann window of 2048 samples, hop 512, frames centred; 85 ms / 21 ms at 24 kHz) 87 descriptors are
 * computed (FRAME_COLUMNS). Each of the L = 13 "layers" is one statistic of those descriptors over the segment's
 * frames (STATISTICS). The last 5 columns (SEGMENT_COLUMNS: tempo, dynamics) describe the whole segment and are the
 * same in every layer. Units are chosen so no column dwarfs the others: log powers in log10 (= dB / 10), frequencies
 * as a fraction of Nyquist, tempo in BPM / 100.
 */
import type FFTType from "fft.js"
import { lazyRequire } from "../util/lazy.ts"
import { chromaMap, contrastBands, dctMatrix, hann, melFilterbank, percentileSorted, selectInPlace, type ChromaMap, type SparseFilter } from "./dsp.ts"
import { estimateTempo } from "./tempo.ts"

/** Loaded with the first extractor, not when the stage registry reads this module's constants. */
const FFT = lazyRequire<typeof FFTType>("fft.js")

export const N_FFT = 2048
export const HOP = 512
const N_MELS = 40
const N_MFCC = 20
const CHROMA_FMIN = 65
const CHROMA_FMAX = 4200
const CONTRAST_BANDS = 6
const CONTRAST_FMIN = 200
const CONTRAST_QUANTILE = 0.02
const ROLLOFF = 0.85
/** Floor for powers before a logarithm (librosa's amin), so silence gives finite numbers. */
const AMIN = 1e-10

const PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"] as const

export const FRAME_COLUMNS: ReadonlyArray<string> = [
  ...Array.from({ length: N_MELS }, (_, i) => `logmel_${String(i).padStart(2, "0")}`),
  ...Array.from({ length: N_MFCC }, (_, i) => `mfcc_${String(i).padStart(2, "0")}`),
  ...PITCH_CLASSES.map((p) => `chroma_${p}`),
  ...Array.from({ length: CONTRAST_BANDS + 1 }, (_, i) => `contrast_${i}`),
  "centroid",
  "bandwidth",
  "rolloff",
  "flatness",
  "flux",
  "onset_strength",
  "rms",
  "zcr",
]
export const SEGMENT_COLUMNS: ReadonlyArray<string> = ["tempo", "tempo_confidence", "onset_rate", "dynamic_range", "crest"]
export const COLUMNS: ReadonlyArray<string> = [...FRAME_COLUMNS, ...SEGMENT_COLUMNS]
export const STATISTICS: ReadonlyArray<string> = [
  "mean",
  "std",
  "min",
  "max",
  "p10",
  "p25",
  "median",
  "p75",
  "p90",
  "skewness",
  "kurtosis",
  "delta_mean_abs",
  "delta_std",
]
export const BUILTIN_LAYERS = STATISTICS.length
export const BUILTIN_DIM = COLUMNS.length

const col = (name: string): number => FRAME_COLUMNS.indexOf(name)
const C_MEL = 0
const C_MFCC = N_MELS
const C_CHROMA = N_MELS + N_MFCC
const C_CONTRAST = C_CHROMA + 12
const C_CENTROID = col("centroid")
const C_BANDWIDTH = col("bandwidth")
const C_ROLLOFF = col("rolloff")
const C_FLATNESS = col("flatness")
const C_FLUX = col("flux")
const C_ONSET = col("onset_strength")
const C_RMS = col("rms")
const C_ZCR = col("zcr")
const NF = FRAME_COLUMNS.length

/** Number of STFT frames for `n` samples (centred frames, one every HOP samples). */
export const frameCount = (n: number): number => 1 + Math.floor(n / HOP)

/** Precomputed tables and scratch buffers for one sample rate; `extract` is not re-entrant (one per thread). */
export class BuiltinExtractor {
  readonly frameRate: number
  private readonly fft = new (FFT())(N_FFT)
  private readonly window = hann(N_FFT)
  private readonly frame = new Float64Array(N_FFT)
  private readonly spectrum: Float64Array
  private readonly power = new Float64Array(N_FFT / 2 + 1)
  private readonly magnitude = new Float64Array(N_FFT / 2 + 1)
  private readonly prevNormMag = new Float64Array(N_FFT / 2 + 1)
  private readonly mel: ReadonlyArray<SparseFilter>
  private readonly melPower = new Float64Array(N_MELS)
  private readonly prevLogMel = new Float64Array(N_MELS)
  private readonly dct = dctMatrix(N_MFCC, N_MELS)
  private readonly chroma: ChromaMap
  private readonly chromaAcc = new Float64Array(12)
  private readonly contrast: ReadonlyArray<readonly [number, number]>
  private readonly scratch = new Float64Array(N_FFT / 2 + 1)
  private readonly binFreq: Float64Array

  constructor(readonly sampleRate: number) {
    this.frameRate = sampleRate / HOP
    this.spectrum = new Float64Array(this.fft.size * 2)
    this.mel = melFilterbank(sampleRate, N_FFT, N_MELS, 0, sampleRate / 2)
    this.chroma = chromaMap(sampleRate, N_FFT, CHROMA_FMIN, Math.min(CHROMA_FMAX, sampleRate / 2))
    this.contrast = contrastBands(sampleRate, N_FFT, CONTRAST_BANDS, CONTRAST_FMIN)
    this.binFreq = Float64Array.from({ length: N_FFT / 2 + 1 }, (_, k) => k / (N_FFT / 2))
  }

  /** Per-frame descriptors, frames x FRAME_COLUMNS (row-major). */
  frames(samples: Float32Array): { readonly data: Float64Array; readonly count: number } {
    const count = frameCount(samples.length)
    const data = new Float64Array(count * NF)
    this.prevNormMag.fill(0)
    for (let t = 0; t < count; t++) this.analyseFrame(samples, t, data.subarray(t * NF, (t + 1) * NF), t === 0)
    return { data, count }
  }

  /** The L x D matrix (row-major, float32) of one segment. */
  extract(samples: Float32Array): Float32Array {
    const { data, count } = this.frames(samples)
    const out = new Float32Array(BUILTIN_LAYERS * BUILTIN_DIM)
    const column = new Float64Array(count)
    for (let c = 0; c < NF; c++) {
      for (let t = 0; t < count; t++) column[t] = data[t * NF + c]
      const stats = statistics(column, count)
      for (let s = 0; s < BUILTIN_LAYERS; s++) out[s * BUILTIN_DIM + c] = stats[s]
    }
    const segment = this.segmentDescriptors(samples, data, count)
    for (let s = 0; s < BUILTIN_LAYERS; s++) out.set(segment, s * BUILTIN_DIM + NF)
    return out
  }

  private analyseFrame(samples: Float32Array, t: number, row: Float64Array, first: boolean): void {
    const n = samples.length
    const offset = t * HOP - N_FFT / 2
    let energy = 0
    let crossings = 0
    let prevSign = 0
    for (let i = 0; i < N_FFT; i++) {
      const j = offset + i
      const x = j >= 0 && j < n ? samples[j] : 0
      energy += x * x
      const sign = x > 0 ? 1 : x < 0 ? -1 : 0
      if (sign !== 0) {
        if (prevSign !== 0 && sign !== prevSign) crossings++
        prevSign = sign
      }
      this.frame[i] = x * this.window[i]
    }
    this.fft.realTransform(this.spectrum, this.frame)
    const nBins = N_FFT / 2 + 1
    let sumMag = 0
    let sumPow = 0
    let weighted = 0
    for (let k = 0; k < nBins; k++) {
      const re = this.spectrum[2 * k]
      const im = this.spectrum[2 * k + 1]
      const p = re * re + im * im
      const m = Math.sqrt(p)
      this.power[k] = p
      this.magnitude[k] = m
      sumMag += m
      sumPow += p
      weighted += m * this.binFreq[k]
    }

    // Mel bands, log-mel, onset strength (mean positive log-mel rise, as librosa's onset_strength).
    let onset = 0
    let melLogSum = 0
    let melSum = 0
    for (let b = 0; b < N_MELS; b++) {
      const f = this.mel[b]
      let s = 0
      for (let i = 0; i < f.weights.length; i++) s += f.weights[i] * this.power[f.start + i]
      this.melPower[b] = s
      const lm = Math.log10(s + AMIN)
      row[C_MEL + b] = lm
      if (!first) onset += Math.max(0, lm - this.prevLogMel[b])
      this.prevLogMel[b] = lm
      melLogSum += Math.log(s + AMIN)
      melSum += s + AMIN
    }
    row[C_ONSET] = onset / N_MELS
    // Flatness over area-normalised mel bands: white noise gives ~1 (a raw periodogram would give e^-gamma ~ 0.56).
    row[C_FLATNESS] = Math.exp(melLogSum / N_MELS) / (melSum / N_MELS)

    for (let k = 0; k < N_MFCC; k++) {
      let s = 0
      const base = k * N_MELS
      for (let b = 0; b < N_MELS; b++) s += this.dct[base + b] * row[C_MEL + b]
      row[C_MFCC + k] = s
    }

    // Chroma, each frame scaled so its strongest class is 1 (librosa's norm=inf); silent frames stay 0.
    const chroma = this.chromaAcc
    chroma.fill(0)
    const { lower, lowerWeight, upper, upperWeight, first: c0, last: c1 } = this.chroma
    for (let k = c0; k <= c1; k++) {
      const p = this.power[k]
      chroma[lower[k]] += lowerWeight[k] * p
      chroma[upper[k]] += upperWeight[k] * p
    }
    let chromaMax = 0
    for (let c = 0; c < 12; c++) chromaMax = Math.max(chromaMax, chroma[c])
    for (let c = 0; c < 12; c++) row[C_CHROMA + c] = chromaMax > AMIN ? chroma[c] / chromaMax : 0

    for (let b = 0; b < this.contrast.length; b++) {
      const [start, end] = this.contrast[b]
      const len = end - start
      const band = this.scratch
      band.set(this.magnitude.subarray(start, end))
      const q = Math.max(1, Math.round(CONTRAST_QUANTILE * len))
      let valley = 0
      let peak = 0
      // The q smallest end up in [0, q), then the q largest in [len - q, len).
      selectInPlace(band, 0, len, q - 1)
      for (let i = 0; i < q; i++) valley += band[i]
      selectInPlace(band, q, len, len - q)
      for (let i = len - q; i < len; i++) peak += band[i]
      row[C_CONTRAST + b] = Math.log10(peak / q + AMIN) - Math.log10(valley / q + AMIN)
    }

    const centroid = sumMag > 0 ? weighted / sumMag : 0
    let spread = 0
    for (let k = 0; k < nBins; k++) spread += this.magnitude[k] * (this.binFreq[k] - centroid) ** 2
    row[C_CENTROID] = centroid
    row[C_BANDWIDTH] = sumMag > 0 ? Math.sqrt(spread / sumMag) : 0
    let rolloff = 0
    if (sumPow > 0) {
      let cumulative = 0
      for (let k = 0; k < nBins; k++) {
        cumulative += this.power[k]
        if (cumulative >= ROLLOFF * sumPow) {
          rolloff = this.binFreq[k]
          break
        }
      }
    }
    row[C_ROLLOFF] = rolloff

    // Flux between L2-normalised magnitude spectra: change of shape, not of loudness.
    const norm = Math.sqrt(sumPow)
    let flux = 0
    for (let k = 0; k < nBins; k++) {
      const m = norm > 0 ? this.magnitude[k] / norm : 0
      const rise = m - this.prevNormMag[k]
      if (!first && rise > 0) flux += rise * rise
      this.prevNormMag[k] = m
    }
    row[C_FLUX] = Math.sqrt(flux)
    row[C_RMS] = Math.log10(energy / N_FFT + AMIN)
    row[C_ZCR] = crossings / N_FFT
  }

  private segmentDescriptors(samples: Float32Array, data: Float64Array, count: number): Float64Array {
    const onset = new Float64Array(count)
    const rms = new Float64Array(count)
    for (let t = 0; t < count; t++) {
      onset[t] = data[t * NF + C_ONSET]
      rms[t] = data[t * NF + C_RMS]
    }
    const tempo = estimateTempo(onset, this.frameRate)
    rms.sort()
    let peak = 0
    let energy = 0
    for (let i = 0; i < samples.length; i++) {
      const x = samples[i]
      peak = Math.max(peak, Math.abs(x))
      energy += x * x
    }
    const meanSquare = energy / Math.max(1, samples.length)
    return Float64Array.of(
      tempo.bpm / 100,
      tempo.confidence,
      onsetRate(onset, this.frameRate) / 10,
      percentileSorted(rms, count, 95) - percentileSorted(rms, count, 5),
      meanSquare > AMIN ? Math.log10((peak * peak) / meanSquare) : 0,
    )
  }
}

/** Onsets per second: local maxima of the envelope above mean + std, at least 50 ms apart. */
const onsetRate = (env: Float64Array, frameRate: number): number => {
  const n = env.length
  if (n < 3) return 0
  let mean = 0
  for (let i = 0; i < n; i++) mean += env[i]
  mean /= n
  let v = 0
  for (let i = 0; i < n; i++) v += (env[i] - mean) ** 2
  const threshold = mean + Math.sqrt(v / n)
  const gap = Math.max(1, Math.round(0.05 * frameRate))
  let peaks = 0
  let last = -Infinity
  for (let i = 1; i < n - 1; i++) {
    if (env[i] > threshold && env[i] >= env[i - 1] && env[i] > env[i + 1] && i - last >= gap) {
      peaks++
      last = i
    }
  }
  return peaks / (n / frameRate)
}

/** The 13 statistics of STATISTICS over `x[0..n)`; `x` is reordered (sorted) in place. */
const statistics = (x: Float64Array, n: number): Float64Array => {
  const out = new Float64Array(BUILTIN_LAYERS)
  if (n === 0) return out
  let mean = 0
  for (let i = 0; i < n; i++) mean += x[i]
  mean /= n
  let m2 = 0
  let m3 = 0
  let m4 = 0
  let dAbs = 0
  let dSum = 0
  let dSq = 0
  for (let i = 0; i < n; i++) {
    const d = x[i] - mean
    const d2 = d * d
    m2 += d2
    m3 += d2 * d
    m4 += d2 * d2
    if (i > 0) {
      const delta = x[i] - x[i - 1]
      dAbs += Math.abs(delta)
      dSum += delta
      dSq += delta * delta
    }
  }
  m2 /= n
  m3 /= n
  m4 /= n
  const nd = Math.max(1, n - 1)
  const dMean = dSum / nd
  // Below this variance a column is constant up to rounding; its shape statistics would be noise, so they are 0.
  const flat = m2 <= 1e-12 * Math.max(1, mean * mean)
  const sorted = x.subarray(0, n).sort()
  out[0] = mean
  out[1] = Math.sqrt(m2)
  out[2] = sorted[0]
  out[3] = sorted[n - 1]
  out[4] = percentileSorted(sorted, n, 10)
  out[5] = percentileSorted(sorted, n, 25)
  out[6] = percentileSorted(sorted, n, 50)
  out[7] = percentileSorted(sorted, n, 75)
  out[8] = percentileSorted(sorted, n, 90)
  out[9] = flat ? 0 : m3 / m2 ** 1.5
  out[10] = flat ? 0 : m4 / (m2 * m2) - 3
  out[11] = dAbs / nd
  out[12] = Math.sqrt(Math.max(0, dSq / nd - dMean * dMean))
  return out
}
