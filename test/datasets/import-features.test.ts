import { Either } from "effect"
/**
 * The original implementation's preprocessed features ("Option B"): *_source.npy + *_index.npy written by NumPy here
 * (python3-numpy, installed by .ci/run), the real emotify JSON metadata read without audio.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { expect, it } from "vitest"
import { chooseLayers, featureFiles, rowTracks } from "../../src/model/data.ts"
import { openRows } from "../../src/model/rows.ts"
import { DatasetCodec, type Dataset } from "../../src/artifacts/dataset.ts"
import { DatasetStage } from "../../src/stages/dataset.ts"
import { ImportFeaturesStage } from "../../src/stages/import-features.ts"
import { ImportSegmentsStage } from "../../src/stages/import-segments.ts"
import { FeaturesCodec, type Features } from "../../src/artifacts/features.ts"
import { SegmentsCodec, type Segments } from "../../src/artifacts/segments.ts"
import { artifactOf, runStagePromise, tempDir } from "../support/stage-harness.ts"
import { describeWithShared, sharedPath } from "../support/shared-data.ts"

const resources = sharedPath("reference/resources")
const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3"

/** Runs a NumPy script with `dir` as its working folder. */
const numpy = (dir: string, script: string): void => {
  const r = spawnSync(python, ["-c", `import numpy as np\n${script}`], { cwd: dir, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`python3 with numpy failed (apt-get install -y python3-numpy):\n${r.stderr}`)
}

// Two parts (like the original's per-split files): rows of tracks of the emotify metadata, value = row*1000+layer*10+d.
const writeParts = (dir: string, options: { readonly ids?: string; readonly layers?: number; readonly dtype?: string } = {}) =>
  numpy(
    dir,
    `
ids = ${options.ids ?? `[["1,classical", "1,classical", "2,classical"], ["201,electronic", "1,classical"]]`}
row = 0
for part, names in zip(["a", "b"], ids):
    n = len(names)
    x = np.zeros((n, ${options.layers ?? 13}, 4), dtype="${options.dtype ?? "float32"}")
    for i in range(n):
        for l in range(x.shape[1]):
            x[i, l] = (row + i) * 1000 + l * 10 + np.arange(4)
    row += n
    np.save(f"{part}_source.npy", x)
    idx = np.zeros(n, dtype=[("track_id", "U20"), ("segment", "i8")])
    idx["track_id"] = names
    idx["segment"] = np.arange(n)
    np.save(f"{part}_index.npy", idx)
`,
  )

const folderOf = (dir: string) => ({ path: dir, hash: "test", files: fs.readdirSync(dir).sort() })

const emotify = async (): Promise<ReturnType<typeof artifactOf<Dataset, unknown>>> => {
  // The reference's paths are the authors' absolute ones; `audio: none` keeps every track anyway.
  const r = await runStagePromise(DatasetStage, {
    params: { format: "reference-json", name: "emotify", audio: "none" },
    inputs: { metadata: { path: path.join(resources, "emotify_metadata_updated.json"), hash: "test" } },
  })
  const d = r.value as Dataset
  return artifactOf(DatasetCodec, d) as never
}

describeWithShared("import of the original's preprocessed features", ["reference/resources/emotify_metadata_updated.json"], () => {
  it("the reference JSON loads labels without audio (audio: none), keeping the metadata's paths", async () => {
    const d = (await emotify()).value
    expect(d.tracks).toHaveLength(400)
    expect(d.skipped).toEqual([])
    expect(d.tracks.find((t) => t.id === "1,classical")?.audio).toBe("/renhangx/alignment/datasets/emotifymusic_wav/classical/1.wav")
  })

  it("index + sources become segments and features by reference, rows in part order, values as NumPy wrote them", async () => {
    const dir = tempDir("mea-optb-")
    writeParts(dir)
    const dataset = await emotify()
    const seg = await runStagePromise(ImportSegmentsStage, { params: { parts: ["a", "b"] }, inputs: { folder: folderOf(dir), dataset } })
    const segments = artifactOf(SegmentsCodec, seg.value as Segments, seg.outDir)
    expect(segments.value).toMatchObject({ dataset: "emotify", count: 5, tracks: ["1,classical", "2,classical", "201,electronic"], rate: 24000, seconds: 10 })
    const feat = await runStagePromise(ImportFeaturesStage, { params: { parts: ["a", "b"], layers: 13, dim: 4 }, inputs: { folder: folderOf(dir), segments } })
    // Nothing copied: the artifact folder holds no matrix.
    expect(fs.readdirSync(feat.outDir)).toEqual([])
    const features = artifactOf(FeaturesCodec, feat.value as Features, feat.outDir)
    expect(features.value).toMatchObject({ extractor: "imported", layers: 13, dim: 4, rows: 5 })
    expect(chooseLayers(features.value, undefined)).toEqual([3, 6, 9, 12])
    expect(Either.getOrThrow(rowTracks(features, segments))).toEqual(["1,classical", "1,classical", "2,classical", "201,electronic", "1,classical"])
    for (const limit of [undefined, 0]) {
      const rows = openRows(Either.getOrThrow(featureFiles(features)), [12, 3], limit)
      const out = new Float32Array(3 * 8)
      rows.gather([4, 2, 3], out)
      expect([...out]).toEqual([4, 2, 3].flatMap((r) => [120, 121, 122, 123, 30, 31, 32, 33].map((v) => r * 1000 + v)))
      rows.close()
    }
    // A source changed after the import is an error, not silently different rows.
    fs.appendFileSync(path.join(dir, "b_source.npy"), Buffer.alloc(16))
    const changed = Either.getLeft(featureFiles(features))
    expect(changed._tag === "Some" && changed.value._tag).toBe("DataError")
    expect(changed._tag === "Some" ? changed.value.message : "").toMatch(/b_source\.npy, which has changed since it was imported \(\d+ bytes then, \d+ now\)/)
  })

  it("names the file and what disagrees: unknown track, shape, dtype, row counts, missing part, plain index", async () => {
    const dataset = await emotify()
    const fail = async (stage: typeof ImportSegmentsStage, params: unknown, inputs: Record<string, unknown>) =>
      runStagePromise(stage, { params, inputs }).then(
        () => "no error",
        (e: { message: string }) => e.message,
      )
    const unknown = tempDir("mea-optb-")
    writeParts(unknown, { ids: `[["1,classical"], ["999,jazz", "1,classical"]]` })
    expect(await fail(ImportSegmentsStage, { parts: ["a", "b"] }, { folder: folderOf(unknown), dataset })).toMatch(
      /b_index\.npy: record 0 has track_id "999,jazz", which is not a track of data set 'emotify'/,
    )
    expect(await fail(ImportSegmentsStage, { parts: ["a", "c"] }, { folder: folderOf(unknown), dataset })).toMatch(
      /c_index\.npy: no such file \(parts are named <part>_index\.npy; the folder has a_index\.npy, b_index\.npy\)/,
    )
    expect(await fail(ImportSegmentsStage, { parts: ["a"], field: "song" }, { folder: folderOf(unknown), dataset })).toMatch(
      /a_index\.npy: no field 'song' \(fields: track_id, segment\)/,
    )
    const good = tempDir("mea-optb-")
    writeParts(good)
    const seg = await runStagePromise(ImportSegmentsStage, { params: { parts: ["a", "b"] }, inputs: { folder: folderOf(good), dataset } })
    const segments = artifactOf(SegmentsCodec, seg.value as Segments, seg.outDir)
    expect(await fail(ImportFeaturesStage, { parts: ["a", "b"], layers: 25 }, { folder: folderOf(good), segments })).toMatch(
      /a_source\.npy: rows are 13 x 4, expected 25 x 4 \(params layers, dim\)/,
    )
    expect(await fail(ImportFeaturesStage, { parts: ["a"] }, { folder: folderOf(good), segments })).toMatch(
      /the parts a have 3 rows, the segments test list 5; import the segments from the same parts/,
    )
    const f64 = tempDir("mea-optb-")
    writeParts(f64, { dtype: "float64" })
    expect(await fail(ImportFeaturesStage, { parts: ["a", "b"] }, { folder: folderOf(f64), segments })).toMatch(/a_source\.npy: expected float32 \('<f4'\), found '<f8'/)
    const mismatch = tempDir("mea-optb-")
    writeParts(mismatch)
    numpy(mismatch, `idx = np.zeros(4, dtype=[("track_id", "U20")]); idx["track_id"] = "1,classical"; np.save("b_index.npy", idx)`)
    expect(await fail(ImportFeaturesStage, { parts: ["a", "b"] }, { folder: folderOf(mismatch), segments })).toMatch(
      /b_source\.npy has 2 rows but .*b_index\.npy has 4 records; each row needs its index record/,
    )
    numpy(mismatch, `np.save("b_index.npy", np.arange(2))`)
    expect(await fail(ImportSegmentsStage, { parts: ["a", "b"] }, { folder: folderOf(mismatch), dataset })).toMatch(
      /b_index\.npy: expected a structured array \(fields such as 'track_id'\), found plain dtype '<i8'/,
    )
  })
})
