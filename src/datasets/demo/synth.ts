/**
 * A small deterministic music synthesiser for the demo data: a chord progression, a bass line, a melody and drums,
 * whose musical parameters follow a mood point (see moods.ts):
 *   mode         major when valence > 0, minor otherwise (a Phrygian flat second when tense)
 *   tempo        72-172 bpm with arousal
 *   loudness     peak level from -22 to -6 dBFS with arousal
 *   register     lower for sad/calm, higher for happy/excited
 *   brightness   harmonic count and roll-off of the timbre with arousal and tension
 *   articulation legato (long notes) when calm, staccato when excited
 *   dissonance   added semitone/tritone chord tones and detuned (beating) copies with tension
 *   drums        from none (calm) to kick, snare and 16th hats (excited); distortion with tension x arousal
 * Genre (classical, rock, electronic, pop) changes instrumentation independently of mood, as a nuisance factor.
 * Oscillators are wavetable lookups, so a 30 s stereo track renders in tens of milliseconds.
 */
import type { Mood } from "./moods.ts"
import type { Rng } from "./random.ts"

export type Genre = "classical" | "rock" | "electronic" | "pop"

export interface Music {
  readonly major: boolean
  readonly phrygian: boolean
  readonly tempo: number
  readonly peakDb: number
  readonly rootMidi: number
  readonly harmonics: number
  readonly rolloff: number
  readonly articulation: number
  readonly dissonance: number
  readonly drums: number
  readonly drive: number
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x))

export const musicFor = (mood: Mood, genre: Genre, r: Rng): Music => {
  const { valence: v, arousal: a, tension: t } = mood
  let harmonics = Math.round(clamp(6 + 5 * a + 3 * t + r.normal(), 2, 16))
  let rolloff = clamp(1.8 - 0.7 * a - 0.3 * t + 0.1 * r.normal(), 0.8, 3)
  let drums = a < -0.4 ? 0 : clamp(0.2 + 0.7 * a + 0.1 * r.normal(), 0, 1)
  let drive = clamp(t * a, 0, 1) * 0.8
  switch (genre) {
    case "classical":
      drums = 0
      drive = 0
      harmonics = Math.max(2, harmonics - 2)
      break
    case "rock":
      drive = clamp(drive + 0.3, 0, 1)
      drums = Math.max(drums, 0.5)
      break
    case "electronic":
      rolloff = Math.max(0.8, rolloff - 0.5)
      drums = Math.max(drums, 0.4)
      break
    case "pop":
      break
  }
  return {
    major: v + 0.15 * r.normal() > 0,
    phrygian: t > 0.5,
    tempo: clamp(72 + 50 * (a + 1) + 5 * r.normal(), 60, 190),
    peakDb: clamp(-14 + 8 * a + r.normal(), -24, -4),
    rootMidi: Math.round(40 + 6 * v + 3 * a + r.int(-2, 2)),
    harmonics,
    rolloff,
    articulation: clamp(0.9 - 0.3 * (a + 1) + 0.05 * r.normal(), 0.2, 0.95),
    dissonance: clamp(t + 0.1 * r.normal(), 0, 1),
    drums,
    drive,
  }
}

const TABLE_BITS = 12
const TABLE = 1 << TABLE_BITS
const MASK = TABLE - 1

type Timbre = (hz: number, rate: number) => Float32Array

/** A timbre's tables by harmonic count, so that no harmonic of any note reaches Nyquist (no aliasing). */
const timbre = (harmonics: number, rolloff: number): Timbre => {
  const tables = new Map<number, Float32Array>()
  return (hz, rate) => {
    const h = Math.max(1, Math.min(harmonics, Math.floor((0.45 * rate) / hz)))
    let t = tables.get(h)
    if (t === undefined) tables.set(h, (t = wavetable(h, rolloff)))
    return t
  }
}

const wavetable = (harmonics: number, rolloff: number): Float32Array => {
  const t = new Float32Array(TABLE)
  let peak = 0
  for (let i = 0; i < TABLE; i++) {
    let s = 0
    for (let h = 1; h <= harmonics; h++) s += Math.sin((2 * Math.PI * h * i) / TABLE) / Math.pow(h, rolloff)
    t[i] = s
    peak = Math.max(peak, Math.abs(s))
  }
  for (let i = 0; i < TABLE; i++) t[i] /= peak
  return t
}

const midiHz = (n: number) => 440 * Math.pow(2, (n - 69) / 12)

