import { describe, expect, it } from "vitest"
import { BUILTIN_DIM, BUILTIN_LAYERS, BuiltinExtractor, COLUMNS, STATISTICS, frameCount } from "../../src/features/builtin.ts"
import { selectInPlace } from "../../src/features/dsp.ts"
import { estimateTempo } from "../../src/features/tempo.ts"

const SR = 24000
const N = SR * 10
const extractor = new BuiltinExtractor(SR)
const at = (out: Float32Array, stat: string, column: string): number => {
  const s = STATISTICS.indexOf(stat)
  const c = COLUMNS.indexOf(column)
  if (s < 0 || c < 0) throw new Error(`unknown ${stat}/${column}`)
  return out[s * BUILTIN_DIM + c]
}
const PITCHES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
const chromaMeans = (out: Float32Array): Array<number> => PITCHES.map((p) => at(out, "mean", `chroma_${p}`))

// A seeded generator so the noise tests are reproducible.
const lcg = (seed: number) => () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
  return seed / 2 ** 32
}
const sine = (hz: number, n = N, amp = 0.5): Float32Array => Float32Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / SR))
const clickTrain = (bpm: number, n = N): Float32Array => {
  const x = new Float32Array(n)
  const period = (60 / bpm) * SR
  for (let k = 0; k * period < n; k++) {
    const s = Math.round(k * period)
    for (let j = 0; j < 48 && s + j < n; j++) x[s + j] = (1 - j / 48) * (j % 2 ? -1 : 1)
  }
  return x
}

describe("built-in extractor layout", () => {
  it("is 13 statistics x 92 descriptors, all named", () => {
    expect(BUILTIN_LAYERS).toBe(13)
    expect(BUILTIN_DIM).toBe(92)
    expect(new Set(COLUMNS).size).toBe(BUILTIN_DIM)
    expect(extractor.extract(sine(440)).length).toBe(BUILTIN_LAYERS * BUILTIN_DIM)
    expect(frameCount(N)).toBe(469)
  })

  it("statistics rows are ordered consistently (min <= p10 <= median <= p90 <= max)", () => {
    const out = extractor.extract(Float32Array.from({ length: N }, lcg(7)).map((v) => v - 0.5))
    for (const c of COLUMNS) {
      const v = ["min", "p10", "p25", "median", "p75", "p90", "max"].map((s) => at(out, s, c))
      for (let i = 1; i < v.length; i++) expect(v[i]).toBeGreaterThanOrEqual(v[i - 1] - 1e-6)
    }
  })
})

