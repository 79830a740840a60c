/** How model/data.ts fits the upstream artifacts together, and the DataError it fails with when they do not fit. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Dataset } from "../../src/artifacts/dataset.ts"
import { type Features, FeaturesCodec } from "../../src/artifacts/features.ts"
import { type Segments, SegmentsCodec } from "../../src/artifacts/segments.ts"
import { alignEmbeddings, featureFiles, rowTracks, segmentNumbers, splitRows } from "../../src/model/data.ts"
import { artifactOf, tempDir } from "../support/stage-harness.ts"

const dataset: Dataset = {
  name: "d",
  format: "cal500",
  labels: ["calm", "happy"],
  tracks: [
    { id: "a", audio: "a.mp3", labels: ["happy"], split: "train" },
    { id: "b", audio: "b.mp3", labels: ["calm", "happy"], split: "test" },
  ],
  skipped: [],
}

const segmentsArtifact = (rows: ReadonlyArray<readonly [number, number]>) => {
  const dir = tempDir()
  const table = new Uint32Array(rows.flatMap(([track, segment]) => [track, segment, 0, 10]))
  fs.writeFileSync(path.join(dir, "segments.u32"), new Uint8Array(table.buffer))
  const value: Segments = { dataset: "d", rate: 10, seconds: 1, hop: 1, length: 10, short: "pad", file: "segments.u32", count: rows.length, tracks: ["a", "b"], short_tracks: [] }
  return artifactOf(SegmentsCodec, value, dir, "segment.d")
}

const featuresValue = (rows: number, extra: Partial<Features> = {}): Features => ({
  dataset: "d",
  extractor: "imported",
  pooling: "first",
  layers: 1,
  dim: 2,
  rows,
  file: "features.npy",
  layerNames: ["l0"],
  sampleRate: 10,
  ...extra,
})

describe("model data", () => {
  it.effect("maps feature rows to tracks, splits and label indices", () =>
    Effect.gen(function* () {
      const segments = segmentsArtifact([[0, 0], [1, 0], [1, 1]])
      const tracks = yield* rowTracks(artifactOf(FeaturesCodec, featuresValue(3), tempDir(), "features.d"), segments)
      expect(tracks).toEqual(["a", "b", "b"])
      expect(yield* splitRows(dataset, tracks, "test", "eval")).toEqual({ rows: [1, 2], tracks: ["b", "b"], labels: [[0, 1], [0, 1]] })
      expect(yield* segmentNumbers(segments, [2, 0])).toEqual([1, 0])
      expect(Array.from(yield* alignEmbeddings(["happy", "calm"], ["calm", "happy"], Float32Array.of(1, 2), 1, "eval"))).toEqual([2, 1])
    }),
  )

  it.effect("fails with DataError naming both sides when artifacts do not fit", () =>
    Effect.gen(function* () {
      const segments = segmentsArtifact([[0, 0], [1, 0]])
      const rows = yield* Effect.flip(rowTracks(artifactOf(FeaturesCodec, featuresValue(3), tempDir(), "features.d"), segments))
      expect(rows._tag).toBe("DataError")
      expect(rows.message).toBe("features features.d have 3 rows but segments segment.d list 2 segments; the features must be computed from these segments")
      const track = yield* Effect.flip(splitRows(dataset, ["a", "z"], "all", "eval"))
      expect(track.message).toBe("eval: feature row 1 belongs to track 'z', which data set 'd' does not list")
      const label = yield* Effect.flip(splitRows({ ...dataset, labels: ["calm"] }, ["a"], "all", "eval"))
      expect(label.message).toBe("eval: track 'a' has label 'happy', which is not in the vocabulary of 'd'")
      const embedding = yield* Effect.flip(alignEmbeddings(["calm", "sad"], ["calm"], Float32Array.of(1), 1, "eval"))
      expect(embedding._tag).toBe("DataError")
      expect(embedding.message).toBe("eval: no embedding for label 'sad' (embedded labels: calm)")
      const short = segmentsArtifact([[0, 0]])
      fs.writeFileSync(short.file("segments.u32"), new Uint8Array(4))
      const table = yield* Effect.flip(segmentNumbers(short, [0]))
      expect(table._tag).toBe("DataError")
      expect(table.message).toBe(`${short.file("segments.u32")}: expected 1 rows of 4 uint32, found 0.25`)
      expect(table.cause).toMatchObject({ _tag: "ArtifactReadError" })
    }),
  )

  it.effect("features imported by reference: gone or changed files are DataErrors", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const src = path.join(dir, "part.npy")
      fs.writeFileSync(src, new Uint8Array(100))
      const of = (bytes: number, p = src) => artifactOf(FeaturesCodec, featuresValue(1, { sources: [{ path: p, bytes, rows: 1 }] }), tempDir(), "features.x")
      expect(yield* featureFiles(of(100))).toEqual([src])
      const changed = yield* Effect.flip(featureFiles(of(90)))
      expect(changed._tag).toBe("DataError")
      expect(changed.message).toBe(`features features.x refer to ${src}, which has changed since it was imported (90 bytes then, 100 now); rerun the pipeline to import it again`)
      const gone = yield* Effect.flip(featureFiles(of(100, path.join(dir, "gone.npy"))))
      expect(gone.message).toBe(`features features.x refer to ${path.join(dir, "gone.npy")}, which no longer exists; restore it or rerun the import`)
    }),
  )
})
