/** Number and cell texts shared by the Markdown and HTML renderings. */
import type { Evaluation } from "../artifacts/evaluation.ts"
import type { Cell, Measured } from "./tables.ts"

/** Four decimals: MTG-Jamendo's macro F1 is ~0.02, so fewer would hide the differences the table is about. */
export const num = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : "n/a")

/** A published number as the paper wrote it (0.0215, 0.4). */
export const published = (x: number): string => String(x)

export const alphaText = (m: Measured): string => `, alpha ${m.alpha}`

export interface CellText {
  /** The measured macro F1, or "not run". */
  readonly value: string
  /** "chance 0.3230" or "". */
  readonly chance: string
  /** "published 0.402 (lambda 2.5)" */
  readonly published: string
  readonly node: string
  /** The node and what it evaluated: "eval.emo.alignment, alpha 2.5 (test split, 120 rows, top-3)". */
  readonly source: string
}

export const cellText = (c: Cell, phase: string): CellText => ({
  value: c.measured === null ? "not run" : num(c.measured.f1_macro),
  chance: c.measured === null ? "" : `chance ${num(c.measured.chance.f1_macro)}`,
  published: `published ${published(c.published.f1_macro)}${c.published.alpha !== null ? ` (lambda ${c.published.alpha})` : ""}`,
  node: c.measured === null ? "" : `${c.measured.node}${phase === "alignment" ? alphaText(c.measured) : ""}`,
  source:
    c.measured === null
      ? ""
      : `${c.measured.node}${phase === "alignment" ? alphaText(c.measured) : ""} (${c.measured.eval_split} split, ${c.measured.rows} rows, top-${c.measured.k})`,
})

export const thresholdFreeText = (c: Cell): string =>
  c.measured === null
    ? "not run"
    : `mAP ${num(c.measured.map_macro)} (chance ${num(c.measured.chance.map_macro)}), ROC-AUC ${num(c.measured.roc_auc_macro)} (chance ${num(c.measured.chance.roc_auc_macro)})`

/** One evaluation's provenance, in words (the same in report.md and report.html). */
export const evaluationLine = (v: Evaluation): string =>
  `${v.level} level, data set ${v.dataset} (${v.split}), ${v.rows} ${v.level}s, top-${v.k}; model ${v.model.node} (${v.model.phase}, trained on ${v.model.datasets.join(" + ")}).`

/** One evaluation's metrics next to their chance levels: [metric, value, chance] rows. */
export const metricRows = (v: Evaluation): Array<Array<string>> => [
  ["macro F1", num(v.metrics.f1_macro), num(v.chance.f1_macro)],
  ["macro precision", num(v.metrics.precision_macro), num(v.chance.precision_macro)],
  ["macro recall", num(v.metrics.recall_macro), num(v.chance.recall_macro)],
  ["Hamming loss", num(v.metrics.hamming), num(v.chance.hamming)],
  [`macro mAP (${v.metrics.map_labels} labels)`, num(v.metrics.map_macro), num(v.chance.map_macro)],
  [`macro ROC-AUC (${v.metrics.roc_auc_labels} labels)`, num(v.metrics.roc_auc_macro), num(v.chance.roc_auc_macro)],
]
