/**
 * The report fed by the real train, eval and vote stages (tiny toy data sets named like the real ones, node ids that
 * follow no convention): the cells come from what the artifacts record.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import type { Evaluation } from "../../src/artifacts/evaluation.ts"
import type { Report } from "../../src/artifacts/report.ts"
import { EvalStage } from "../../src/stages/eval.ts"
import { ReportStage } from "../../src/stages/report.ts"
import { TrainStage } from "../../src/stages/train.ts"
import { VoteStage } from "../../src/stages/vote.ts"
import { toyDataset } from "../model/fixture.ts"
import { clustersArtifact, labelArtifact } from "../model/stage-fixture.ts"
import { artifactFromResult, runStagePromise } from "../support/stage-harness.ts"

describe("report after train, eval and vote", () => {
  it("places the held-out evaluations by data set and phase, and plots the model's curves", async () => {
    const mtg = toyDataset("mtg", 5, 60, 1)
    const cal = toyDataset("cal500", 6, 40, 2)
    const emo = toyDataset("emotify", 5, 50, 3)
    const trained = await runStagePromise(TrainStage, {
      params: { hidden: 16, ff: 24, heads: 2, num_layers: 1, batch: 32, lr: 0.003, epochs: 3, phase: "alignment", alpha: 1 },
      inputs: {
        features: [mtg.features, cal.features],
        segments: [mtg.segments, cal.segments],
        datasets: [mtg.dataset, cal.dataset],
        labels: [labelArtifact(mtg), labelArtifact(cal)],
        clusters: clustersArtifact([mtg, cal]),
      },
    })
    const model = artifactFromResult(trained, "model-a")
    const evaluated = await runStagePromise(EvalStage, {
      params: { chance_draws: 10 },
      inputs: { model, features: emo.features, segments: emo.segments, dataset: emo.dataset, labels: labelArtifact(emo) },
    })
    const segment = artifactFromResult<Evaluation>(evaluated, "seg-a")
    const voted = await runStagePromise(VoteStage, { params: { chance_draws: 10 }, inputs: { segments: segment, dataset: emo.dataset } })
    const song = artifactFromResult<Evaluation>(voted, "song-a")
    const r = await runStagePromise(ReportStage, { params: { out: null }, inputs: { evaluations: [segment, song], models: [model] } })
    const v = r.value as Report

    const segCell = v.tables.segment.find((row) => row.phase === "alignment")!.cells.emo
    const songCell = v.tables.song.find((row) => row.phase === "alignment")!.cells.emo
    expect(segCell.measured).toMatchObject({ node: "seg-a", model: "model-a", dataset: "emotify", trained_on: ["mtg", "cal500"], alpha: 1, k: 3, f1_macro: segment.value.metrics.f1_macro })
    expect(songCell.measured).toMatchObject({ node: "song-a", model: "model-a", f1_macro: song.value.metrics.f1_macro, rows: song.value.rows })
    expect(segCell.published).toEqual({ f1_macro: 0.402, alpha: 2.5 })
    expect(v.unplaced).toEqual([])
    expect(r.warnings).toEqual([])
    expect(v.files.plots).toEqual(["plots/curves-model-a.svg", "plots/labels-seg-a.svg", "plots/labels-song-a.svg"])
    const curves = fs.readFileSync(path.join(r.outDir, "plots/curves-model-a.svg"), "utf8")
    expect(curves.match(/<polyline/g)!.length).toBe(5) // total, triplet, regulariser; val F1; lr
    const results = JSON.parse(fs.readFileSync(path.join(r.outDir, "results.json"), "utf8")) as { segment: ReadonlyArray<{ cells: { emo: { measured: { f1_macro: number } } } }> }
    expect(results.segment[2].cells.emo.measured.f1_macro).toBe(segment.value.metrics.f1_macro)
  })
})
