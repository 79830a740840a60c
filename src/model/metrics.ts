/**
 * Multi-label metrics with scikit-learn's semantics (zero_division=0), over binary matrices stored row-major as
 * Uint8Array (rows x labels):
 *   per label: precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2TP/(2TP+FP+FN), each 0 when its denominator is 0;
 *   macro = unweighted mean over ALL labels of the vocabulary (as sklearn's average="macro");
 *   hamming = fraction of (row, label) cells where prediction and truth differ (sklearn's hamming_loss).
 * Threshold-free, from the scores:
 *   AP per label as sklearn's average_precision_score (step-wise, ties grouped), ROC-AUC as the Mann-Whitney
 *   statistic (ties count one half, equal to sklearn's trapezoidal roc_auc_score). Their macro means are taken over
 *   the labels where they are defined (AP: at least one positive; ROC-AUC: at least one positive and one negative);
 *   the counts are reported next to them.
 */
import { Schema } from "effect"
import { Rng } from "./rng.ts"

/** The six macro metrics every evaluation reports, and its chance level repeats. */
export const HeadlineMetrics = Schema.Struct({
  f1_macro: Schema.Number,
  precision_macro: Schema.Number,
  recall_macro: Schema.Number,
  hamming: Schema.Number,
  map_macro: Schema.Number,
  roc_auc_macro: Schema.Number,
})

export const Metrics = Schema.Struct({
  ...HeadlineMetrics.fields,
  /** Labels entering map_macro / roc_auc_macro. */
  map_labels: Schema.Int,
  roc_auc_labels: Schema.Int,
})
export type Metrics = typeof Metrics.Type

export const LabelRow = Schema.Struct({
  label: Schema.String,
  support: Schema.Int,
  predicted: Schema.Int,
  tp: Schema.Int,
  fp: Schema.Int,
  fn: Schema.Int,
  precision: Schema.Number,
  recall: Schema.Number,
  f1: Schema.Number,
  ap: Schema.NullOr(Schema.Number),
  roc_auc: Schema.NullOr(Schema.Number),
})
export type LabelRow = typeof LabelRow.Type

/**
 * A seeded random top-k predictor's metrics; map_macro is the expected AP of random scores = the label's prevalence
 * (macro over labels with a positive), roc_auc_macro 0.5.
 */
export const ChanceLevel = Schema.Struct({
  ...HeadlineMetrics.fields,
  draws: Schema.Int,
  seed: Schema.Int,
})
export type ChanceLevel = typeof ChanceLevel.Type

/** The k highest-scoring labels of each row (ties: the lower label index first). */
export const topK = (scores: ArrayLike<number>, rows: number, labels: number, k: number): Uint8Array => {
  const out = new Uint8Array(rows * labels)
  const kk = Math.min(k, labels)
  const idx = Array.from({ length: labels }, (_, i) => i)
  for (let r = 0; r < rows; r++) {
    const off = r * labels
    idx.sort((a, b) => scores[off + b] - scores[off + a] || a - b)
    for (let i = 0; i < kk; i++) out[off + idx[i]] = 1
  }
  return out
}

interface Counts {
  readonly tp: Int32Array
  readonly fp: Int32Array
  readonly fn: Int32Array
  readonly support: Int32Array
  readonly predicted: Int32Array
  readonly mismatches: number
}

const count = (truth: Uint8Array, pred: Uint8Array, rows: number, labels: number): Counts => {
  const tp = new Int32Array(labels)
  const fp = new Int32Array(labels)
  const fn = new Int32Array(labels)
  const support = new Int32Array(labels)
  const predicted = new Int32Array(labels)
  let mismatches = 0
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < labels; c++) {
      const t = truth[r * labels + c]
      const p = pred[r * labels + c]
      if (t) support[c]++
      if (p) predicted[c]++
      if (t && p) tp[c]++
      else if (p) fp[c]++
      else if (t) fn[c]++
      if (t !== p) mismatches++
    }
  }
  return { tp, fp, fn, support, predicted, mismatches }
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b)

export interface Classification {
  readonly f1_macro: number
  readonly precision_macro: number
  readonly recall_macro: number
  readonly hamming: number
}

const macroFromCounts = (c: Counts, rows: number, labels: number): Classification => {
  let f1 = 0
  let p = 0
  let r = 0
  for (let l = 0; l < labels; l++) {
    f1 += ratio(2 * c.tp[l], 2 * c.tp[l] + c.fp[l] + c.fn[l])
    p += ratio(c.tp[l], c.tp[l] + c.fp[l])
    r += ratio(c.tp[l], c.tp[l] + c.fn[l])
  }
  const n = Math.max(1, labels)
  return { f1_macro: f1 / n, precision_macro: p / n, recall_macro: r / n, hamming: ratio(c.mismatches, rows * labels) }
}

export const classificationMetrics = (truth: Uint8Array, pred: Uint8Array, rows: number, labels: number): Classification =>
  macroFromCounts(count(truth, pred, rows, labels), rows, labels)

