/**
 * Evaluation, model and clusters artifacts for the report tests. Evaluations go through writeEvaluation (the code the
 * eval and vote stages use), so their metrics are computed from seeded random scores and truth, not typed in.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Model, ModelCodec } from "../../src/artifacts/model.ts"
import { type Evaluation, EvaluationCodec, writeEvaluation } from "../../src/artifacts/evaluation.ts"
import { topK } from "../../src/model/metrics.ts"
import { Rng } from "../../src/model/rng.ts"
import { pca2, projectionSvg } from "../../src/cluster/projection.ts"
import type { Artifact } from "../../src/runtime/stage.ts"
import { type Clusters, ClustersCodec, PROJECTION_FILE } from "../../src/artifacts/clusters.ts"
import { artifactOf, tempDir } from "../support/stage-harness.ts"
import { PHASES, SPLITS, type Phase, type SplitKey } from "../../src/report/published.ts"

export const DATASET_OF: Record<SplitKey, string> = { emo: "emotify", mtg: "mtg", cal: "cal500" }
const TRAINED_ON: Record<SplitKey, ReadonlyArray<string>> = { emo: ["mtg", "cal500"], mtg: ["cal500", "emotify"], cal: ["emotify", "mtg"] }
const K: Record<SplitKey, number> = { emo: 3, mtg: 2, cal: 4 }

export interface EvalSpec {
  readonly node: string
  readonly level: "segment" | "song"
  readonly dataset: string
  readonly modelNode: string
  readonly phase: string
  readonly trainedOn: ReadonlyArray<string>
  readonly alpha?: number
  readonly k?: number
  readonly seed: number
  readonly rows?: number
  readonly labels?: number
  /** Song level: the aggregation the evaluation records. */
  readonly aggregation?: "vote" | "mean-score" | "mean-embedding"
}

/** An evaluation of seeded random scores against seeded random truth (1-2 labels per row). */
export const evaluationArtifact = (s: EvalSpec): Artifact<Evaluation> => {
  const rng = new Rng(s.seed, "report-fixture")
  const rows = s.rows ?? 40
  const nLabels = s.labels ?? 8
  const k = s.k ?? 2
  const labels = Array.from({ length: nLabels }, (_, i) => `${s.dataset} label ${i}`)
  const scores = Float32Array.from({ length: rows * nLabels }, () => rng.next() * 2 - 1)
  const truth = new Uint8Array(rows * nLabels)
  for (let r = 0; r < rows; r++) {
    truth[r * nLabels + rng.int(nLabels)] = 1
    if (rng.next() < 0.4) truth[r * nLabels + rng.int(nLabels)] = 1
    // Make the scores informative for some rows, so metrics differ between fixtures.
    for (let l = 0; l < nLabels; l++) if (truth[r * nLabels + l] === 1 && rng.next() < 0.5) scores[r * nLabels + l] += 1
  }
  const dir = tempDir("mea-report-eval-")
  const value = Effect.runSync(
    writeEvaluation(dir, {
      level: s.level,
      dataset: s.dataset,
      split: "test",
      k,
      labels,
      rowTracks: Array.from({ length: rows }, (_, i) => `t${i}`),
      scores,
      truth,
      predicted: topK(scores, rows, nLabels, k),
      model: { node: s.modelNode, datasets: [...s.trainedOn], phase: s.phase, regulariser: "v2", alpha: s.alpha ?? 2.5, best_epoch: 3 },
      ...(s.aggregation !== undefined ? { aggregation: s.aggregation } : {}),
      chanceDraws: 20,
      seed: 0,
    }),
  )
  return artifactOf(EvaluationCodec, value, dir, s.node)
}

export const modelArtifact = (node: string, phase: Phase, datasets: ReadonlyArray<string>, epochs = 6): Artifact<Model> =>
  artifactOf(
    ModelCodec,
    {
      config: { net: "attention", in_dim: 32, out_dim: 6, hidden: 16, heads: 2, ff: 24, num_layers: 1, dropout: 0.1 },
      weights: "model.safetensors",
      layers: [0, 1],
      feature_dim: 16,
      datasets: [...datasets],
      phase,
      regulariser: "v2",
      alpha: 2.5,
      seed: 0,
      curves: Array.from({ length: epochs }, (_, i) => ({
        epoch: i + 1,
        steps: 4 * (i + 1),
        train_loss: 1.5 / (i + 1),
        triplet_loss: 1.2 / (i + 1),
        regulariser_loss: 0.3 / (i + 1),
        val_f1: 0.1 + 0.05 * i,
        lr: i < 4 ? 1e-4 : 2e-5,
      })),
      best_epoch: epochs,
      best_val_f1: 0.1 + 0.05 * (epochs - 1),
      stopped_early: false,
    },
    tempDir("mea-report-model-"),
    node,
  )

export const clustersArtifact = (node: string, datasets: ReadonlyArray<string>, withSvg = true): Artifact<Clusters> => {
  const dir = tempDir("mea-report-clusters-")
  const labels = datasets.flatMap((d) => [0, 1, 2].map((i) => ({ dataset: d, label: `${d} label ${i}`, cluster: i })))
  if (withSvg) {
    const coords = pca2(labels.map((_, i) => [Math.cos(i), Math.sin(i), i / 10]))
    const svg = projectionSvg(labels.map((l) => ({ label: l.label, group: l.dataset, cluster: l.cluster })), coords, `clusters of ${node}`)
    fs.writeFileSync(path.join(dir, PROJECTION_FILE), `<?xml version="1.0" encoding="UTF-8"?>\n${svg}`)
  }
  return artifactOf(
    ClustersCodec,
    { method: "meanshift", datasets: [...datasets], bandwidth: 0.5, quantile: 0.3, neighbours: 2, clusters: 3, centres: [], assignments: labels, notes: ["a note"], file: PROJECTION_FILE },
    dir,
    node,
  )
}

/** The full experiment as the default pipeline names it: 9 models, 9 eval and 9 vote nodes, 3 cluster nodes. */
export const fullExperiment = () => {
  const evaluations: Array<Artifact<Evaluation>> = []
  const models: Array<Artifact<Model>> = []
  let seed = 1
  for (const split of SPLITS) {
    for (const phase of PHASES) {
      const modelNode = `train.${split}.${phase}`
      models.push(modelArtifact(modelNode, phase, TRAINED_ON[split]))
      for (const level of ["segment", "song"] as const) {
        evaluations.push(
          evaluationArtifact({
            node: `${level === "segment" ? "eval" : "vote"}.${split}.${phase}`,
            level,
            dataset: DATASET_OF[split],
            modelNode,
            phase,
            trainedOn: TRAINED_ON[split],
            alpha: phase === "alignment" ? (split === "cal" ? 1 : 2.5) : 0,
            k: K[split],
            seed: seed++,
          }),
        )
      }
    }
  }
  const clusters = SPLITS.map((s) => clustersArtifact(`cluster.${s}`, TRAINED_ON[s]))
  return { evaluations, models, clusters }
}
