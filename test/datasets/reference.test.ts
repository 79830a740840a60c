/** The loaders on the real metadata files of the original implementation (../shared/reference/resources). */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { NodeContext } from "@effect/platform-node"
import { expect, it } from "vitest"
import { loadReferenceJson, parseReferenceJson } from "../../src/datasets/reference-json.ts"
import { CAL500_LABELS, EMOTIFY_LABELS, MTG_LABELS } from "../../src/datasets/vocabularies.ts"
import { DatasetStage } from "../../src/stages/dataset.ts"
import { type Dataset } from "../../src/artifacts/dataset.ts"
import { describeWithShared, sharedPath } from "../support/shared-data.ts"
import { runStagePromise, tempDir } from "../support/stage-harness.ts"
import { sine, writeWav } from "../audio/fixtures.ts"

const resources = sharedPath("reference", "resources")
const read = (name: string) => fs.readFileSync(path.join(resources, name), "utf8")
const fileValue = (p: string) => ({ path: p, hash: "test" })

describeWithShared("reference JSON metadata (real files)", ["reference/resources"], () => {
  it("reads MTG-Jamendo split-0: 9949 / 3802 / 4231 tracks, every label in the 56-tag vocabulary", async () => {
    const parsed = await Effect.runPromise(
      loadReferenceJson({
        files: (["train", "validation", "test"] as const).map((split) => ({ path: path.join(resources, `jamendo-${split}.json`), split })),
      }).pipe(Effect.provide(NodeContext.layer)),
    )
    expect(parsed.problems).toEqual([])
    const count = (s: string) => parsed.tracks.filter((t) => t.split === s).length
    expect([count("train"), count("validation"), count("test")]).toEqual([9949, 3802, 4231])
    const vocab = new Set(MTG_LABELS)
    expect(parsed.tracks.every((t) => t.labels.length > 0 && t.labels.every((l) => vocab.has(l)))).toBe(true)
    expect(new Set(parsed.tracks.flatMap((t) => t.labels)).size).toBe(56)
    const t948 = parsed.tracks.find((t) => t.id === "948")
    expect(t948).toMatchObject({ path: "48/948.mp3", labels: ["background"], duration: 212.7, split: "train" })
    // The id lists of split-0 agree with the JSON files' keys.
    for (const split of ["train", "validation", "test"] as const) {
      const ids = (JSON.parse(read(`split-0-${split}.json`)) as Array<number>).map(String).sort()
      expect(parsed.tracks.filter((t) => t.split === split).map((t) => t.id).sort()).toEqual(ids)
    }
  })

  it("reads CAL500: 500 songs, the 17 emotion labels", () => {
    const parsed = parseReferenceJson(read("CAL500_metadata.json"), "CAL500_metadata.json", { pathComponents: 1 })
    expect(parsed.problems).toEqual([])
    expect(parsed.tracks).toHaveLength(500)
    expect(new Set(parsed.tracks.flatMap((t) => t.labels))).toEqual(new Set(CAL500_LABELS))
    expect(parsed.tracks[0]).toMatchObject({ id: "0", path: "belle_and_sebastian-like_dylan_in_the_movies.wav" })
  })

  it("reads Emotify: 400 excerpts, 3 GEMS labels each, paths kept as genre/n.wav", () => {
    const parsed = parseReferenceJson(read("emotify_metadata_updated.json"), "emotify_metadata_updated.json", { pathComponents: 2 })
    expect(parsed.problems).toEqual([])
    expect(parsed.tracks).toHaveLength(400)
    expect(parsed.tracks.every((t) => t.labels.length === 3)).toBe(true)
    expect(new Set(parsed.tracks.flatMap((t) => t.labels))).toEqual(new Set(EMOTIFY_LABELS))
    expect(parsed.tracks.find((t) => t.id === "201,electronic")?.path).toBe("electronic/1.wav")
  })

  it("resolves audio against audio_root, failing on the first missing file or skipping and listing every one", async () => {
    const audio = tempDir("mea-ref-audio-")
    for (const n of [1, 2, 3]) writeWav(path.join(audio, "classical", `${n}.wav`), [sine(440, 0.3, 8000, 0.5)], 8000)
    const params = { format: "reference-json", name: "emotify", audio_root: audio, path_components: 2 }
    const metadata = fileValue(path.join(resources, "emotify_metadata_updated.json"))
    await expect(runStagePromise(DatasetStage, { params, inputs: { metadata } })).rejects.toMatchObject({
      message: `${path.join(audio, "classical/4.wav")}: missing audio file for track "4,classical" from emotify_metadata_updated.json: key "4,classical" (and 396 more problems; on_error: skip would skip them)`,
    })
    const result = await runStagePromise(DatasetStage, { params: { ...params, on_error: "skip", seed: 7 }, inputs: { metadata } })
    const d = result.value as Dataset
    expect(d.tracks.map((t) => [t.id, t.audio])).toEqual([1, 2, 3].map((n) => [`${n},classical`, path.join(audio, `classical/${n}.wav`)]))
    expect(d.skipped).toHaveLength(397)
    expect(result.warnings).toHaveLength(397)
    expect(d.labels).toEqual([...EMOTIFY_LABELS])
  })

  it("reads MTG's three JSON files from a root folder with their official splits", async () => {
    const audio = tempDir("mea-ref-mtg-")
    for (const rel of ["48/948.mp3", "46/3346.mp3", "24/3524.mp3"]) writeWav(path.join(audio, rel), [sine(440, 0.3, 8000, 0.5)], 8000)
    const params = {
      format: "reference-json",
      name: "mtg",
      files: { train: "jamendo-train.json", validation: "jamendo-validation.json", test: "jamendo-test.json" },
      audio_root: audio,
      on_error: "skip",
    }
    const result = await runStagePromise(DatasetStage, { params, inputs: { root: { path: resources, hash: "test", files: [] } } })
    const d = result.value as Dataset
    expect(d.tracks.map((t) => [t.id, t.split, t.labels, t.duration])).toEqual([
      ["948", "train", ["background"], 212.7],
      ["3346", "validation", ["melodic", "calm"], 195.0],
      ["3524", "test", ["melodic"], 266.1],
    ])
    expect(d.skipped).toHaveLength(9949 + 3802 + 4231 - 3)
  })
})