/** One label's scores (column `c`) sorted by descending score, with truth. */
const column = (scores: ArrayLike<number>, truth: Uint8Array, rows: number, labels: number, c: number): Array<[number, number]> => {
  const col: Array<[number, number]> = []
  for (let r = 0; r < rows; r++) col.push([scores[r * labels + c], truth[r * labels + c]])
  col.sort((a, b) => b[0] - a[0])
  return col
}

/** sklearn average_precision_score for one label; null without positives. */
export const averagePrecision = (col: ReadonlyArray<readonly [number, number]>): number | null => {
  const positives = col.reduce((s, [, t]) => s + t, 0)
  if (positives === 0) return null
  let tp = 0
  let seen = 0
  let prevRecall = 0
  let ap = 0
  for (let i = 0; i < col.length; ) {
    let j = i
    while (j < col.length && col[j][0] === col[i][0]) {
      tp += col[j][1]
      seen++
      j++
    }
    const recall = tp / positives
    ap += (recall - prevRecall) * (tp / seen)
    prevRecall = recall
    i = j
  }
  return ap
}

/** ROC-AUC for one label (Mann-Whitney with mid-ranks); null unless both classes occur. */
export const rocAuc = (col: ReadonlyArray<readonly [number, number]>): number | null => {
  const positives = col.reduce((s, [, t]) => s + t, 0)
  const negatives = col.length - positives
  if (positives === 0 || negatives === 0) return null
  // Ascending ranks with ties averaged.
  const asc = [...col].sort((a, b) => a[0] - b[0])
  let rankSum = 0
  for (let i = 0; i < asc.length; ) {
    let j = i
    let pos = 0
    while (j < asc.length && asc[j][0] === asc[i][0]) {
      pos += asc[j][1]
      j++
    }
    rankSum += pos * ((i + 1 + j) / 2)
    i = j
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives)
}

export interface Evaluation {
  readonly metrics: Metrics
  readonly perLabel: ReadonlyArray<LabelRow>
}

export const evaluate = (
  names: ReadonlyArray<string>,
  scores: ArrayLike<number>,
  truth: Uint8Array,
  pred: Uint8Array,
  rows: number,
): Evaluation => {
  const labels = names.length
  const c = count(truth, pred, rows, labels)
  const macro = macroFromCounts(c, rows, labels)
  const perLabel: Array<LabelRow> = []
  let apSum = 0
  let apN = 0
  let aucSum = 0
  let aucN = 0
  for (let l = 0; l < labels; l++) {
    const col = column(scores, truth, rows, labels, l)
    const ap = averagePrecision(col)
    const auc = rocAuc(col)
    if (ap !== null) {
      apSum += ap
      apN++
    }
    if (auc !== null) {
      aucSum += auc
      aucN++
    }
    perLabel.push({
      label: names[l],
      support: c.support[l],
      predicted: c.predicted[l],
      tp: c.tp[l],
      fp: c.fp[l],
      fn: c.fn[l],
      precision: ratio(c.tp[l], c.tp[l] + c.fp[l]),
      recall: ratio(c.tp[l], c.tp[l] + c.fn[l]),
      f1: ratio(2 * c.tp[l], 2 * c.tp[l] + c.fp[l] + c.fn[l]),
      ap,
      roc_auc: auc,
    })
  }
  return {
    metrics: { ...macro, map_macro: ratio(apSum, apN), roc_auc_macro: ratio(aucSum, aucN), map_labels: apN, roc_auc_labels: aucN },
    perLabel,
  }
}

/**
 * The chance level: a predictor that picks k labels uniformly at random per row, scored against the same truth,
 * averaged over `draws` seeded draws.
 */
export const chanceLevel = (truth: Uint8Array, rows: number, labels: number, k: number, draws = 200, seed = 0): ChanceLevel => {
  const rng = new Rng(seed, "chance")
  const pred = new Uint8Array(rows * labels)
  const pool = Array.from({ length: labels }, (_, i) => i)
  const sum = { f1_macro: 0, precision_macro: 0, recall_macro: 0, hamming: 0 }
  for (let d = 0; d < draws; d++) {
    pred.fill(0)
    for (let r = 0; r < rows; r++) for (const l of rng.sample(pool, k)) pred[r * labels + l] = 1
    const m = classificationMetrics(truth, pred, rows, labels)
    sum.f1_macro += m.f1_macro
    sum.precision_macro += m.precision_macro
    sum.recall_macro += m.recall_macro
    sum.hamming += m.hamming
  }
  let prevalence = 0
  let withPositives = 0
  for (let l = 0; l < labels; l++) {
    let p = 0
    for (let r = 0; r < rows; r++) p += truth[r * labels + l]
    if (p > 0) {
      prevalence += p / rows
      withPositives++
    }
  }
  return {
    f1_macro: sum.f1_macro / draws,
    precision_macro: sum.precision_macro / draws,
    recall_macro: sum.recall_macro / draws,
    hamming: sum.hamming / draws,
    map_macro: ratio(prevalence, withPositives),
    roc_auc_macro: 0.5,
    draws,
    seed,
  }
}
