/** The official-format loaders (MTG-Jamendo TSV, CAL500, Emotify data.csv) and the dataset stage's error handling. */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { parseCal500 } from "../../src/datasets/cal500.ts"
import { parseEmotifyCsv, EMOTIFY_DEFAULTS } from "../../src/datasets/emotify.ts"
import { parseMtgTsv } from "../../src/datasets/mtg-jamendo.ts"
import { seededSplit } from "../../src/datasets/split.ts"
import { CAL500_LABELS, cal500LabelOfVocabEntry, cal500VocabEntryOfLabel, EMOTIFY_LABELS } from "../../src/datasets/vocabularies.ts"
import { DatasetStage } from "../../src/stages/dataset.ts"
import { type Dataset } from "../../src/artifacts/dataset.ts"
import { runStagePromise, tempDir } from "../support/stage-harness.ts"
import { sine, writeWav } from "../audio/fixtures.ts"

const HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS"
const row = (id: number, tags: ReadonlyArray<string>, duration = "30.5") =>
  [`track_${String(id).padStart(7, "0")}`, "artist_000001", "album_000001", `${String(id % 100).padStart(2, "0")}/${id}.mp3`, duration, ...tags.map((t) => `mood/theme---${t}`)].join("\t")

const put = (root: string, rel: string, content: string | Uint8Array) => {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true })
  fs.writeFileSync(path.join(root, rel), content)
}
const tone = (root: string, rel: string) => writeWav(path.join(root, rel), [sine(440, 0.3, 8000, 0.25)], 8000)
const dirValue = (p: string) => ({ path: p, hash: "test", files: [] })

/** An MTG folder in the official layout: ids 948, 950, 951 in train, 3346 in validation, 3524 in test. */
const mtgFolder = (rows: { train?: Array<string>; validation?: Array<string>; test?: Array<string> } = {}) => {
  const root = tempDir("mea-mtg-")
  const train = rows.train ?? [row(948, ["background"]), row(950, ["happy", "fun"]), row(951, ["sad"], "12")]
  const validation = rows.validation ?? [row(3346, ["calm", "melodic"])]
  const test = rows.test ?? [row(3524, ["melodic"])]
  const tsv = (lines: Array<string>) => [HEADER, ...lines].join("\n") + "\n"
  put(root, "autotagging_moodtheme.tsv", tsv([...train, ...validation, ...test]))
  put(root, "splits/split-0/autotagging_moodtheme-train.tsv", tsv(train))
  put(root, "splits/split-0/autotagging_moodtheme-validation.tsv", tsv(validation))
  put(root, "splits/split-0/autotagging_moodtheme-test.tsv", tsv(test))
  for (const id of [948, 950, 951, 3346, 3524]) tone(root, `${String(id % 100).padStart(2, "0")}/${id}.mp3`.replace(/\.mp3$/, ".mp3"))
  return root
}

const runMtg = (root: string, params: Record<string, unknown> = {}) =>
  runStagePromise(DatasetStage, { params: { format: "mtg-jamendo", name: "mtg", ...params }, inputs: { root: dirValue(root) } })

