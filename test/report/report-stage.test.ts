import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { PUBLISHED } from "../../src/report/published.ts"
import { publishFiles } from "../../src/runtime/publish.ts"
import { type Report, reportFiles, ReportSchema, ResultsSchema } from "../../src/artifacts/report.ts"
import { ReportStage } from "../../src/stages/report.ts"
import { runStage, runStagePromise, tempDir } from "../support/stage-harness.ts"
import { clustersArtifact, evaluationArtifact, fullExperiment, modelArtifact } from "./fixture.ts"
import { xmlProblems } from "./xml.ts"

const experiment = fullExperiment()
const inputs = { evaluations: experiment.evaluations, models: experiment.models, clusters: experiment.clusters }
const fail = (e: ReturnType<typeof runStage>) => Effect.runPromise(Effect.flip(e)).then((x) => x.message)

/** The folder as the engine stores it: the stage's files plus value.json. */
const asArtifact = (outDir: string, value: unknown): string => {
  fs.writeFileSync(path.join(outDir, "value.json"), JSON.stringify(Schema.encodeUnknownSync(ReportSchema)(value)))
  return outDir
}

/** What the stage declares for the engine to publish after a run. */
const publication = (params: unknown, value: Report) => Effect.runPromise(ReportStage.publish!(params, value))

