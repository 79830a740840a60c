import { describe, expect, it } from "vitest"
import type { Model } from "../../src/artifacts/model.ts"
import type { Evaluation } from "../../src/artifacts/evaluation.ts"
import { EvalStage } from "../../src/stages/eval.ts"
import { TrainStage } from "../../src/stages/train.ts"
import { VoteStage } from "../../src/stages/vote.ts"
import { artifactFromResult, runStage, runStagePromise } from "../support/stage-harness.ts"
import { Effect } from "effect"
import { toyDataset } from "./fixture.ts"
import { clustersArtifact, labelArtifact } from "./stage-fixture.ts"

const a = toyDataset("a", 5, 60, 1)
const b = toyDataset("b", 4, 40, 2)
const c = toyDataset("c", 3, 50, 3)
const small = { hidden: 16, ff: 24, heads: 2, num_layers: 1, batch: 32, lr: 0.003, val_k: 1 }

const trainInputs = {
  features: [a.features, b.features],
  segments: [a.segments, b.segments],
  datasets: [a.dataset, b.dataset],
  labels: [labelArtifact(a), labelArtifact(b)],
  clusters: clustersArtifact([a, b]),
}

const fail = (e: ReturnType<typeof runStage>) => Effect.runPromise(Effect.flip(e)).then((x) => x.message)
const evalInputs = (trained: Awaited<ReturnType<typeof runStagePromise>>) => ({
  model: artifactFromResult(trained, "train.t"),
  features: c.features,
  segments: c.segments,
  dataset: c.dataset,
  labels: labelArtifact(c),
})

describe("train, eval and vote stages", () => {
  it("run end to end through the stage contract", async () => {
    const trained = await runStagePromise(TrainStage, { params: { ...small, epochs: 3, upsample: { b: 2 } }, inputs: trainInputs })
    const model = trained.value as Model
    expect(model.phase).toBe("alignment")
    expect(model.regulariser).toBe("v2")
    expect(model.alpha).toBe(2.5)
    expect(model.curves.map((r) => r.epoch)).toEqual([1, 2, 3])
    expect(trained.progress.done).toBe(3)
    const evaluated = await runStagePromise(EvalStage, {
      params: { chance_draws: 10, k: 1 },
      inputs: { model: artifactFromResult(trained, "train.t"), features: c.features, segments: c.segments, dataset: c.dataset, labels: labelArtifact(c) },
    })
    const ev = evaluated.value as Evaluation
    expect(ev.split).toBe("test")
    expect(ev.k).toBe(1)
    expect(ev.rows).toBe(30)
    const all = await runStagePromise(EvalStage, {
      params: { chance_draws: 10, k: 1, split: "all" },
      inputs: { model: artifactFromResult(trained, "train.t"), features: c.features, segments: c.segments, dataset: c.dataset, labels: labelArtifact(c) },
    })
    expect((all.value as Evaluation).rows).toBe(150)
    expect(await fail(runStage(EvalStage, { params: { k: 1 }, inputs: { ...evalInputs(trained), labels: labelArtifact(a) } }))).toMatch(/no embedding for label 'c-0'/)
    expect(await fail(runStage(EvalStage, { inputs: evalInputs(trained) }))).toMatch(/no reference top-k for data set 'c'; set k/)
    const voted = await runStagePromise(VoteStage, { inputs: { segments: artifactFromResult(evaluated, "eval.t"), dataset: c.dataset } })
    expect((voted.value as Evaluation).level).toBe("song")
  })

  it("reject mismatched lists and unknown top-k with specific messages", async () => {
    expect(await fail(runStage(TrainStage, { params: small, inputs: { ...trainInputs, labels: [labelArtifact(a)] } }))).toMatch(
      /must list the same data sets in the same order; got 2, 2, 2 and 1 nodes/,
    )
    expect(
      await fail(runStage(TrainStage, { params: small, inputs: { ...trainInputs, segments: [b.segments, a.segments] } })),
    ).toMatch(/entry 1 mixes data sets: dataset 'a', features 'a', segments 'b'/)
    const { val_k: _, ...noK } = small
    expect(await fail(runStage(TrainStage, { params: noK, inputs: trainInputs }))).toMatch(/no reference top-k for data set 'a'; set val_k/)
  })
})
