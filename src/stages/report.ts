/**
 * report: the experiment's results in the layout of the published table (rows segment/song x baseline1/baseline2/
 * alignment, columns the held-out data set emo/mtg/cal), each number next to its chance level and the published
 * number, plus mAP/ROC-AUC, training curves, per-label F1 and the label cluster maps. Writes report.md,
 * report.html (self-contained, inline SVG), results.json and plots/*.svg.
 *
 * Which evaluation fills which cell is read from the evaluations themselves (level, evaluated data set, the model's
 * phase; see src/report/tables.ts), the node id `eval.<split>.<phase>` / `vote.<split>.<phase>` deciding only what
 * they leave open. Models are matched to evaluations by the model node each evaluation records.
 *
 * `out` (default "report", relative to the current working directory; null: none): the stage publishes its files
 * there, so `mea run pipeline.yaml` leaves report/report.md in the project. The engine makes that copy after every run
 * of the node, cached or not (a failed copy is a warning, not a failed node); the cached artifact is the source of
 * truth.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ModelCodec } from "../artifacts/model.ts"
import { EvaluationCodec } from "../artifacts/evaluation.ts"
import { attempt, defineStage, Input, StageError } from "../runtime/stage.ts"
import { curvesSvg, labelsSvg, plotNamer, readProjection, type ClusterSection, type EvaluationSection, type ModelSection, type ReportContent } from "../report/content.ts"
import { renderHtml } from "../report/html.ts"
import { renderMarkdown } from "../report/markdown.ts"
import { PUBLISHED_SOURCE } from "../report/published.ts"
import { assembleTables } from "../report/tables.ts"
import { ClustersCodec } from "../artifacts/clusters.ts"
import { HTML_FILE, MARKDOWN_FILE, ReportCodec, reportFiles, RESULTS_FILE, ResultsSchema, type Report, type Results } from "../artifacts/report.ts"

/**
 * mea writes only into its cache and this report folder: `out` must stay below the working directory, so neither an
 * absolute path nor `..` (from a pipeline, a -p override or an interpolated param) can point it elsewhere.
 */
const ConfinedFolder = Schema.NullOr(Schema.String.pipe(Schema.minLength(1))).pipe(
  Schema.filter((s) => s === null || !(s.startsWith("/") || s.startsWith("\\") || /^[A-Za-z]:/.test(s) || s.split(/[\\/]/).includes("..")), {
    message: (issue) => `expected a folder below the working directory (no absolute path, no '..'), found ${JSON.stringify(issue.actual)}`,
  }),
)

export const ReportParams = Schema.Struct({
  title: Schema.optionalWith(Schema.String, { default: () => "mea: cross-dataset music emotion recognition" }),
  /** Folder (relative to the working directory) that also receives a copy of the report; null: no copy. */
  out: Schema.optionalWith(ConfinedFolder, { default: () => "report" }),
})

const RESULTS_DESCRIPTION =
  "Macro F1 per held-out data set (columns) and phase (rows), segment level and song level (majority vote). " +
  "Each cell: published (the paper's number and lambda) and measured (null when not run): mea's metrics, the node " +
  "they come from and the chance level on the same rows."

export const ReportStage = defineStage({
  name: "report",
  // 2: the song-level aggregations side by side.
  version: 2,
  description: "The results in the published table's layout with chance levels and published numbers: report.md, report.html (SVG plots), results.json",
  params: ReportParams,
  inputs: {
    evaluations: Input.nodes(EvaluationCodec),
    models: Input.nodes(ModelCodec),
    clusters: Input.optional(Input.nodes(ClustersCodec)),
  },
  output: ReportCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const { evaluations, models } = ctx.inputs
      const clusters = ctx.inputs.clusters ?? []
      const assembled = assembleTables(evaluations)
      if ("duplicate" in assembled) return yield* Effect.fail(new StageError({ message: `report: ${assembled.duplicate}` }))
      const { tables, unplaced } = assembled.ok
      const warnings = [...assembled.ok.warnings]

      // An evaluation whose model is not an input is still reported, without training curves; say so.
      const modelNodes = new Set(models.map((m) => m.node))
      for (const e of evaluations) {
        if (!modelNodes.has(e.value.model.node)) warnings.push(`${e.node}: its model ${e.value.model.node} is not among the report's models, so its training curves are not shown`)
      }

      const name = plotNamer()
      const modelSections: Array<ModelSection> = models.map((m) => ({ node: m.node, value: m.value, plot: { file: name("curves", m.node), svg: curvesSvg(m.node, m.value) } }))
      const evaluationSections: Array<EvaluationSection> = evaluations.map((e) => ({ node: e.node, value: e.value, plot: { file: name("labels", e.node), svg: labelsSvg(e.node, e.value) } }))
      const clusterSections: Array<ClusterSection> = []
      for (const k of clusters) {
        const svg = yield* attempt(`report: reading the projection of ${k.node} (${k.file(k.value.file)})`, () => readProjection(k))
        if (svg === undefined) warnings.push(`${k.node}: no SVG projection at ${k.file(k.value.file)}; the report shows the cluster summary only`)
        clusterSections.push({ node: k.node, value: k.value, plot: svg === undefined ? undefined : { file: name("clusters", k.node), svg } })
      }
      for (const w of warnings) yield* ctx.progress.warn(w)
      const content: ReportContent = {
        title: ctx.params.title,
        tables,
        unplaced,
        warnings,
        evaluations: evaluationSections,
        models: modelSections,
        clusters: clusterSections,
      }
      const plots = [...modelSections.map((s) => s.plot), ...evaluationSections.map((s) => s.plot), ...clusterSections.flatMap((s) => (s.plot !== undefined ? [s.plot] : []))]
      const results: Results = { description: RESULTS_DESCRIPTION, published_source: PUBLISHED_SOURCE, ...tables }
      const resultsJson = yield* attempt("report: encoding results.json", () => JSON.stringify(Schema.encodeSync(ResultsSchema)(results), null, 2) + "\n")
      yield* attempt(`report: writing into ${ctx.outDir}`, () => {
        for (const p of plots) {
          fs.mkdirSync(path.dirname(path.join(ctx.outDir, p.file)), { recursive: true })
          fs.writeFileSync(path.join(ctx.outDir, p.file), p.svg)
        }
        fs.writeFileSync(path.join(ctx.outDir, MARKDOWN_FILE), renderMarkdown(content))
        fs.writeFileSync(path.join(ctx.outDir, HTML_FILE), renderHtml(content))
        fs.writeFileSync(path.join(ctx.outDir, RESULTS_FILE), resultsJson)
      })
      const value: Report = {
        files: { markdown: MARKDOWN_FILE, html: HTML_FILE, results: RESULTS_FILE, plots: plots.map((p) => p.file) },
        tables,
        evaluations: evaluations.map((e) => e.node),
        models: models.map((m) => m.node),
        clusters: clusters.map((k) => k.node),
        unplaced: [...unplaced],
        warnings,
      }
      return value
    }),
  publish: (params, value) => (params.out === null ? undefined : { to: params.out, files: reportFiles(value) }),
})
