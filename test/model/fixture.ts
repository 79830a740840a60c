import { Either } from "effect"
/**
 * Hand-made upstream artifacts (dataset, segments, features, label embeddings) for the train/eval/vote stage tests:
 * a learnable toy where each track's features are a fixed random projection of its first label's embedding plus
 * noise, three segments per track.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { writeNpyFloat32 } from "../../src/io/npy.ts"
import { Rng } from "../../src/model/rng.ts"
import type { LabelMatrix } from "../../src/model/train-and-eval.ts"
import type { Artifact } from "../../src/runtime/stage.ts"
import { DatasetCodec, type Dataset } from "../../src/artifacts/dataset.ts"
import { FEATURES_FILE, FeaturesCodec, type Features } from "../../src/artifacts/features.ts"
import { SEGMENT_FILE, SegmentsCodec, type Segments } from "../../src/artifacts/segments.ts"
import { artifactOf, tempDir } from "../support/stage-harness.ts"

export const LAYERS = 3
export const DIM = 4
export const EMB = 6
const SEGMENTS_PER_TRACK = 3

export interface ToyDataset {
  readonly dataset: Artifact<Dataset>
  readonly segments: Artifact<Segments>
  readonly features: Artifact<Features>
  readonly labels: LabelMatrix
}

const projection = (() => {
  const rng = new Rng(99, "projection")
  return Float32Array.from({ length: EMB * LAYERS * DIM }, () => rng.next() * 2 - 1)
})()

export const toyDataset = (name: string, labelCount: number, tracks: number, seed: number): ToyDataset => {
  const rng = new Rng(seed, name)
  const labels = Array.from({ length: labelCount }, (_, i) => `${name}-${i}`)
  const matrix = Float32Array.from({ length: labelCount * EMB }, () => rng.next() * 2 - 1)
  const trackList = Array.from({ length: tracks }, (_, i) => {
    const first = rng.int(labelCount)
    const second = rng.next() < 0.3 ? (first + 1) % labelCount : -1
    const split = i % 10 < 6 ? "train" : i % 10 < 8 ? "validation" : "test"
    return {
      id: `${name}_${i}`,
      audio: `${name}/${i}.wav`,
      labels: (second >= 0 ? [first, second] : [first]).map((l) => labels[l]),
      split: split as "train" | "validation" | "test",
    }
  })
  const dataset = artifactOf(DatasetCodec, { name, format: "reference-json", labels, tracks: trackList, skipped: [] })
  // Segments: every track has SEGMENTS_PER_TRACK rows; the last track's rows come first, to check row -> track mapping.
  const order = [tracks - 1, ...Array.from({ length: tracks - 1 }, (_, i) => i)]
  const table: Array<number> = []
  for (const t of order) for (let s = 0; s < SEGMENTS_PER_TRACK; s++) table.push(t, s, s * 100, (s + 1) * 100)
  const segDir = tempDir()
  const u32 = Uint32Array.from(table)
  fs.writeFileSync(path.join(segDir, SEGMENT_FILE), new Uint8Array(u32.buffer))
  const segments = artifactOf(
    SegmentsCodec,
    { dataset: name, rate: 10, seconds: 10, hop: 10, length: 100, short: "pad", file: SEGMENT_FILE, count: table.length / 4, tracks: trackList.map((t) => t.id), short_tracks: [] },
    segDir,
  )
  const rows = table.length / 4
  const x = new Float32Array(rows * LAYERS * DIM)
  for (let r = 0; r < rows; r++) {
    const first = labels.indexOf(trackList[table[r * 4]].labels[0])
    for (let j = 0; j < LAYERS * DIM; j++) {
      let s = 0
      for (let k = 0; k < EMB; k++) s += matrix[first * EMB + k] * projection[k * LAYERS * DIM + j]
      x[r * LAYERS * DIM + j] = s + (rng.next() - 0.5) * 0.4
    }
  }
  const featDir = tempDir()
  Either.getOrThrow(writeNpyFloat32(path.join(featDir, FEATURES_FILE), [rows, LAYERS, DIM], x))
  const features = artifactOf(
    FeaturesCodec,
    {
      dataset: name,
      extractor: "builtin",
      pooling: "statistics",
      layers: LAYERS,
      dim: DIM,
      rows,
      file: FEATURES_FILE,
      layerNames: Array.from({ length: LAYERS }, (_, i) => `stat${i}`),
      sampleRate: 10,
    },
    featDir,
  )
  return { dataset, segments, features, labels: { labels, dim: EMB, matrix } }
}
