/**
 * The report stage in the engine: node lists by glob, the optional clusters list, and the engine publishing the
 * report into `out` after every run of the node, cached or not (a copy that fails is a warning).
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { ModelCodec } from "../../src/artifacts/model.ts"
import { EvaluationCodec } from "../../src/artifacts/evaluation.ts"
import { defineStage, Input, type Artifact } from "../../src/runtime/stage.ts"
import { ClustersCodec } from "../../src/artifacts/clusters.ts"
import { ReportStage } from "../../src/stages/report.ts"
import { project, registryOf, runIn } from "../engine/helpers.ts"
import { clustersArtifact, DATASET_OF, evaluationArtifact, modelArtifact } from "./fixture.ts"

/** Copies a fixture artifact's files into the stage's outDir and returns its value: a producer of test artifacts. */
const copyOut = <A>(a: Artifact<A>, outDir: string): A => {
  for (const f of fs.readdirSync(a.dir)) if (f !== "value.json") fs.copyFileSync(path.join(a.dir, f), path.join(outDir, f))
  return a.value
}

const Split = Schema.Literal("emo", "mtg", "cal")
const Phase = Schema.Literal("baseline1", "baseline2", "alignment")

const FakeModel = defineStage({
  name: "fake-model",
  version: 1,
  description: "test: a model artifact",
  params: Schema.Struct({ split: Split, phase: Phase }),
  inputs: {},
  output: ModelCodec,
  run: (ctx) => Effect.sync(() => copyOut(modelArtifact(ctx.nodeId, ctx.params.phase, ["a", "b"]), ctx.outDir)),
})

const FakeEval = defineStage({
  name: "fake-eval",
  version: 1,
  description: "test: an evaluation artifact of a model",
  params: Schema.Struct({ split: Split, level: Schema.Literal("segment", "song"), seed: Schema.Int }),
  inputs: { model: Input.node(ModelCodec) },
  output: EvaluationCodec,
  run: (ctx) =>
    Effect.sync(() => {
      const m = ctx.inputs.model
      const e = evaluationArtifact({
        node: ctx.nodeId,
        level: ctx.params.level,
        dataset: DATASET_OF[ctx.params.split],
        modelNode: m.node,
        phase: m.value.phase,
        trainedOn: m.value.datasets,
        seed: ctx.params.seed,
      })
      return copyOut(e, ctx.outDir)
    }),
})

const FakeClusters = defineStage({
  name: "fake-clusters",
  version: 1,
  description: "test: a clusters artifact with its projection",
  params: Schema.Struct({}),
  inputs: {},
  output: ClustersCodec,
  run: (ctx) => Effect.sync(() => copyOut(clustersArtifact(ctx.nodeId, ["a", "b"]), ctx.outDir)),
})

const registry = registryOf([FakeModel, FakeEval, FakeClusters, ReportStage])

const pipeline = (out: string, withClusters: boolean) => `
name: report-engine
stages:
  train:
    uses: fake-model
    matrix: { split: [emo, cal], phase: [baseline1, alignment] }
    id: "\${split}.\${phase}"
    with: { split: "\${split}", phase: "\${phase}" }
  eval:
    uses: fake-eval
    matrix: { split: [emo, cal], phase: [baseline1, alignment] }
    id: "\${split}.\${phase}"
    inputs: { model: "train.\${split}.\${phase}" }
    with: { split: "\${split}", level: segment, seed: 1 }
  vote:
    uses: fake-eval
    matrix: { split: [emo, cal], phase: [baseline1, alignment] }
    id: "\${split}.\${phase}"
    inputs: { model: "train.\${split}.\${phase}" }
    with: { split: "\${split}", level: song, seed: 2 }
${withClusters ? "  cluster:\n    uses: fake-clusters\n" : ""}  report:
    uses: report
    inputs:
      evaluations: ["eval.*", "vote.*"]
      models: "train.*"
${withClusters ? '      clusters: ["cluster"]\n' : ""}    with: { out: "${out}" }
`

/** `out` must be a folder below the working directory, so each test works from inside its project. */
const inProject = (): string => {
  const dir = project({})
  process.chdir(dir)
  return dir
}
const startedIn = process.cwd()

describe("report stage in the engine", () => {
  afterEach(() => process.chdir(startedIn))

  it("reports the matrix of nodes and publishes it on run and on a cached run", async () => {
    const dir = inProject()
    const out = path.join(dir, "report")
    const first = await runIn(dir, pipeline("report", true), { registry })
    expect(first.failed).toEqual([])
    expect(first.status.report).toBe("ran")
    const md = fs.readFileSync(path.join(out, "report.md"), "utf8")
    expect(md).toContain("![label map of cluster](plots/clusters-cluster.svg)")
    const results = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8")) as {
      segment: ReadonlyArray<{ phase: string; cells: Record<string, { measured: { node: string } | null }> }>
    }
    expect(results.segment.map((r) => [r.phase, r.cells.emo.measured?.node ?? null, r.cells.mtg.measured?.node ?? null, r.cells.cal.measured?.node ?? null])).toEqual([
      ["baseline1", "eval.emo.baseline1", null, "eval.cal.baseline1"],
      ["baseline2", null, null, null],
      ["alignment", "eval.emo.alignment", null, "eval.cal.alignment"],
    ])

    // Cached: the node does not run; the engine publishes the report from the stored artifact all the same.
    fs.rmSync(out, { recursive: true })
    const second = await runIn(dir, pipeline("report", true), { registry })
    expect(second.status.report).toBe("cached")
    expect(fs.readFileSync(path.join(out, "report.md"), "utf8")).toBe(md)
    expect(second.nodes.find((n) => n.id === "report")!.warnings).toEqual([])
  })

  it("a copy that cannot be made is the node's warning; the artifact is kept and a relative out is resolved against the working directory", async () => {
    const dir = inProject()
    fs.writeFileSync(path.join(dir, "a-file"), "")
    const r = await runIn(dir, pipeline("a-file", false), { registry })
    expect(r.failed).toEqual([])
    expect(r.status.report).toBe("ran")
    expect(r.nodes.find((n) => n.id === "report")!.warnings).toEqual([expect.stringMatching(/^not published: publishing .*report.md/)])
    const again = await runIn(dir, pipeline("sub/report", false), { registry })
    expect(again.status.report).toBe("ran")
    expect(fs.existsSync(path.join(dir, "sub", "report", "report.md"))).toBe(true)
  })

  it("runs without the optional clusters input", async () => {
    const dir = inProject()
    const r = await runIn(dir, pipeline("r", false), { registry })
    expect(r.failed).toEqual([])
    expect(fs.readFileSync(path.join(dir, "r", "report.md"), "utf8")).not.toContain("## Label clusters")
  })
})
