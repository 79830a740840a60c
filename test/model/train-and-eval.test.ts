import { NodeContext } from "@effect/platform-node"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { INPUT_STD, loadWeights, ModelCodec, readModelTensors, saveWeights, WEIGHTS_FILE, type Model } from "../../src/artifacts/model.ts"
import { EvaluationCodec, type Evaluation } from "../../src/artifacts/evaluation.ts"
import { classificationMetrics } from "../../src/model/metrics.ts"
import { readSafetensors } from "../../src/model/safetensors.ts"
import type { TrainSettings } from "../../src/model/settings.ts"
import { evaluateModel, trainModel } from "../../src/model/train-and-eval.ts"
import type { Progress } from "../../src/runtime/stage.ts"
import { VoteStage } from "../../src/stages/vote.ts"
import { artifactOf, runStagePromise, tempDir } from "../support/stage-harness.ts"
import { toyDataset } from "./fixture.ts"

const progress = (notes: Array<string> = []): Progress => ({
  start: () => Effect.void,
  advance: () => Effect.void,
  note: (m) => Effect.sync(() => void notes.push(m)),
  warn: (m) => Effect.sync(() => void notes.push(m)),
})

const settings: TrainSettings = {
  net: "attention",
  phase: "alignment",
  regulariser: "v2",
  alpha: 1,
  epochs: 8,
  patience: 50,
  batch: 32,
  lr: 3e-3,
  weight_decay: 0.01,
  seed: 3,
  batching: "max_size_cycle",
  upsample: { b: 2 },
  negatives: 2,
  val_k: 1,
  lr_factor: 0.2,
  lr_patience: 10,
  lr_cooldown: 5,
  min_lr: 1.6e-7,
  hidden: 16,
  ff: 24,
  heads: 2,
  num_layers: 1,
  dropout: 0.1,
  standardise: true,
  shuffle: "auto",
}

const a = toyDataset("a", 5, 60, 1)
const b = toyDataset("b", 4, 40, 2)
const c = toyDataset("c", 3, 50, 3)
const clusters = [
  ...a.labels.labels.map((label, i) => ({ dataset: "a", label, cluster: i % 3 })),
  ...b.labels.labels.map((label, i) => ({ dataset: "b", label, cluster: i % 3 })),
]

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)

