/**
 * The three demo data sets, each in its official on-disk layout (what the real loaders read):
 *   mtg/      autotagging_moodtheme.tsv, splits/split-0/autotagging_moodtheme-{train,validation,test}.tsv, NN/ID.mp3
 *             (mp3, 44.1 kHz mono)
 *   cal500/   songNames.txt, vocab.txt, hardAnnotations.txt, mp3/<song>.mp3 (mp3, 32 kHz mono)
 *   emotify/  data.csv (one row per simulated listener), <genre>/<n>.<ext>: classical FLAC 48 kHz stereo,
 *             rock Ogg Vorbis 44.1 kHz mono, electronic mp3 44.1 kHz mono, pop WAV 22.05 kHz stereo
 * Mono and lower rates where the format allows keep generation fast (mp3 encoding dominates) and the artifact small;
 * the mix of formats, rates and channel counts exercises the decoder as real collections do.
 * Every track: a mood point near one label of its vocabulary (each label is the seed of some track before any repeats),
 * labelled with the nearest labels, and audio rendered from that mood (synth.ts).
 */
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { seededSplit } from "../split.ts"
import { CAL500_LABELS, cal500LabelOfVocabEntry, cal500VocabEntryOfLabel, EMOTIFY_GENRES, EMOTIFY_LABELS, MTG_LABELS } from "../vocabularies.ts"
import { writeAudio, type AudioFormat } from "./encode.ts"
import { moodDistance, moodOf, nearestLabels, type Mood } from "./moods.ts"
import { rng, type Rng } from "./random.ts"
import { musicFor, render, type Genre } from "./synth.ts"

export interface DemoOptions {
  readonly seed: number
  readonly sizes: { readonly mtg: number; readonly cal500: number; readonly emotify: number }
  readonly minSeconds: number
  readonly maxSeconds: number
  readonly ffmpeg: string
}

/** One unit of audio work, run by the caller with its own parallelism. */
export interface AudioJob {
  readonly file: string
  readonly run: () => Promise<void>
}

export interface DemoPlan {
  /** Metadata files: relative path -> content. */
  readonly metadata: ReadonlyArray<{ readonly file: string; readonly content: string }>
  readonly audio: ReadonlyArray<AudioJob>
  readonly seconds: { readonly mtg: number; readonly cal500: number; readonly emotify: number }
}

const GENRES: ReadonlyArray<Genre> = ["classical", "rock", "electronic", "pop"]

const clamp1 = (x: number) => Math.max(-1, Math.min(1, x))

/** A mood near `label`'s, so the label set drawn from it usually contains `label`. */
const moodNear = (label: string, r: Rng): Mood => {
  const c = moodOf(label)
  return { valence: clamp1(c.valence + 0.15 * r.normal()), arousal: clamp1(c.arousal + 0.15 * r.normal()), tension: clamp1(c.tension + 0.15 * r.normal()) }
}

const seedLabel = (vocabulary: ReadonlyArray<string>, i: number, r: Rng) => (i < vocabulary.length ? vocabulary[i] : r.pick(vocabulary))

const durationOf = (r: Rng, o: DemoOptions) => Math.round(r.uniform(o.minSeconds, o.maxSeconds) * 10) / 10

interface Sound {
  readonly format: AudioFormat
  readonly rate: number
  readonly channels: 1 | 2
}

const job = (root: string, rel: string, sound: Sound, mood: Mood, genre: Genre, seconds: number, r: Rng, ffmpeg: string): AudioJob => {
  const file = path.join(root, rel)
  return {
    file: rel,
    run: async () => {
      await fsp.mkdir(path.dirname(file), { recursive: true })
      const music = musicFor(mood, genre, r)
      await writeAudio(file, sound.format, render(music, seconds, sound.rate, r, sound.channels), sound.rate, ffmpeg)
    },
  }
}

const mtgPlan = (root: string, o: DemoOptions) => {
  const header = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS"
  const rows: Array<{ id: string; line: string }> = []
  const audio: Array<AudioJob> = []
  let seconds = 0
  for (let i = 0; i < o.sizes.mtg; i++) {
    const r = rng(o.seed, `mtg:${i}`)
    const mood = moodNear(seedLabel(MTG_LABELS, i, r), r)
    const labels = nearestLabels(mood, MTG_LABELS, r.pick([1, 1, 2, 2, 3]))
    const num = 1000 + i
    const rel = `${String(num % 100).padStart(2, "0")}/${num}.mp3`
    const duration = durationOf(r, o)
    seconds += duration
    const artist = Math.floor(i / 4)
    rows.push({
      id: String(num),
      line: [`track_${String(num).padStart(7, "0")}`, `artist_${String(artist).padStart(6, "0")}`, `album_${String(artist).padStart(6, "0")}`, rel, duration.toFixed(1), ...labels.map((l) => `mood/theme---${l}`)].join("\t"),
    })
    audio.push(job(root, `mtg/${rel}`, { format: "mp3", rate: 44100, channels: 1 }, mood, r.pick(GENRES), duration, r, o.ffmpeg))
  }
  // Real MTG split files are never empty (the loader refuses an empty one), so even a tiny demo fills each split.
  const split = seededSplit(rows.map((r) => r.id), o.seed, 1)
  const tsv = (lines: ReadonlyArray<string>) => [header, ...lines].join("\n") + "\n"
  const metadata = [
    { file: "mtg/autotagging_moodtheme.tsv", content: tsv(rows.map((r) => r.line)) },
    ...(["train", "validation", "test"] as const).map((s) => ({
      file: `mtg/splits/split-0/autotagging_moodtheme-${s}.tsv`,
      content: tsv(rows.filter((r) => split.get(r.id) === s).map((r) => r.line)),
    })),
  ]
  return { metadata, audio, seconds }
}