const listFiles = (dir: string, prefix = ""): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`])).sort()

describe("report stage", () => {
  it("writes the tables with the input metrics, chance levels and published numbers, and declares every file for publishing into out", async () => {
    // `out` is relative to the working directory (absolute paths are refused); the copy below goes under a temp folder.
    const out = "report"
    const target = path.join(tempDir("mea-report-out-"), out)
    const r = await runStagePromise(ReportStage, { params: { out }, inputs })
    const value = r.value as Report

    // results.json: the published layout, measured numbers equal to the inputs' metrics.
    const results = Schema.decodeUnknownSync(ResultsSchema)(JSON.parse(fs.readFileSync(path.join(r.outDir, "results.json"), "utf8")))
    expect(results.columns.map((c) => [c.split, c.title])).toEqual([
      ["emo", "train MTG+CAL, test EMO"],
      ["mtg", "train CAL+EMO, test MTG"],
      ["cal", "train EMO+MTG, test CAL"],
    ])
    expect(results.segment.map((row) => row.title)).toEqual(["segment: baseline 1", "segment: baseline 2 (clustering)", "segment: alignment regularisation"])
    expect(results.song.map((row) => row.title)).toEqual(["song: baseline 1", "song: baseline 2 (clustering)", "song: alignment regularisation"])
    for (const e of experiment.evaluations) {
      const [kind, split, phase] = e.node.split(".") as ["eval" | "vote", "emo" | "mtg" | "cal", "baseline1" | "baseline2" | "alignment"]
      const level = kind === "eval" ? "segment" : "song"
      const cell = results[level].find((row) => row.phase === phase)!.cells[split]
      expect(cell.measured).toMatchObject({
        node: e.node,
        model: `train.${split}.${phase}`,
        dataset: e.value.dataset,
        f1_macro: e.value.metrics.f1_macro,
        precision_macro: e.value.metrics.precision_macro,
        recall_macro: e.value.metrics.recall_macro,
        hamming: e.value.metrics.hamming,
        map_macro: e.value.metrics.map_macro,
        roc_auc_macro: e.value.metrics.roc_auc_macro,
        chance: { f1_macro: e.value.chance.f1_macro, hamming: e.value.chance.hamming },
      })
      expect(cell.published).toEqual(PUBLISHED[level][phase][split])
    }
    expect(value.tables).toEqual({ metric: results.metric, columns: results.columns, segment: results.segment, song: results.song, song_aggregations: results.song_aggregations })

    // report.md: every number with its chance level and the published one.
    const md = fs.readFileSync(path.join(r.outDir, "report.md"), "utf8")
    const seg = experiment.evaluations.find((e) => e.node === "eval.mtg.alignment")!.value
    expect(md).toContain(`${seg.metrics.f1_macro.toFixed(4)}; chance ${seg.chance.f1_macro.toFixed(4)}; published 0.0248 (lambda 2.5)`)
    for (const p of ["0.324", "0.0215", "0.255", "0.341", "0.024", "0.262", "0.402", "0.0248", "0.315", "0.0129", "0.252", "0.346", "0.0175", "0.267", "0.4 (lambda 2.5)", "0.0202", "0.229 (lambda 1)"]) {
      expect(md).toContain(`published ${p}`)
    }
    expect(md).toContain(`mAP ${seg.metrics.map_macro.toFixed(4)}`)
    expect(md).toContain("![training curves of train.emo.alignment](plots/curves-train.emo.alignment.svg)")
    expect(md).toContain("![label map of cluster.mtg](plots/clusters-cluster.mtg.svg)")
    expect(md).not.toContain("not run")
    expect(md).toContain(`| eval.mtg.alignment, alpha 2.5 (test split, ${seg.rows} rows, top-2) |`)

    // report.html: self-contained, well formed, every plot inline.
    const html = fs.readFileSync(path.join(r.outDir, "report.html"), "utf8")
    expect(xmlProblems(html.replace(/<style>[\s\S]*?<\/style>/, "<style></style>"))).toEqual([])
    expect(html.match(/<svg\b/g)!.length).toBeGreaterThanOrEqual(9 + 18 + 3)
    expect(html).toContain("clusters of cluster.emo")
    expect(html).not.toContain("<?xml")
    expect(html).not.toMatch(/\b(src|href)="(?!#)/)
    expect(html).toContain(`published 0.0248 (lambda 2.5)`)
    // Each cell links to its evaluation's section.
    expect(html).toContain(`<a href="#eval.mtg.alignment">eval.mtg.alignment, alpha 2.5</a>`)
    expect(html).toContain(`<h3 id="eval.mtg.alignment">`)

    // The value lists exactly the files written; they are what the stage publishes, with the same bytes.
    expect(value.files.plots).toHaveLength(9 + 18 + 3)
    expect(listFiles(r.outDir)).toEqual(["report.html", "report.md", "results.json", ...value.files.plots].sort())
    for (const p of value.files.plots) expect(xmlProblems(fs.readFileSync(path.join(r.outDir, p), "utf8").replace(/^<\?xml[^>]*\?>/, ""))).toEqual([])
    const declared = await publication({ out }, value)
    expect(declared).toEqual({ to: out, files: reportFiles(value) })
    await Effect.runPromise(publishFiles(asArtifact(r.outDir, value), declared!.files, target))
    expect(listFiles(target)).toEqual(listFiles(r.outDir).filter((f) => f !== "value.json"))
    for (const f of listFiles(target)) expect(fs.readFileSync(path.join(target, f)).equals(fs.readFileSync(path.join(r.outDir, f))), f).toBe(true)
    expect(value.evaluations).toHaveLength(18)
    expect(value.models).toHaveLength(9)
    expect(value.clusters).toEqual(["cluster.emo", "cluster.mtg", "cluster.cal"])
    expect(r.warnings).toEqual([])
    expect(ReportStage.output.summarize?.(value)).toBe("report: 9/9 segment-level and 9/9 song-level cells, 9 models, 3 cluster maps")
  })

  it("out: null publishes nothing; the stage itself never writes outside its output folder", async () => {
    const small = { evaluations: experiment.evaluations.slice(0, 2), models: experiment.models.slice(0, 1) }
    const none = await runStagePromise(ReportStage, { params: { out: null }, inputs: small })
    expect(await publication({ out: null }, none.value as Report)).toBeUndefined()
    expect(none.notes).toEqual([])
    expect(fs.existsSync(path.join(none.outDir, "report.md"))).toBe(true)
    expect(await publication({}, none.value as Report)).toEqual({ to: "report", files: reportFiles(none.value as Report) })
  })

  it("publishes a stored report artifact into a folder, replacing older copies", async () => {
    const r = await runStagePromise(ReportStage, { params: { out: null }, inputs })
    const artifactDir = asArtifact(r.outDir, r.value)
    const dest = path.join(tempDir("mea-report-pub-"), "report")
    fs.mkdirSync(dest)
    fs.writeFileSync(path.join(dest, "report.md"), "stale")
    fs.writeFileSync(path.join(dest, "notes.txt"), "the user's own file")
    // Cached artifacts are read-only; the copies must not be.
    for (const f of listFiles(artifactDir)) fs.chmodSync(path.join(artifactDir, f), 0o444)
    const written = await Effect.runPromise(publishFiles(artifactDir, reportFiles(r.value as Report), dest))
    expect(written.map((w) => path.relative(dest, w)).sort()).toEqual(listFiles(artifactDir).filter((f) => f !== "value.json"))
    expect(fs.readFileSync(path.join(dest, "report.md"), "utf8")).toBe(fs.readFileSync(path.join(artifactDir, "report.md"), "utf8"))
    expect(fs.readFileSync(path.join(dest, "notes.txt"), "utf8")).toBe("the user's own file")
    expect(fs.statSync(path.join(dest, "report.html")).mode & 0o200).not.toBe(0)
    // Again over the read-only-free copies: idempotent.
    await Effect.runPromise(publishFiles(artifactDir, reportFiles(r.value as Report), dest))
    expect(listFiles(dest)).toEqual([...listFiles(artifactDir).filter((f) => f !== "value.json"), "notes.txt"].sort())
  })

  it("says which file is wrong when publishing fails, and never writes outside the target folder", async () => {
    const dest = tempDir("mea-report-dest-")
    const r = await runStagePromise(ReportStage, { params: { out: null }, inputs: { evaluations: [], models: [] } })
    const v = r.value as Report
    const message = (files: ReadonlyArray<string>) => Effect.runPromise(Effect.flip(publishFiles(r.outDir, files, dest))).then((e) => e.message)
    expect(await message(reportFiles({ ...v, files: { ...v.files, plots: ["../escape.svg"] } }))).toMatch(/file name '..\/escape.svg' leaves the folder it is published into/)
    expect(fs.existsSync(path.join(dest, "..", "escape.svg"))).toBe(false)
    expect(await message(reportFiles({ ...v, files: { ...v.files, plots: ["plots/missing.svg"] } }))).toMatch(/publishing .*plots\/missing.svg/)
  })

  it("reports partial experiments: empty cells say 'not run', unplaced evaluations and missing models are listed", async () => {
    const stray = evaluationArtifact({ node: "eval.extra", level: "segment", dataset: "toy", modelNode: "train.toy", phase: "baseline1", trainedOn: [], seed: 9 })
    const r = await runStagePromise(ReportStage, {
      params: { out: null, title: "partial <run>" },
      inputs: { evaluations: [experiment.evaluations[0], stray], models: [modelArtifact("train.unused", "baseline2", ["mtg"])], clusters: [clustersArtifact("cluster.nosvg", ["mtg"], false)] },
    })
    const v = r.value as Report
    expect(v.unplaced).toEqual([{ node: "eval.extra", level: "segment", dataset: "toy", reason: expect.stringMatching(/not recognised/) }])
    expect(r.warnings.join("\n")).toMatch(/eval.extra is not in the table/)
    expect(r.warnings.join("\n")).toMatch(/eval.emo.baseline1: its model train.emo.baseline1 is not among the report's models/)
    expect(r.warnings.join("\n")).toMatch(/cluster.nosvg: no SVG projection/)
    expect(v.files.plots).toEqual(["plots/curves-train.unused.svg", "plots/labels-eval.emo.baseline1.svg", "plots/labels-eval.extra.svg"])
    const md = fs.readFileSync(path.join(r.outDir, "report.md"), "utf8")
    expect(md.startsWith("# partial <run>")).toBe(true)
    expect(md.match(/not run/g)!.length).toBe(17 + 17)
    expect(md).toContain("## Evaluations outside the table")
    expect(md).toContain("(no projection SVG in cluster.nosvg)")
    expect(v.warnings).toEqual(r.warnings)
    expect(md).toMatch(/## Warnings\n\n(- .*\n){3}/)
    const html = fs.readFileSync(path.join(r.outDir, "report.html"), "utf8")
    expect(html).toContain("<title>partial &lt;run&gt;</title>")
    expect(ReportStage.output.summarize?.(v)).toBe("report: 1/9 segment-level and 0/9 song-level cells, 1 models, 1 cluster maps, 1 evaluations outside the table")
  })

  it("fails when two evaluations claim one cell", async () => {
    const twin = evaluationArtifact({ node: "eval.emo.baseline1.again", level: "segment", dataset: "emotify", modelNode: "m", phase: "baseline1", trainedOn: ["mtg"], seed: 3 })
    expect(await fail(runStage(ReportStage, { params: { out: null }, inputs: { evaluations: [experiment.evaluations[0], twin], models: [] } }))).toMatch(
      /report: eval.emo.baseline1 and eval.emo.baseline1.again both fill the segment-level baseline1 cell of split emo/,
    )
  })
})