describe("mtg-jamendo", () => {
  it("parses the TSV: ids without the track_ prefix, tags without mood/theme---, extra tags kept", () => {
    const parsed = parseMtgTsv([HEADER, row(948, ["background"]), row(950, ["happy", "fun", "happy"])].join("\n"), "x.tsv", "train")
    expect(parsed.problems).toEqual([])
    expect(parsed.tracks).toEqual([
      { id: "948", path: "48/948.mp3", labels: ["background"], duration: 30.5, split: "train", source: "x.tsv:2" },
      { id: "950", path: "50/950.mp3", labels: ["happy", "fun"], duration: 30.5, split: "train", source: "x.tsv:3" },
    ])
  })

  it("reads the official split-0 files", async () => {
    const d = (await runMtg(mtgFolder())).value as Dataset
    expect(d.tracks.map((t) => [t.id, t.split])).toEqual([["948", "train"], ["950", "train"], ["951", "train"], ["3346", "validation"], ["3524", "test"]])
    expect(d.labels).toHaveLength(56)
    expect(d.tracks[0].audio).toMatch(/\/48\/948\.mp3$/)
  })

  it("draws a seeded 80/10/10 split when there is no split folder", async () => {
    const root = mtgFolder()
    fs.rmSync(path.join(root, "splits"), { recursive: true })
    const a = (await runMtg(root, { seed: 1 })).value as Dataset
    const b = (await runMtg(root, { seed: 1 })).value as Dataset
    expect(a.tracks.map((t) => t.split)).toEqual(b.tracks.map((t) => t.split))
    expect(a.tracks.filter((t) => t.split === "train")).toHaveLength(4)
    const split = seededSplit(Array.from({ length: 1000 }, (_, i) => String(i)), 3)
    const n = (s: string) => [...split.values()].filter((v) => v === s).length
    expect([n("train"), n("validation"), n("test")]).toEqual([800, 100, 100])
    expect(seededSplit(Array.from({ length: 1000 }, (_, i) => String(i)), 4)).not.toEqual(split)
  })

  it("fails on a row with the wrong column count, naming file and line", async () => {
    const root = mtgFolder({ train: [row(948, ["background"]), "track_0000950\tartist_000001\t50/950.mp3\t30"] })
    await expect(runMtg(root)).rejects.toMatchObject({
      message:
        "splits/split-0/autotagging_moodtheme-train.tsv:3: expected at least 6 tab-separated columns (TRACK_ID, ARTIST_ID, ALBUM_ID, PATH, DURATION, TAGS), found 4",
    })
  })

  it("fails on an unknown label", async () => {
    const root = mtgFolder({ train: [row(948, ["background", "grumpy"])] })
    await expect(runMtg(root)).rejects.toMatchObject({
      message: 'splits/split-0/autotagging_moodtheme-train.tsv:2: unknown label "grumpy" (not in the mtg vocabulary)',
    })
  })

  it("fails on a duplicate track id, saying where it was first seen", async () => {
    const root = mtgFolder({ test: [row(948, ["melodic"])] })
    await expect(runMtg(root)).rejects.toMatchObject({
      message: 'splits/split-0/autotagging_moodtheme-test.tsv:2: duplicate track id "948" (first at splits/split-0/autotagging_moodtheme-train.tsv:2)',
    })
  })

  it("fails on a missing and on an empty audio file", async () => {
    const root = mtgFolder()
    fs.rmSync(path.join(root, "50/950.mp3"))
    await expect(runMtg(root)).rejects.toMatchObject({
      message: `${path.join(root, "50/950.mp3")}: missing audio file for track "950" from splits/split-0/autotagging_moodtheme-train.tsv:3`,
    })
    const root2 = mtgFolder()
    fs.writeFileSync(path.join(root2, "51/951.mp3"), new Uint8Array(0))
    await expect(runMtg(root2)).rejects.toMatchObject({
      message: `${path.join(root2, "51/951.mp3")}: empty audio file (0 bytes) for track "951" from splits/split-0/autotagging_moodtheme-train.tsv:4`,
    })
  })

  it("skips every bad row and file under on_error: skip, counting and listing them", async () => {
    const root = mtgFolder({ train: [row(948, ["background", "grumpy"]), "short\trow", row(950, ["happy"]), row(951, ["sad"])], test: [row(950, ["melodic"]), row(3524, ["melodic"])] })
    fs.rmSync(path.join(root, "51/951.mp3"))
    const result = await runMtg(root, { on_error: "skip" })
    const d = result.value as Dataset
    expect(d.tracks.map((t) => t.id)).toEqual(["950", "3346", "3524"])
    expect(d.skipped.map((s) => [s.id, s.reason.split(" ")[0]])).toEqual([
      [undefined, "expected"],
      ["950", "duplicate"],
      ["948", "unknown"],
      ["951", "missing"],
    ])
    expect(result.warnings).toHaveLength(4)
  })

  it("fails on a wrong header whatever the policy", async () => {
    const root = mtgFolder()
    put(root, "splits/split-0/autotagging_moodtheme-train.tsv", "ID\tPATH\n1\tx.mp3\n")
    await expect(runMtg(root, { on_error: "skip" })).rejects.toMatchObject({
      message: expect.stringMatching(/^splits\/split-0\/autotagging_moodtheme-train\.tsv:1: expected the header TRACK_ID\\tARTIST_ID/),
    })
  })
})

