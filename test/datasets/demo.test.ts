import { Either } from "effect"
/** The built-in demo data: deterministic, in the official layouts, read back through the real loaders and decoder. */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { moodOf } from "../../src/datasets/demo/moods.ts"
import { rng } from "../../src/datasets/demo/random.ts"
import { musicFor, render } from "../../src/datasets/demo/synth.ts"
import { CAL500_LABELS, EMOTIFY_LABELS, MTG_LABELS } from "../../src/datasets/vocabularies.ts"
import { DatasetStage } from "../../src/stages/dataset.ts"
import { type Dataset } from "../../src/artifacts/dataset.ts"
import { DecodeStage } from "../../src/stages/decode.ts"
import { type DecodedAudio } from "../../src/artifacts/decoded-audio.ts"
import { DemoStage } from "../../src/stages/demo-data.ts"
import { type Demo } from "../../src/artifacts/demo-data.ts"
import { SegmentStage } from "../../src/stages/segment.ts"
import { readSegments, type Segments } from "../../src/artifacts/segments.ts"
import { artifactFromResult, runStagePromise, type HarnessResult } from "../support/stage-harness.ts"

const SMALL = { seed: 5, mtg: 4, cal500: 3, emotify: 5, min_seconds: 1.5, max_seconds: 2.5 }

const listing = (root: string): Array<[string, string]> => {
  const out: Array<[string, string]> = []
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else out.push([path.relative(root, p), createHash("sha256").update(fs.readFileSync(p)).digest("hex")])
    }
  }
  walk(root)
  return out
}

