/** report.html: one self-contained page (inline CSS, every plot inline as SVG), the same content as report.md. */
import type { ReportContent } from "./content.ts"
import { cellText, evaluationLine, metricRows, num, thresholdFreeText } from "./format.ts"
import { PUBLISHED_SOURCE, SPLITS } from "./published.ts"
import { escapeXml as esc } from "./svg.ts"
import { aggregationText, type Row, type Tables } from "./tables.ts"

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1280px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.value { font-weight: 600; font-size: 1.05em; }
.chance, .published, .node { display: block; color: #555; font-size: 0.85em; }
.missing { color: #999; }
.plot { overflow-x: auto; margin: 0.5em 0 1.5em; }
details { margin: 0.5em 0 1em; }
`

const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, numeric = false): string =>
  `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>` +
  rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric && i > 0 ? ` class="num"` : ""}>${esc(c)}</td>`).join("")}</tr>`).join("") +
  "</tbody></table>"

const f1Table = (t: Tables, rows: ReadonlyArray<Row>): string =>
  `<table><thead><tr><th>phase</th>${t.columns.map((c) => `<th>${esc(c.title)}</th>`).join("")}</tr></thead><tbody>` +
  rows
    .map(
      (r) =>
        `<tr><th>${esc(r.title)}</th>` +
        SPLITS.map((s) => {
          const c = cellText(r.cells[s], r.phase)
          const measured = r.cells[s].measured
          const missing = measured === null
          return (
            `<td><span class="value${missing ? " missing" : ""}">${esc(c.value)}</span>` +
            (c.chance !== "" ? `<span class="chance">${esc(c.chance)}</span>` : "") +
            `<span class="published">${esc(c.published)}</span>` +
            (measured !== null ? `<span class="node"><a href="#${esc(measured.node)}">${esc(c.node)}</a></span>` : "") +
            "</td>"
          )
        }).join("") +
        "</tr>",
    )
    .join("") +
  "</tbody></table>"

const plot = (svg: string): string => `<div class="plot">${svg}</div>`

export const renderHtml = (c: ReportContent): string => {
  const t = c.tables
  const body: Array<string> = [`<h1>${esc(c.title)}</h1>`]
  body.push(
    `<p>Macro F1 of each held-out data set (zero-shot: trained on the other two). Each cell: mea's number, the chance level of a random ` +
      `top-k predictor on the same rows, the published number and the node it comes from. Published numbers: ${esc(PUBLISHED_SOURCE)}.</p>`,
    `<p>Published chance level (random top-k, macro F1): ${esc(t.columns.map((col) => `${col.test} ${col.published_chance_f1_macro}`).join(", "))}.</p>`,
    "<h2>Segment level</h2>",
    f1Table(t, t.segment),
    "<h2>Song level (majority vote)</h2>",
    f1Table(t, t.song),
    "<h2>Song level: three aggregations side by side</h2>",
    "<p>Macro F1 of the song-level prediction by majority vote of segment top-k (the reference), top-k of the mean segment score " +
      "(mean-score), and top-k of the cosine of the mean segment embedding (mean-embedding).</p>",
    table(["phase", ...t.columns.map((col) => col.title)], t.song_aggregations.map((r) => [r.title, ...SPLITS.map((s) => aggregationText(r.cells[s]))])),
    "<h2>Threshold-free metrics (macro mAP, macro ROC-AUC)</h2>",
    "<p>Not published; chance: mean label prevalence (mAP) and 0.5 (ROC-AUC).</p>",
    table(["phase", ...t.columns.map((col) => col.title)], [...t.segment, ...t.song].map((r) => [r.title, ...SPLITS.map((s) => thresholdFreeText(r.cells[s]))])),
    "<h2>Where each number comes from</h2>",
    table(["phase", ...t.columns.map((col) => col.title)], [...t.segment, ...t.song].map((r) => [r.title, ...SPLITS.map((s) => cellText(r.cells[s], r.phase).source || "-")])),
  )
  if (c.unplaced.length > 0) {
    body.push("<h2>Evaluations outside the table</h2>", table(["node", "level", "data set", "why"], c.unplaced.map((u) => [u.node, u.level, u.dataset, u.reason])))
  }
  if (c.warnings.length > 0) body.push("<h2>Warnings</h2>", `<ul>${c.warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>`)
  if (c.models.length > 0) {
    body.push("<h2>Training curves</h2>")
    for (const m of c.models) {
      const v = m.value
      body.push(
        `<h3 id="${esc(m.node)}">${esc(m.node)}</h3>`,
        `<p>${esc(
          `${v.config.net} net ${v.config.in_dim} -> ${v.config.out_dim}, phase ${v.phase}` +
            (v.phase === "alignment" ? ` (regulariser ${v.regulariser}, alpha ${v.alpha})` : "") +
            `, trained on ${v.datasets.join(" + ")}, seed ${v.seed}; ${v.curves.length} epochs${v.stopped_early ? " (stopped early)" : ""}, ` +
            `best validation macro F1 ${num(v.best_val_f1)} at epoch ${v.best_epoch}.`,
        )}</p>`,
        plot(m.plot.svg),
      )
    }
  }
  if (c.evaluations.length > 0) {
    body.push("<h2>Evaluations</h2>")
    for (const e of c.evaluations) {
      const v = e.value
      body.push(
        `<h3 id="${esc(e.node)}">${esc(e.node)}</h3>`,
        `<p>${esc(evaluationLine(v))}</p>`,
        table(
          ["metric", "value", "chance"],
          metricRows(v),
          true,
        ),
        plot(e.plot.svg),
        `<details><summary>per-label table (${v.per_label.length} labels)</summary>` +
          table(
            ["label", "support", "predicted", "TP", "FP", "FN", "precision", "recall", "F1", "AP", "ROC-AUC"],
            v.per_label.map((l) => [
              l.label,
              String(l.support),
              String(l.predicted),
              String(l.tp),
              String(l.fp),
              String(l.fn),
              num(l.precision),
              num(l.recall),
              num(l.f1),
              l.ap === null ? "-" : num(l.ap),
              l.roc_auc === null ? "-" : num(l.roc_auc),
            ]),
            true,
          ) +
          "</details>",
      )
    }
  }
  if (c.clusters.length > 0) {
    body.push("<h2>Label clusters</h2>")
    for (const k of c.clusters) {
      const v = k.value
      body.push(
        `<h3 id="${esc(k.node)}">${esc(k.node)}</h3>`,
        `<p>${esc(
          `${v.method} over ${v.datasets.join(" + ")}: ${v.assignments.length} labels in ${v.clusters} clusters` +
            (v.bandwidth !== null ? `, bandwidth ${v.bandwidth.toPrecision(4)}` : "") +
            (v.quantile !== null ? ` (quantile ${v.quantile})` : "") +
            ".",
        )}</p>`,
        v.notes.length > 0 ? `<ul>${v.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>` : "",
        k.plot !== undefined ? plot(k.plot.svg) : `<p class="missing">${esc(`(no projection SVG in ${k.node})`)}</p>`,
      )
    }
  }
  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    `<head><meta charset="utf-8"><title>${esc(c.title)}</title><style>${STYLE}</style></head>`,
    `<body>`,
    ...body,
    "</body>",
    "</html>",
    "",
  ].join("\n")
}