describe("built-in extractor against known signals", () => {
  it("a 440 Hz sine's chroma peaks at A, and its centroid is at 440 Hz", () => {
    const out = extractor.extract(sine(440))
    const chroma = chromaMeans(out)
    expect(PITCHES[chroma.indexOf(Math.max(...chroma))]).toBe("A")
    expect(chroma[PITCHES.indexOf("A")]).toBeGreaterThan(0.95)
    for (const p of ["C", "D", "E", "F", "G"]) expect(chroma[PITCHES.indexOf(p)]).toBeLessThan(0.05)
    expect(at(out, "median", "centroid") * (SR / 2)).toBeCloseTo(440, -1)
    expect(at(out, "median", "flatness")).toBeLessThan(0.01)
  })

  it("a C major triad lights up C, E and G", () => {
    const n = N / 2
    const chord = sine(261.63, n, 0.3).map((v, i) => v + 0.3 * Math.sin((2 * Math.PI * 329.63 * i) / SR) + 0.3 * Math.sin((2 * Math.PI * 392 * i) / SR))
    const chroma = chromaMeans(extractor.extract(chord))
    const top3 = [...chroma.keys()].sort((a, b) => chroma[b] - chroma[a]).slice(0, 3).map((i) => PITCHES[i])
    expect(top3.sort()).toEqual(["C", "E", "G"])
  })

  it("white noise has a flat spectrum: flatness near 1, centroid near Nyquist/2, flat mean log-mel", () => {
    const rand = lcg(42)
    const out = extractor.extract(Float32Array.from({ length: N }, () => rand() * 2 - 1))
    expect(at(out, "mean", "flatness")).toBeGreaterThan(0.9)
    expect(at(out, "mean", "centroid")).toBeCloseTo(0.5, 1)
    expect(at(out, "mean", "rolloff")).toBeCloseTo(0.85, 1)
    // Area-normalised mel bands see the same power everywhere (within 1 dB), bar the 2 narrowest low bands.
    const mel = Array.from({ length: 38 }, (_, b) => at(out, "mean", `logmel_${String(b + 2).padStart(2, "0")}`))
    expect(Math.max(...mel) - Math.min(...mel)).toBeLessThan(0.1)
  })

  it.each([120, 90, 140])("a %i BPM click train's tempo is found within 2%", (bpm) => {
    const out = extractor.extract(clickTrain(bpm))
    expect(Math.abs(at(out, "mean", "tempo") * 100 - bpm) / bpm).toBeLessThan(0.02)
    expect(at(out, "mean", "tempo_confidence")).toBeGreaterThan(0.5)
    // Segment-level columns are the same in every layer.
    expect(at(out, "max", "tempo")).toBe(at(out, "mean", "tempo"))
    expect(at(out, "mean", "onset_rate") * 10).toBeCloseTo(bpm / 60, 0)
  })

  it("louder is louder: RMS follows amplitude (20 dB = 2 log10 units)", () => {
    const loud = at(extractor.extract(sine(440, N, 0.5)), "median", "rms")
    const soft = at(extractor.extract(sine(440, N, 0.05)), "median", "rms")
    expect(loud - soft).toBeCloseTo(2, 2)
  })

  it("silence, a DC offset and very short input give finite numbers, no NaN", () => {
    for (const x of [new Float32Array(N), new Float32Array(N).fill(0.3), new Float32Array(100), new Float32Array(0)]) {
      const out = extractor.extract(x)
      expect(out.every(Number.isFinite)).toBe(true)
    }
    const silent = extractor.extract(new Float32Array(N))
    expect(at(silent, "mean", "tempo")).toBe(0)
    expect(at(silent, "max", "chroma_A")).toBe(0)
    expect(at(silent, "mean", "centroid")).toBe(0)
  })
})

describe("tempo estimation", () => {
  it("follows a pulse envelope at a non-integer frame period", () => {
    const frameRate = 46.875
    const env = Float64Array.from({ length: 2000 }, (_, i) => Math.max(0, Math.cos((2 * Math.PI * i * 128) / (60 * frameRate))) ** 8)
    expect(estimateTempo(env, frameRate).bpm).toBeCloseTo(128, 0)
  })
  it("gives 0 for a constant envelope", () => {
    expect(estimateTempo(new Float64Array(500).fill(1), 46.875)).toEqual({ bpm: 0, confidence: 0 })
  })
})

describe("quickselect (spectral contrast's partial sort)", () => {
  it("puts the k-th smallest at k with smaller values before and larger after", () => {
    let seed = 9
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32)
    for (const n of [1, 2, 3, 7, 50, 478]) {
      for (let trial = 0; trial < 20; trial++) {
        // Coarse values so ties are common.
        const a = Float64Array.from({ length: n }, () => Math.floor(rand() * 10))
        const sorted = Float64Array.from(a).sort()
        const k = Math.floor(rand() * n)
        selectInPlace(a, 0, n, k)
        expect(a[k]).toBe(sorted[k])
        for (let i = 0; i < k; i++) expect(a[i]).toBeLessThanOrEqual(a[k])
        for (let i = k + 1; i < n; i++) expect(a[i]).toBeGreaterThanOrEqual(a[k])
      }
    }
  })
})

describe("other sample rates", () => {
  it.each([8000, 16000, 44100])("at %i Hz a 440 Hz sine is still A, a 120 BPM click train still 120, all finite", (sr) => {
    const ex = new BuiltinExtractor(sr)
    const tone = ex.extract(Float32Array.from({ length: sr * 5 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / sr)))
    expect(tone.every(Number.isFinite)).toBe(true)
    const chroma = chromaMeans(tone)
    expect(PITCHES[chroma.indexOf(Math.max(...chroma))]).toBe("A")
    const clicks = new Float32Array(sr * 10)
    for (let k = 0; k * sr * 0.5 < clicks.length; k++) for (let j = 0; j < 16; j++) clicks[Math.round(k * sr * 0.5) + j] = j % 2 ? -1 : 1
    expect(at(ex.extract(clicks), "mean", "tempo") * 100).toBeCloseTo(120, -1)
  })
})