describe("train and eval cores on hand-made artifacts", () => {
  it("trains on two data sets, evaluates zero-shot on a third, votes per song", async () => {
    const outDir = tempDir()
    const notes: Array<string> = []
    const model = await run(trainModel([a, b], clusters, settings, { outDir, threads: 2, progress: progress(notes) }))
    expect(model.layers).toEqual([0, 1, 2])
    expect(model.config.in_dim).toBe(12)
    expect(model.curves.length).toBe(8)
    // a: 36 train tracks x 3 segments = 108 rows (4 batches of 32); b: 24 x 3 = 72 rows, upsampled x2 = 144 (5 batches).
    expect(model.curves[0].steps).toBe(5)
    expect(model.datasets).toEqual(["a", "b"])
    // Every epoch is reported, in order, before trainModel returns (the last one included).
    expect(notes.filter((n) => n.startsWith("epoch ")).map((n) => Number(/^epoch (\d+):/.exec(n)![1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    const modelArtifact = artifactOf(ModelCodec, model, outDir, "train.x")
    expect(model.standardised).toBe(true)
    expect(Either.getOrThrow(readSafetensors(path.join(outDir, WEIGHTS_FILE))).get(INPUT_STD)!.shape).toEqual([12])
    // Eval standardises exactly as validation inside training did: on the same rows it finds the same F1.
    const onValidation = await run(evaluateModel(modelArtifact, a, { split: "validation", k: 1, chance_draws: 1, seed: 0 }, { outDir: tempDir(), threads: 2, progress: progress() }))
    expect(onValidation.metrics.f1_macro).toBe(model.best_val_f1)
    // A model whose standardisation is missing from its weights file is refused, naming the file and tensor.
    const stripped = tempDir()
    Either.getOrThrow(saveWeights(path.join(stripped, WEIGHTS_FILE), model.config, Either.getOrThrow(Either.flatMap(readModelTensors(modelArtifact), (t) => loadWeights(modelArtifact, t)))))
    const broken = artifactOf(ModelCodec, model, stripped, "train.y")
    const refused = await Effect.runPromise(Effect.flip(evaluateModel(broken, c, { split: "test", k: 1, chance_draws: 1, seed: 0 }, { outDir: tempDir(), threads: 1, progress: progress() })))
    expect(refused.message).toMatch(/model\.safetensors: the model is marked standardised but has no tensor 'input_mean'/)

    const evalDir = tempDir()
    const ev: Evaluation = await run(evaluateModel(modelArtifact, c, { split: "test", k: 1, chance_draws: 20, seed: 0 }, { outDir: evalDir, threads: 2, progress: progress() }))
    // 50 tracks, 20% test -> 10 tracks x 3 segments
    expect(ev.rows).toBe(30)
    expect(ev.row_tracks.length).toBe(30)
    expect(new Set(ev.row_segments)).toEqual(new Set([0, 1, 2]))
    expect(ev.model.node).toBe("train.x")
    const evalArtifact = artifactOf(EvaluationCodec, ev, evalDir, "eval.x")
    const json = (await Effect.runPromise(EvaluationCodec.toJson!(evalArtifact).pipe(Effect.provide(NodeContext.layer)))) as {
      truth: Array<Array<number>>
      predicted: Array<Array<number>>
      metrics: { f1_macro: number }
      labels: Array<string>
      k: number
    }
    expect(json.labels).toEqual(c.labels.labels)
    expect(json.k).toBe(1)
    expect(json.truth.length).toBe(30)
    expect(json.predicted.every((row) => row.reduce((s, v) => s + v, 0) === 1)).toBe(true)
    // Anyone can recompute the metrics from the JSON form.
    const recomputed = classificationMetrics(Uint8Array.from(json.truth.flat()), Uint8Array.from(json.predicted.flat()), 30, 3)
    expect(recomputed.f1_macro).toBeCloseTo(json.metrics.f1_macro, 12)
    // Each test track's segments belong to one track with its labels.
    const byId = new Map(c.dataset.value.tracks.map((t) => [t.id, t]))
    ev.row_tracks.forEach((t, r) => {
      const labels = byId.get(t)!.labels
      expect(json.truth[r].flatMap((v, i) => (v ? [c.labels.labels[i]] : []))).toEqual(labels)
    })

    const song = await runStagePromise(VoteStage, { inputs: { segments: evalArtifact, dataset: c.dataset } })
    const sv = song.value as Evaluation
    expect(sv.level).toBe("song")
    expect(sv.rows).toBe(10)
    expect(sv.k).toBe(1)
    expect(sv.chance.f1_macro).toBeGreaterThan(0)
  })

  it("trains the in-domain case well above chance and is seeded", async () => {
    const s = { ...settings, phase: "baseline1" as const, epochs: 10 }
    const notes: Array<string> = []
    const m1 = await run(trainModel([a], undefined, s, { outDir: tempDir(), threads: 2, progress: progress(notes) }))
    expect(notes).toContain("upsample: 'b' is not among the training data sets (a); ignored")
    const m2 = await run(trainModel([a], undefined, s, { outDir: tempDir(), threads: 2, progress: progress() }))
    expect(m1.curves).toEqual(m2.curves)
    expect(m1.best_val_f1).toBeGreaterThan(0.5)
  })

  it("rows kept on disk and block-shuffled train as well, and leave no scratch file in the artifact", async () => {
    const s = { ...settings, phase: "baseline1" as const, epochs: 10 }
    const outDir = tempDir()
    const m = await run(trainModel([a], undefined, s, { outDir, threads: 2, progress: progress(), rows: { inMemoryLimit: 0, blockRows: 16 } }))
    expect(m.best_val_f1).toBeGreaterThan(0.5)
    expect(fs.readdirSync(outDir).sort()).toEqual([WEIGHTS_FILE])
    // Forcing the block shuffle on rows in memory gives the same order as on disk with the same block size.
    const inMemory = await run(trainModel([a], undefined, { ...s, shuffle: "block" as const, shuffle_block: 16 }, { outDir: tempDir(), threads: 2, progress: progress() }))
    expect(inMemory.curves).toEqual(m.curves)
  })

  it("fails clearly on missing clusters, unknown upsample names and mismatched features", async () => {
    const env = { outDir: tempDir(), threads: 1, progress: progress() }
    const err = (e: Effect.Effect<Model, unknown>) => Effect.runPromise(Effect.flip(e)).then((x) => (x as { message: string }).message)
    expect(await err(trainModel([a, b], undefined, settings, env))).toMatch(/phase 'alignment' needs the clusters input/)
    expect(await err(trainModel([a, b], clusters.slice(1), settings, env))).toMatch(/no cluster for label\(s\) 'a-0' of data set 'a'/)
    expect(await err(trainModel([{ ...a, segments: b.segments }], undefined, { ...settings, phase: "baseline1", upsample: {} }, env))).toMatch(/features .* have 180 rows but segments .* list 120 segments/)
  })
})