const cal500Plan = (root: string, o: DemoOptions) => {
  // vocab.txt as in the official file: emotions (including Laid-back/Mellow, which the reference ignores), their
  // NOT- negations, and non-emotion entries.
  // Official order: alphabetical emotions, each followed by its negation, then the other categories.
  const emotions = [...CAL500_LABELS.map(cal500VocabEntryOfLabel), "Emotion-Laid-back_/_Mellow"].sort()
  const vocab = [...emotions.flatMap((e) => [e, `NOT-${e}`]), "Genre-Classical", "Genre-Rock", "Genre-Electronica", "Genre-Pop", "Instrument_-_Piano", "Usage-Driving"]
  const songs: Array<string> = []
  const annotations: Array<string> = []
  const audio: Array<AudioJob> = []
  let seconds = 0
  for (let i = 0; i < o.sizes.cal500; i++) {
    const r = rng(o.seed, `cal500:${i}`)
    const mood = moodNear(seedLabel(CAL500_LABELS, i, r), r)
    const labels = new Set(nearestLabels(mood, CAL500_LABELS, r.int(3, 5)))
    const genre = r.pick(GENRES)
    const name = `demo_artist_${Math.floor(i / 3)}-demo_song_${i}`
    const values = vocab.map((entry) => {
      if (entry === "Emotion-Laid-back_/_Mellow") return mood.arousal < -0.3 ? 1 : 0
      if (entry.startsWith("NOT-Emotion-")) return labels.has(cal500LabelOfVocabEntry(entry.slice(4)) ?? "") ? 0 : 1
      if (entry.startsWith("Emotion-")) return labels.has(cal500LabelOfVocabEntry(entry) ?? "") ? 1 : 0
      if (entry.startsWith("Genre-")) return entry.toLowerCase().includes(genre.slice(0, 5)) ? 1 : 0
      return r.next() < 0.3 ? 1 : 0
    })
    const duration = durationOf(r, o)
    seconds += duration
    songs.push(name)
    annotations.push(values.join(","))
    audio.push(job(root, `cal500/mp3/${name}.mp3`, { format: "mp3", rate: 32000, channels: 1 }, mood, genre, duration, r, o.ffmpeg))
  }
  const metadata = [
    { file: "cal500/songNames.txt", content: songs.join("\n") + "\n" },
    { file: "cal500/vocab.txt", content: vocab.join("\n") + "\n" },
    { file: "cal500/hardAnnotations.txt", content: annotations.join("\n") + "\n" },
  ]
  return { metadata, audio, seconds }
}

const EMOTIFY_SOUND: Record<Genre, Sound> = {
  classical: { format: "flac", rate: 48000, channels: 2 },
  rock: { format: "ogg", rate: 44100, channels: 1 },
  electronic: { format: "mp3", rate: 44100, channels: 1 },
  pop: { format: "wav", rate: 22050, channels: 2 },
}

const emotifyPlan = (root: string, o: DemoOptions) => {
  const header = "track id, genre, amazement, solemnity, tenderness, nostalgia, calmness, power, joyful_activation, tension, sadness, mood, liked, disliked, age, gender, mother tongue"
  const rows: Array<string> = []
  const audio: Array<AudioJob> = []
  let seconds = 0
  for (let i = 0; i < o.sizes.emotify; i++) {
    const r = rng(o.seed, `emotify:${i}`)
    const g = i % EMOTIFY_GENRES.length
    const genre = EMOTIFY_GENRES[g] as Genre
    const n = Math.floor(i / EMOTIFY_GENRES.length) + 1
    const id = g * 100 + n
    const mood = moodNear(seedLabel(EMOTIFY_LABELS, i, r), r)
    // Listeners tick each GEMS label with a probability that falls with its distance from the track's mood.
    const listeners = r.int(6, 12)
    for (let l = 0; l < listeners; l++) {
      let ticks = EMOTIFY_LABELS.map((label) => (r.next() < 0.9 * Math.exp(-(moodDistance(mood, moodOf(label)) ** 2) / 0.4) ? 1 : 0))
      if (ticks.every((t) => t === 0)) {
        const nearest = nearestLabels(mood, EMOTIFY_LABELS, 1)[0]
        ticks = EMOTIFY_LABELS.map((label) => (label === nearest ? 1 : 0))
      }
      const rating = Math.max(1, Math.min(5, Math.round(3 + 2 * mood.valence + r.normal())))
      rows.push([id, genre, ...ticks, rating, r.next() < 0.5 ? 1 : 0, r.next() < 0.2 ? 1 : 0, r.int(18, 65), r.int(0, 1), r.pick(["English", "Dutch", "Spanish"])].join(", "))
    }
    const sound = EMOTIFY_SOUND[genre]
    const duration = durationOf(r, o)
    seconds += duration
    audio.push(job(root, `emotify/${genre}/${n}.${sound.format}`, sound, mood, genre, duration, r, o.ffmpeg))
  }
  return { metadata: [{ file: "emotify/data.csv", content: [header, ...rows].join("\n") + "\n" }], audio, seconds }
}

export const planDemo = (root: string, o: DemoOptions): DemoPlan => {
  const mtg = mtgPlan(root, o)
  const cal500 = cal500Plan(root, o)
  const emotify = emotifyPlan(root, o)
  return {
    metadata: [...mtg.metadata, ...cal500.metadata, ...emotify.metadata],
    audio: [...mtg.audio, ...cal500.audio, ...emotify.audio],
    seconds: { mtg: mtg.seconds, cal500: cal500.seconds, emotify: emotify.seconds },
  }
}