describe("demo-data", () => {
  let a: HarnessResult
  beforeAll(async () => {
    a = await runStagePromise(DemoStage, { params: SMALL })
  })

  it("writes the same bytes for the same seed, other bytes for another seed", async () => {
    const b = await runStagePromise(DemoStage, { params: SMALL, threads: 1 })
    const c = await runStagePromise(DemoStage, { params: { ...SMALL, seed: 6, mtg: 1, cal500: 1, emotify: 1 } })
    const la = listing(a.outDir)
    expect(listing(b.outDir)).toEqual(la)
    expect(a.value).toEqual(b.value)
    const lc = new Map(listing(c.outDir))
    for (const f of ["mtg/00/1000.mp3", "mtg/autotagging_moodtheme.tsv", "cal500/hardAnnotations.txt", "emotify/classical/1.flac", "emotify/data.csv"]) {
      expect(lc.get(f), f).toBeDefined()
      expect(lc.get(f), f).not.toBe(new Map(la).get(f))
    }
    expect(la.map(([f]) => f)).toEqual([
      "cal500/hardAnnotations.txt",
      "cal500/mp3/demo_artist_0-demo_song_0.mp3",
      "cal500/mp3/demo_artist_0-demo_song_1.mp3",
      "cal500/mp3/demo_artist_0-demo_song_2.mp3",
      "cal500/songNames.txt",
      "cal500/vocab.txt",
      "emotify/classical/1.flac",
      "emotify/classical/2.flac",
      "emotify/data.csv",
      "emotify/electronic/1.mp3",
      "emotify/pop/1.wav",
      "emotify/rock/1.ogg",
      "mtg/00/1000.mp3",
      "mtg/01/1001.mp3",
      "mtg/02/1002.mp3",
      "mtg/03/1003.mp3",
      "mtg/autotagging_moodtheme.tsv",
      "mtg/splits/split-0/autotagging_moodtheme-test.tsv",
      "mtg/splits/split-0/autotagging_moodtheme-train.tsv",
      "mtg/splits/split-0/autotagging_moodtheme-validation.tsv",
    ])
  })

  it("reads back through the real loaders, decoder and segmenter", async () => {
    const demo = artifactFromResult<Demo>(a, "demo")
    const cases = [
      ["mtg", "mtg-jamendo", MTG_LABELS, 4],
      ["cal500", "cal500", CAL500_LABELS, 3],
      ["emotify", "emotify", EMOTIFY_LABELS, 5],
    ] as const
    for (const [name, format, vocabulary, n] of cases) {
      const ds = await runStagePromise(DatasetStage, { params: { name, format }, inputs: { generated: demo } })
      const d = ds.value as Dataset
      expect(d.tracks, name).toHaveLength(n)
      expect(d.skipped, name).toEqual([])
      expect(d.tracks.every((t) => t.labels.length > 0 && t.labels.every((l) => vocabulary.includes(l))), name).toBe(true)
      const decoded = await runStagePromise(DecodeStage, { inputs: { dataset: artifactFromResult<Dataset>(ds) } })
      const audio = decoded.value as DecodedAudio
      expect(audio.ids, name).toEqual(d.tracks.map((t) => t.id))
      for (const len of audio.lengths) {
        expect(len / 24000, name).toBeGreaterThanOrEqual(SMALL.min_seconds - 0.01)
        // mp3 and vorbis may add up to a frame of padding.
        expect(len / 24000, name).toBeLessThanOrEqual(SMALL.max_seconds + 0.1)
      }
      const seg = await runStagePromise(SegmentStage, { params: { seconds: 1 }, inputs: { audio: artifactFromResult<DecodedAudio>(decoded) } })
      const rows = Either.getOrThrow(readSegments(artifactFromResult<Segments>(seg)))
      audio.lengths.forEach((len, i) => expect(rows.filter((r) => r.track === i), name).toHaveLength(Math.floor(len / 24000)))
      if (name === "mtg") {
        // The TSV's DURATION agrees with the decoded length (to the 0.1 s it is written with, plus codec padding).
        d.tracks.forEach((t, i) => expect(Math.abs(audio.lengths[i] / 24000 - (t.duration ?? 0))).toBeLessThan(0.1))
      }
    }
  })

  it("derives the music from the mood: tempo and drums with arousal, mode with valence, dissonance with tension", () => {
    const draws = (label: string) => Array.from({ length: 200 }, (_, i) => musicFor(moodOf(label), "pop", rng(1, `${label}:${i}`)))
    const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
    const energetic = draws("energetic")
    const calm = draws("calm")
    const happy = draws("happy")
    const sad = draws("sad")
    const angry = draws("angry, aggressive")
    expect(mean(energetic.map((m) => m.tempo)) - mean(calm.map((m) => m.tempo))).toBeGreaterThan(60)
    expect(mean(energetic.map((m) => m.drums))).toBeGreaterThan(0.7)
    expect(mean(calm.map((m) => m.drums))).toBe(0)
    expect(mean(energetic.map((m) => m.articulation))).toBeLessThan(mean(calm.map((m) => m.articulation)))
    expect(mean(happy.map((m) => (m.major ? 1 : 0)))).toBeGreaterThan(0.95)
    expect(mean(sad.map((m) => (m.major ? 1 : 0)))).toBeLessThan(0.05)
    expect(mean(angry.map((m) => m.dissonance))).toBeGreaterThan(0.8)
    expect(mean(happy.map((m) => m.dissonance))).toBeLessThan(0.05)
    expect(mean(happy.map((m) => m.rootMidi))).toBeGreaterThan(mean(sad.map((m) => m.rootMidi)) + 5)
    // And in the audio: an energetic track is brighter and busier (more zero crossings) and louder than a calm one.
    const zcrAndPeak = (label: string) => {
      const r = rng(2, label)
      const [x] = render(musicFor(moodOf(label), "pop", r), 4, 16000, r, 1)
      let z = 0
      let peak = 0
      for (let i = 1; i < x.length; i++) {
        if (x[i - 1] < 0 !== x[i] < 0) z++
        peak = Math.max(peak, Math.abs(x[i]))
      }
      return { zcr: z / x.length, peak }
    }
    const e = zcrAndPeak("energetic")
    const c = zcrAndPeak("calm")
    expect(e.zcr).toBeGreaterThan(2 * c.zcr)
    expect(e.peak).toBeGreaterThan(2 * c.peak)
  })
})