describe("dataset inputs", () => {
  it("needs exactly one source", async () => {
    await expect(runStagePromise(DatasetStage, { params: { format: "cal500", name: "cal500" }, inputs: {} })).rejects.toMatchObject({
      message: "dataset cal500: give exactly one of the inputs root (a data set folder), generated (a demo-data node) or metadata (a reference JSON file); found none",
    })
    const root = dirValue(tempDir())
    await expect(
      runStagePromise(DatasetStage, { params: { format: "cal500", name: "cal500" }, inputs: { root, metadata: { path: "/x.json", hash: "" } } }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/found root, metadata$/) })
  })

  it("needs a vocabulary when the name does not give one", async () => {
    await expect(runStagePromise(DatasetStage, { params: { format: "cal500", name: "mine" }, inputs: { root: dirValue(tempDir()) } })).rejects.toMatchObject({
      message: "dataset mine: set vocabulary (mtg, cal500 or emotify); the name does not say which",
    })
  })

  it("names a missing metadata file", async () => {
    const root = tempDir()
    await expect(runStagePromise(DatasetStage, { params: { format: "emotify", name: "emotify" }, inputs: { root: dirValue(root) } })).rejects.toMatchObject({
      message: expect.stringMatching(new RegExp(`^cannot read metadata file ${path.join(root, "data.csv")}: `)),
    })
  })
})

describe("cal500", () => {
  // As in the official vocab.txt, "Agressive" is misspelt.
  const vocab = ["Emotion-Angry_/_Agressive", "NOT-Emotion-Angry_/_Agressive", "Emotion-Laid-back_/_Mellow", "Genre-Rock", ...CAL500_LABELS.slice(1).map((l) => "Emotion-" + l.split(", ").map((w) => w[0].toUpperCase() + w.slice(1)).join("_/_"))]
  const line = (on: ReadonlyArray<string>) => vocab.map((v) => (on.includes(v) ? 1 : 0)).join(",")

  it("maps vocab.txt emotion columns to the 17 labels and ignores the others", () => {
    const parsed = parseCal500({
      songNames: "a-song_one\nb-song_two\n",
      vocab: vocab.join("\n"),
      annotations: [line(["Emotion-Angry_/_Agressive", "Emotion-Laid-back_/_Mellow", "Emotion-Sad", "Genre-Rock"]), line(["NOT-Emotion-Angry_/_Agressive", "Emotion-Tender_/_Soft"])].join("\n"),
    })
    expect(parsed.problems).toEqual([])
    expect(parsed.tracks.map((t) => [t.id, t.path, t.labels])).toEqual([
      ["a-song_one", "mp3/a-song_one", ["angry, aggressive", "sad"]],
      ["b-song_two", "mp3/b-song_two", ["tender, soft"]],
    ])
  })

  it("maps every official emotion entry to its label and back", () => {
    for (const label of CAL500_LABELS) expect(cal500LabelOfVocabEntry(cal500VocabEntryOfLabel(label))).toBe(label)
    expect(cal500VocabEntryOfLabel("angry, aggressive")).toBe("Emotion-Angry_/_Agressive")
    expect(cal500LabelOfVocabEntry("Emotion-Angry_/_Aggressive")).toBe("angry, aggressive")
    expect(cal500LabelOfVocabEntry("NOT-Emotion-Sad")).toBeUndefined()
    expect(cal500LabelOfVocabEntry("Instrument_-_Piano")).toBeUndefined()
  })

  it("reports a line with the wrong number of values, and counts that disagree", () => {
    const parsed = parseCal500({ songNames: "a\nb\n", vocab: vocab.join("\n"), annotations: `${line([])}\n1,0,1\n` })
    expect(parsed.problems).toEqual([{ id: "b", file: "hardAnnotations.txt:2", reason: `expected ${vocab.length} comma-separated values (one per vocab.txt entry), found 3` }])
    const mismatch = parseCal500({ songNames: "a\nb\nc\n", vocab: vocab.join("\n"), annotations: `${line([])}\n` })
    expect(mismatch.problems).toEqual([{ file: "hardAnnotations.txt", reason: "expected one line per song of songNames.txt (3), found 1", fatal: true }])
  })

  it("finds audio by trying extensions, or by audio_ext", async () => {
    const root = tempDir("mea-cal-")
    put(root, "songNames.txt", "a-one\nb-two\n")
    put(root, "vocab.txt", vocab.join("\n") + "\n")
    put(root, "hardAnnotations.txt", `${line(["Emotion-Happy"])}\n${line(["Emotion-Sad"])}\n`)
    tone(root, "mp3/a-one.mp3")
    tone(root, "mp3/b-two.wav")
    const d = (await runStagePromise(DatasetStage, { params: { format: "cal500", name: "cal500" }, inputs: { root: dirValue(root) } })).value as Dataset
    expect(d.tracks.map((t) => path.relative(root, t.audio))).toEqual(["mp3/a-one.mp3", "mp3/b-two.wav"])
    await expect(
      runStagePromise(DatasetStage, { params: { format: "cal500", name: "cal500", audio_ext: "mp3" }, inputs: { root: dirValue(root) } }),
    ).rejects.toMatchObject({ message: `${path.join(root, "mp3/b-two")}.{mp3}: missing audio file for track "b-two" from songNames.txt:2` })
  })
})

