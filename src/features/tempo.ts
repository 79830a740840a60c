/**
 * Tempo from an onset-strength envelope: autocorrelation over 30-300 BPM, weighted by a log-normal prior around
 * 120 BPM (one octave wide, as librosa's `beat.tempo`) so that octave errors go the usual way.
 */
export interface TempoEstimate {
  /** Beats per minute; 0 when the envelope has no periodicity at all (e.g. silence). */
  readonly bpm: number
  /** Normalised autocorrelation at the chosen lag, in [0, 1]. */
  readonly confidence: number
}

const MIN_BPM = 30
const MAX_BPM = 300
const PRIOR_BPM = 120
const PRIOR_OCTAVES = 1

export const estimateTempo = (envelope: Float64Array, frameRate: number): TempoEstimate => {
  const n = envelope.length
  let mean = 0
  for (let i = 0; i < n; i++) mean += envelope[i]
  mean /= Math.max(1, n)
  const centred = new Float64Array(n)
  for (let i = 0; i < n; i++) centred[i] = envelope[i] - mean
  const minLag = Math.max(1, Math.floor((60 * frameRate) / MAX_BPM))
  const maxLag = Math.min(n - 2, Math.ceil((60 * frameRate) / MIN_BPM))
  let energy = 0
  for (let i = 0; i < n; i++) energy += centred[i] * centred[i]
  if (energy <= 1e-12 || maxLag <= minLag) return { bpm: 0, confidence: 0 }
  // Unbiased autocorrelation (divided by the overlap length) so long lags are not penalised by the window.
  const ac = new Float64Array(maxLag + 2)
  for (let lag = 0; lag <= maxLag + 1 && lag < n; lag++) {
    let s = 0
    for (let i = lag; i < n; i++) s += centred[i] * centred[i - lag]
    ac[lag] = s / (n - lag)
  }
  let best = -1
  let bestScore = -Infinity
  for (let lag = minLag; lag <= maxLag; lag++) {
    // Only local maxima are tempo candidates; the slope of a broad peak is not.
    if (!(ac[lag] >= ac[lag - 1] && ac[lag] >= ac[lag + 1]) || ac[lag] <= 0) continue
    const bpm = (60 * frameRate) / lag
    const prior = Math.exp(-0.5 * (Math.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    const score = ac[lag] * prior
    if (score > bestScore) {
      bestScore = score
      best = lag
    }
  }
  if (best < 0) return { bpm: 0, confidence: 0 }
  // A beat period is rarely a whole number of frames: refine the lag with a parabola through the peak.
  const [a, b, c] = [ac[best - 1], ac[best], ac[best + 1]]
  const denom = a - 2 * b + c
  const offset = denom < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / denom)) : 0
  return { bpm: (60 * frameRate) / (best + offset), confidence: Math.max(0, Math.min(1, ac[best] / ac[0])) }
}
