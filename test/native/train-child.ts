/**
 * Run by mea-native.test.ts in a child process (MEA_NATIVE decides the path): trains the toy data sets through the
 * train stage and prints its notes, its curves and the sha256 of every output file, as one JSON line.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Model } from "../../src/artifacts/model.ts"
import { TrainStage } from "../../src/stages/train.ts"
import { toyDataset } from "../model/fixture.ts"
import { clustersArtifact, labelArtifact } from "../model/stage-fixture.ts"
import { runStagePromise } from "../support/stage-harness.ts"

const a = toyDataset("a", 5, 60, 1)
const b = toyDataset("b", 4, 40, 2)
const trained = await runStagePromise(TrainStage, {
  params: { hidden: 16, ff: 24, heads: 2, num_layers: 1, batch: 32, lr: 0.003, val_k: 1, epochs: 3, standardise: true },
  inputs: {
    features: [a.features, b.features],
    segments: [a.segments, b.segments],
    datasets: [a.dataset, b.dataset],
    labels: [labelArtifact(a), labelArtifact(b)],
    clusters: clustersArtifact([a, b]),
  },
})
const files = Object.fromEntries(
  fs
    .readdirSync(trained.outDir)
    .sort()
    .map((f) => [f, createHash("sha256").update(fs.readFileSync(path.join(trained.outDir, f))).digest("hex")]),
)
console.log(JSON.stringify({ notes: trained.notes, curves: (trained.value as Model).curves, files }))