describe("emotify", () => {
  const header = "track id, genre, amazement, solemnity, tenderness, nostalgia, calmness, power, joyful_activation, tension, sadness, mood, liked, disliked, age, gender, mother tongue"
  const rating = (id: number, genre: string, on: ReadonlyArray<string>) =>
    [id, genre, ...EMOTIFY_LABELS.map((l) => (on.includes(l) ? 1 : 0)), 3, 1, 0, 30, 1, "English"].join(", ")

  it("gives each track its top-3 most chosen labels (ties in vocabulary order) and its genre-folder path", () => {
    const csv = [
      header,
      rating(1, "classical", ["calmness", "sadness", "nostalgia"]),
      rating(1, "classical", ["calmness", "tenderness"]),
      rating(1, "classical", ["calmness", "sadness", "power"]),
      rating(101, "rock", ["power"]),
      rating(101, "rock", ["tension", "power"]),
    ].join("\n")
    const parsed = parseEmotifyCsv(csv)
    expect(parsed.problems).toEqual([])
    // track 1: calmness 3, sadness 2, then tenderness/nostalgia/power 1 each -> tenderness (first in vocabulary order).
    expect(parsed.tracks.map((t) => [t.id, t.path, t.labels])).toEqual([
      ["1", "classical/1", ["calmness", "sadness", "tenderness"]],
      ["101", "rock/1", ["power", "tension"]],
    ])
    expect(parseEmotifyCsv(csv, { ...EMOTIFY_DEFAULTS, top: 1 }).tracks.map((t) => t.labels)).toEqual([["calmness"], ["power"]])
  })

  it("reports wrong column counts, non-0/1 votes, a genre that changes, a missing header column", () => {
    const csv = [header, rating(1, "classical", ["power"]), "1, classical, 0, 1", rating(1, "rock", ["power"]), rating(2, "classical", []).replace("0, 0, 0, 0, 0, 0, 0, 0, 0", "0, 0, 2, 0, 0, 0, 0, 0, 0")].join("\n")
    expect(parseEmotifyCsv(csv).problems).toEqual([
      { file: "data.csv:3", reason: "expected 17 comma-separated columns, found 4" },
      { id: "1", file: "data.csv:4", reason: 'genre "rock" differs from "classical" at line 2' },
      { id: "2", file: "data.csv:5", reason: 'tenderness must be 0 or 1, found "2"' },
    ])
    expect(parseEmotifyCsv("track id, genre, power\n").problems).toEqual([
      { file: "data.csv:1", reason: "header lacks the column(s) amazement, solemnity, tenderness, nostalgia, calmness, joyful_activation, tension, sadness", fatal: true },
    ])
  })
})