interface Out {
  readonly left: Float32Array
  readonly right: Float32Array
  readonly rate: number
}

/** Adds one note: linear attack, exponential decay, 30 ms linear release after `length` samples. */
const note = (
  out: Out,
  timbreOf: Timbre,
  hz: number,
  start: number,
  length: number,
  amp: number,
  attackSec: number,
  decayPerSec: number,
  pan: number,
  phase0: number,
) => {
  const rate = out.rate
  const table = timbreOf(hz, rate)
  const attack = Math.max(1, Math.round(attackSec * rate))
  const release = Math.round(0.03 * rate)
  const end = Math.min(out.left.length, start + length + release)
  const inc = (hz * TABLE) / rate
  const decay = Math.exp(-decayPerSec / rate)
  const gl = amp * Math.sqrt(0.5 * (1 - pan))
  const gr = amp * Math.sqrt(0.5 * (1 + pan))
  let phase = phase0 * TABLE
  let g = 1
  // Three loops (attack, hold, release) so the per-sample work is one lookup, two multiply-adds and no branch.
  const attackEnd = Math.min(end, start + attack)
  const holdEnd = Math.min(end, start + length)
  let s = start
  for (let i = 0; s < attackEnd; s++, i++) {
    const x = table[(phase | 0) & MASK] * (i / attack) * g
    out.left[s] += x * gl
    out.right[s] += x * gr
    phase += inc
    g *= decay
  }
  for (; s < holdEnd; s++) {
    const x = table[(phase | 0) & MASK] * g
    out.left[s] += x * gl
    out.right[s] += x * gr
    phase += inc
    g *= decay
  }
  for (let i = 0; s < end; s++, i++) {
    const x = table[(phase | 0) & MASK] * g * (1 - i / release)
    out.left[s] += x * gl
    out.right[s] += x * gr
    phase += inc
    g *= decay
  }
}

const noiseHit = (out: Out, noise: Float32Array, start: number, seconds: number, amp: number, bright: boolean) => {
  const n = Math.min(out.left.length - start, Math.round(seconds * out.rate), noise.length)
  const decay = Math.exp(-4 / n)
  let env = amp
  let prev = 0
  for (let i = 0; i < n; i++) {
    const w = noise[i]
    // First difference = a crude high-pass for hats; plain noise for the snare's body.
    const x = (bright ? w - prev : w) * env
    prev = w
    env *= decay
    out.left[start + i] += x
    out.right[start + i] += x
  }
}

const kick = (out: Out, start: number, amp: number) => {
  const n = Math.min(out.left.length - start, Math.round(0.15 * out.rate))
  // A pitch sweep from 120 Hz down to 50 Hz and an amplitude decay, both exponential (multiplicative per sample).
  const sweepDecay = Math.exp(-30 / out.rate)
  const ampDecay = Math.exp(-18 / out.rate)
  let sweep = 70
  let env = amp
  let phase = 0
  for (let i = 0; i < n; i++) {
    phase += (2 * Math.PI * (50 + sweep)) / out.rate
    const x = Math.sin(phase) * env
    sweep *= sweepDecay
    env *= ampDecay
    out.left[start + i] += x
    out.right[start + i] += x
  }
}

const MAJOR = [0, 2, 4, 5, 7, 9, 11]
const MINOR = [0, 2, 3, 5, 7, 8, 10]
const PHRYGIAN = [0, 1, 3, 5, 7, 8, 10]

