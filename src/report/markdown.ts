/** report.md: the tables in the published layout, then one section per evaluation, model and clustering. */
import type { ReportContent } from "./content.ts"
import { cellText, evaluationLine, metricRows, num, thresholdFreeText } from "./format.ts"
import { PUBLISHED_SOURCE, SPLITS } from "./published.ts"
import { aggregationText, type Row, type Tables } from "./tables.ts"

/** Table-cell text: pipes would end the cell, newlines the row. */
export const mdCell = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, " ")

const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [
    `| ${head.map(mdCell).join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map(mdCell).join(" | ")} |`),
  ].join("\n")

const f1Table = (t: Tables, rows: ReadonlyArray<Row>): string =>
  table(
    ["phase", ...t.columns.map((c) => c.title)],
    rows.map((r) => [
      r.title,
      ...SPLITS.map((s) => {
        const c = cellText(r.cells[s], r.phase)
        return [c.value, c.chance, c.published].filter((x) => x !== "").join("; ")
      }),
    ]),
  )

const sourcesTable = (t: Tables): string =>
  table(
    ["phase", ...t.columns.map((c) => c.title)],
    [...t.segment, ...t.song].map((r) => [r.title, ...SPLITS.map((s) => cellText(r.cells[s], r.phase).source || "-")]),
  )

const thresholdFreeTable = (t: Tables): string =>
  table(["phase", ...t.columns.map((c) => c.title)], [...t.segment, ...t.song].map((r) => [r.title, ...SPLITS.map((s) => thresholdFreeText(r.cells[s]))]))

const image = (alt: string, file: string): string => `![${alt.replace(/[[\]]/g, "")}](${file.split("/").map(encodeURIComponent).join("/")})`

const opt = (x: number | null): string => (x === null ? "-" : num(x))

export const renderMarkdown = (c: ReportContent): string => {
  const t = c.tables
  const out: Array<string> = [`# ${c.title}`, ""]
  out.push(
    "Macro F1 of each held-out data set (zero-shot: trained on the other two). Each cell: mea's number; the chance level of a " +
      "random top-k predictor on the same rows; the published number. Published numbers and their chance levels: " +
      `${PUBLISHED_SOURCE}.`,
    "",
  )
  out.push(`Published chance level (random top-k, macro F1): ${t.columns.map((col) => `${col.test} ${col.published_chance_f1_macro}`).join(", ")}.`, "")
  out.push("## Segment level", "", f1Table(t, t.segment), "")
  out.push("## Song level (majority vote)", "", f1Table(t, t.song), "")
  out.push(
    "## Song level: three aggregations side by side",
    "",
    "Macro F1 of the song-level prediction by majority vote of segment top-k (the reference), top-k of the mean segment " +
      "score (mean-score), and top-k of the cosine of the mean segment embedding (mean-embedding).",
    "",
    table(["phase", ...t.columns.map((c) => c.title)], t.song_aggregations.map((r) => [r.title, ...SPLITS.map((s) => aggregationText(r.cells[s]))])),
    "",
  )
  out.push("## Threshold-free metrics (macro mAP, macro ROC-AUC)", "", "Not published; chance: mean label prevalence (mAP) and 0.5 (ROC-AUC).", "", thresholdFreeTable(t), "")
  out.push("## Where each number comes from", "", sourcesTable(t), "")
  if (c.unplaced.length > 0) {
    out.push("## Evaluations outside the table", "", table(["node", "level", "data set", "why"], c.unplaced.map((u) => [u.node, u.level, u.dataset, u.reason])), "")
  }
  if (c.warnings.length > 0) out.push("## Warnings", "", ...c.warnings.map((w) => `- ${mdCell(w)}`), "")

  if (c.models.length > 0) {
    out.push("## Training curves", "")
    for (const m of c.models) {
      const v = m.value
      out.push(`### ${m.node}`, "")
      out.push(
        `${v.config.net} net ${v.config.in_dim} -> ${v.config.out_dim}, phase ${v.phase}` +
          (v.phase === "alignment" ? ` (regulariser ${v.regulariser}, alpha ${v.alpha})` : "") +
          `, trained on ${v.datasets.join(" + ")}, seed ${v.seed}; ${v.curves.length} epochs${v.stopped_early ? " (stopped early)" : ""}, ` +
          `best validation macro F1 ${num(v.best_val_f1)} at epoch ${v.best_epoch}.`,
        "",
        image(`training curves of ${m.node}`, m.plot.file),
        "",
      )
    }
  }
  if (c.evaluations.length > 0) {
    out.push("## Evaluations", "")
    for (const e of c.evaluations) {
      const v = e.value
      out.push(`### ${e.node}`, "")
      out.push(evaluationLine(v), "")
      out.push(
        table(
          ["metric", "value", "chance"],
          metricRows(v),
        ),
        "",
        image(`per-label F1 of ${e.node}`, e.plot.file),
        "",
        table(
          ["label", "support", "predicted", "TP", "FP", "FN", "precision", "recall", "F1", "AP", "ROC-AUC"],
          v.per_label.map((l) => [l.label, String(l.support), String(l.predicted), String(l.tp), String(l.fp), String(l.fn), num(l.precision), num(l.recall), num(l.f1), opt(l.ap), opt(l.roc_auc)]),
        ),
        "",
      )
    }
  }
  if (c.clusters.length > 0) {
    out.push("## Label clusters", "")
    for (const k of c.clusters) {
      const v = k.value
      out.push(`### ${k.node}`, "")
      out.push(
        `${v.method} over ${v.datasets.join(" + ")}: ${v.assignments.length} labels in ${v.clusters} clusters` +
          (v.bandwidth !== null ? `, bandwidth ${v.bandwidth.toPrecision(4)}` : "") +
          (v.quantile !== null ? ` (quantile ${v.quantile})` : "") +
          ".",
        "",
      )
      for (const n of v.notes) out.push(`- ${mdCell(n)}`)
      if (v.notes.length > 0) out.push("")
      out.push(k.plot !== undefined ? image(`label map of ${k.node}`, k.plot.file) : `(no projection SVG in ${k.node})`, "")
    }
  }
  return out.join("\n")
}
