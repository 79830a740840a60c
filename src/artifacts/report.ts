/** The `report` artifact: which files it holds and the two tables (as in results.json). */
import { Schema } from "effect"
import { TablesSchema, UnplacedSchema, type Tables } from "../report/tables.ts"
import { codec } from "../runtime/stage.ts"

export const MARKDOWN_FILE = "report.md"
export const HTML_FILE = "report.html"
export const RESULTS_FILE = "results.json"

export const ReportSchema = Schema.Struct({
  files: Schema.Struct({
    markdown: Schema.Literal(MARKDOWN_FILE),
    html: Schema.Literal(HTML_FILE),
    results: Schema.Literal(RESULTS_FILE),
    /** SVG files under plots/ (linked from report.md; report.html inlines them). */
    plots: Schema.Array(Schema.String),
  }),
  tables: TablesSchema,
  /** Nodes reported, by kind. */
  evaluations: Schema.Array(Schema.String),
  models: Schema.Array(Schema.String),
  clusters: Schema.Array(Schema.String),
  unplaced: Schema.Array(UnplacedSchema),
  warnings: Schema.Array(Schema.String),
})
export type Report = typeof ReportSchema.Type

/** results.json: the tables in the published table's layout, with where the published numbers come from. */
export const ResultsSchema = Schema.Struct({
  description: Schema.String,
  published_source: Schema.String,
  ...TablesSchema.fields,
})
export type Results = typeof ResultsSchema.Type

/** Every file of the report, relative to its folder. */
export const reportFiles = (r: Report): ReadonlyArray<string> => [r.files.markdown, r.files.html, r.files.results, ...r.files.plots]

const filled = (t: Tables, level: "segment" | "song"): number => t[level].reduce((n, r) => n + Object.values(r.cells).filter((c) => c.measured !== null).length, 0)

export const ReportCodec = codec("report", ReportSchema, {
  summarize: (r) =>
    `report: ${filled(r.tables, "segment")}/9 segment-level and ${filled(r.tables, "song")}/9 song-level cells, ` +
    `${r.models.length} models, ${r.clusters.length} cluster maps` +
    (r.unplaced.length > 0 ? `, ${r.unplaced.length} evaluations outside the table` : ""),
})