/** Renders `seconds` of audio at `rate`, stereo or mono (both pans summed into one channel). */
export const render = (music: Music, seconds: number, rate: number, r: Rng, channels: 1 | 2 = 2): Array<Float32Array> => {
  const n = Math.round(seconds * rate)
  const left = new Float32Array(n)
  const out: Out = { left, right: channels === 2 ? new Float32Array(n) : left, rate }
  const chans = channels === 2 ? [out.left, out.right] : [out.left]
  const lead = timbre(music.harmonics, music.rolloff)
  const soft = timbre(Math.max(2, music.harmonics >> 1), music.rolloff + 0.5)
  const bassTable = timbre(3, 2)
  const noise = new Float32Array(Math.round(0.2 * rate)).map(() => 2 * r.next() - 1)
  const scale = music.major ? MAJOR : music.phrygian ? PHRYGIAN : MINOR
  // I-vi-IV-V in major, i-VI-III-VII in minor, as scale degrees.
  const progression = music.major ? [0, 5, 3, 4] : [0, 5, 2, 6]
  const beat = 60 / music.tempo
  const beatSamples = Math.round(beat * rate)
  const bars = Math.ceil(n / (4 * beatSamples))
  const art = music.articulation
  const legatoAttack = 0.01 + 0.08 * art
  const melodySteps = music.tempo > 130 ? 2 : music.tempo < 90 ? 0.5 : 1
  const melodyPan = r.uniform(-0.5, 0.5)
  let melodyDegree = r.int(0, 6)
  const degreeMidi = (degree: number, base: number) =>
    base + 12 * Math.floor(degree / 7) + scale[((degree % 7) + 7) % 7]
  for (let bar = 0; bar < bars; bar++) {
    const barStart = bar * 4 * beatSamples
    const chordDegree = progression[bar % progression.length]
    const root = music.rootMidi
    // Pad: the triad of this degree, an octave above the bass, held the whole bar.
    const triad = [0, 2, 4].map((k) => degreeMidi(chordDegree + k, root + 12))
    const extra = music.dissonance > 0.3 ? [triad[0] + (bar % 2 === 0 ? 1 : 6)] : []
    for (const [i, m] of [...triad, ...extra].entries()) {
      const amp = i < 3 ? 0.1 : 0.1 * music.dissonance
      const pan = (i - 1) * 0.4
      note(out, soft, midiHz(m), barStart, 4 * beatSamples, amp, legatoAttack + 0.05, 0.3, pan, r.next())
      if (music.dissonance > 0.5) {
        const cents = 10 + 25 * music.dissonance
        note(out, soft, midiHz(m + cents / 100), barStart, 4 * beatSamples, amp * 0.7, legatoAttack + 0.05, 0.3, -pan, r.next())
      }
    }
    // Bass: the chord's root on every beat (every other beat when slow).
    const bassEvery = music.tempo < 90 ? 2 : 1
    for (let b = 0; b < 4; b += bassEvery) {
      note(out, bassTable, midiHz(degreeMidi(chordDegree, root)), barStart + b * beatSamples, Math.round(art * bassEvery * beatSamples), 0.22, 0.005, 2, 0, 0)
    }
    // Melody: a random walk on the scale, chord tones on strong beats.
    const stepSamples = Math.round(beatSamples / melodySteps)
    const steps = Math.round(4 * melodySteps)
    for (let s = 0; s < steps; s++) {
      if (r.next() < 0.12) continue
      melodyDegree = s === 0 ? chordDegree + 7 * Math.round(melodyDegree / 7) : melodyDegree + r.pick([-2, -1, -1, 1, 1, 2])
      melodyDegree = Math.max(0, Math.min(13, melodyDegree))
      const midi = degreeMidi(melodyDegree, root + 24)
      note(out, lead, midiHz(midi), barStart + s * stepSamples, Math.round(art * stepSamples), 0.16, 0.004 + 0.03 * art, 1.5 - art, melodyPan, 0)
    }
    // Drums.
    if (music.drums > 0) {
      for (let b = 0; b < 4; b++) {
        const at = barStart + b * beatSamples
        if (at >= n) break
        if (b % 2 === 0 || music.drums > 0.7) kick(out, at, 0.5 * music.drums)
        if (b % 2 === 1 && music.drums > 0.4) noiseHit(out, noise, at, 0.12, 0.25 * music.drums, false)
        const hats = music.drums > 0.75 ? 4 : 2
        for (let h = 0; h < hats; h++) {
          const hat = at + Math.round((h * beatSamples) / hats)
          if (hat < n) noiseHit(out, noise, hat, 0.04, 0.12 * music.drums, true)
        }
      }
    }
  }
  // Drive, then normalise the peak to the mood's level.
  const drive = 1 + 5 * music.drive
  let peak = 1e-9
  for (const ch of chans) {
    for (let i = 0; i < n; i++) {
      if (music.drive > 0) ch[i] = Math.tanh(drive * ch[i])
      peak = Math.max(peak, Math.abs(ch[i]))
    }
  }
  const gain = Math.pow(10, music.peakDb / 20) / peak
  for (const ch of chans) for (let i = 0; i < n; i++) ch[i] *= gain
  // Fade in and out (20 ms) so no track starts or ends with a click.
  const fade = Math.min(n >> 1, Math.round(0.02 * rate))
  for (let i = 0; i < fade; i++) {
    const g = i / fade
    for (const ch of chans) {
      ch[i] *= g
      ch[n - 1 - i] *= g
    }
  }
  return chans
}
