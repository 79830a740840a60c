/**
 * Which evaluation fills which cell of the published table, and the tables themselves (results.json's layout).
 *
 * A cell is (level, phase, split), split = the held-out data set. Each is read from the artifacts first:
 *   level: the evaluation's `level` (segment from eval, song from vote);
 *   phase: the evaluated model's `phase` as the train stage recorded it;
 *   split: the evaluated data set's name (recognised as Emotify, MTG-Jamendo or CAL500 by its name: "emotify"/"emo",
 *          "mtg"/"jamendo", "cal500"/"cal").
 * Only when a data set name is not recognised (or a phase is not one of the three) does the node id decide, by the
 * pipeline convention `eval.<split>.<phase>` / `vote.<split>.<phase>` (any dot-separated part equal to emo|mtg|cal and
 * to baseline1|baseline2|alignment). An evaluation whose data set was among its model's training data sets is not
 * zero-shot and is listed apart, as is one that neither source places.
 */
import { Schema } from "effect"
import type { Evaluation } from "../artifacts/evaluation.ts"
import { AGGREGATIONS, type Aggregation } from "../model/vote.ts"
import { HeadlineMetrics } from "../model/metrics.ts"
import type { Artifact } from "../runtime/stage.ts"
import { LEVELS, PHASE_TITLES, PHASES, PUBLISHED, SPLIT_INFO, SPLITS, type Level, type Phase, type SplitKey } from "./published.ts"

export const MeasuredSchema = Schema.Struct({
  /** The eval or vote node. */
  node: Schema.String,
  model: Schema.String,
  dataset: Schema.String,
  /** Which tracks of the data set were evaluated (test, all, ...). */
  eval_split: Schema.String,
  trained_on: Schema.Array(Schema.String),
  regulariser: Schema.String,
  alpha: Schema.Number,
  rows: Schema.Int,
  k: Schema.Int,
  ...HeadlineMetrics.fields,
  /** As the evaluation records it: a seeded random top-k predictor; for mAP and ROC-AUC, random scores. */
  chance: HeadlineMetrics,
})
export type Measured = typeof MeasuredSchema.Type

export const CellSchema = Schema.Struct({
  published: Schema.Struct({ f1_macro: Schema.Number, alpha: Schema.NullOr(Schema.Number) }),
  measured: Schema.NullOr(MeasuredSchema),
})
export type Cell = typeof CellSchema.Type

const SplitLiteral = Schema.Literal(...SPLITS)
const PhaseLiteral = Schema.Literal(...PHASES)

export const RowSchema = Schema.Struct({
  phase: PhaseLiteral,
  title: Schema.String,
  cells: Schema.Struct({ emo: CellSchema, mtg: CellSchema, cal: CellSchema }),
})
export type Row = typeof RowSchema.Type

export const ColumnSchema = Schema.Struct({
  split: SplitLiteral,
  title: Schema.String,
  test: Schema.String,
  train: Schema.Array(Schema.String),
  published_chance_f1_macro: Schema.Number,
})

/** One song-level evaluation in the aggregation comparison. */
export const AggregationMeasureSchema = Schema.Struct({
  node: Schema.String,
  f1_macro: Schema.Number,
  map_macro: Schema.Number,
  chance_f1_macro: Schema.Number,
})
export type AggregationMeasure = typeof AggregationMeasureSchema.Type

const AggregationCellSchema = Schema.Struct({
  vote: Schema.NullOr(AggregationMeasureSchema),
  "mean-score": Schema.NullOr(AggregationMeasureSchema),
  "mean-embedding": Schema.NullOr(AggregationMeasureSchema),
})
export type AggregationCell = typeof AggregationCellSchema.Type

export const AggregationRowSchema = Schema.Struct({
  phase: PhaseLiteral,
  title: Schema.String,
  cells: Schema.Struct({ emo: AggregationCellSchema, mtg: AggregationCellSchema, cal: AggregationCellSchema }),
})
export type AggregationRow = typeof AggregationRowSchema.Type

export const TablesSchema = Schema.Struct({
  metric: Schema.Literal("f1_macro"),
  columns: Schema.Array(ColumnSchema),
  segment: Schema.Array(RowSchema),
  /** Song level as published: the majority vote (evaluations without an aggregation count as votes). */
  song: Schema.Array(RowSchema),
  /** Song level by each aggregation (vote, mean-score, mean-embedding), side by side. */
  song_aggregations: Schema.Array(AggregationRowSchema),
})
export type Tables = typeof TablesSchema.Type

export const UnplacedSchema = Schema.Struct({ node: Schema.String, level: Schema.String, dataset: Schema.String, reason: Schema.String })
export type Unplaced = typeof UnplacedSchema.Type

/** The table split a data set name stands for, if it names one of the three. */
export const splitOfDataset = (name: string): SplitKey | undefined => {
  const n = name.toLowerCase()
  const word = (w: string) => new RegExp(`(^|[^a-z])${w}([^a-z]|$)`).test(n)
  if (n.includes("emotify") || word("emo")) return "emo"
  if (n.includes("mtg") || n.includes("jamendo")) return "mtg"
  if (n.includes("cal500") || word("cal")) return "cal"
  return undefined
}

/** Split and phase named by a node id of the form `eval.<split>.<phase>` (parts in any position). */
export const cellOfNodeId = (node: string): { readonly split?: SplitKey; readonly phase?: Phase } => {
  const parts = node.split(".")
  const split = SPLITS.find((s) => parts.includes(s))
  const phase = PHASES.find((p) => parts.includes(p))
  return { ...(split !== undefined ? { split } : {}), ...(phase !== undefined ? { phase } : {}) }
}

const isPhase = (p: string): p is Phase => (PHASES as ReadonlyArray<string>).includes(p)

export interface Placement {
  readonly level: Level
  readonly phase: Phase
  readonly split: SplitKey
}

export type PlaceResult =
  | { readonly _tag: "Placed"; readonly at: Placement; readonly warnings: ReadonlyArray<string> }
  | { readonly _tag: "Unplaced"; readonly reason: string }

export const place = (artifact: Artifact<Evaluation>): PlaceResult => {
  const e = artifact.value
  const fromId = cellOfNodeId(artifact.node)
  const warnings: Array<string> = []
  const byName = splitOfDataset(e.dataset)
  const split = byName ?? fromId.split
  if (split === undefined) {
    return { _tag: "Unplaced", reason: `data set '${e.dataset}' is not recognised as Emotify, MTG-Jamendo or CAL500 and node id '${artifact.node}' names no split (emo, mtg, cal)` }
  }
  if (byName !== undefined && fromId.split !== undefined && fromId.split !== byName) {
    warnings.push(`${artifact.node}: evaluates data set '${e.dataset}' (split ${byName}) but its node id names split ${fromId.split}; the data set decides`)
  }
  const phase = isPhase(e.model.phase) ? e.model.phase : fromId.phase
  if (phase === undefined) {
    return { _tag: "Unplaced", reason: `model phase '${e.model.phase}' is none of ${PHASES.join(", ")} and node id '${artifact.node}' names none` }
  }
  if (isPhase(e.model.phase) && fromId.phase !== undefined && fromId.phase !== e.model.phase) {
    warnings.push(`${artifact.node}: its model ${e.model.node} was trained as ${e.model.phase} but the node id names ${fromId.phase}; the model decides`)
  }
  const seen = e.model.datasets.find((d) => d === e.dataset || splitOfDataset(d) === split)
  if (seen !== undefined) {
    return { _tag: "Unplaced", reason: `not zero-shot: data set '${e.dataset}' is held out in split ${split}, but model ${e.model.node} was trained on '${seen}'` }
  }
  return { _tag: "Placed", at: { level: e.level, phase, split }, warnings }
}

export const measuredOf = (artifact: Artifact<Evaluation>): Measured => {
  const e = artifact.value
  return {
    node: artifact.node,
    model: e.model.node,
    dataset: e.dataset,
    eval_split: e.split,
    trained_on: [...e.model.datasets],
    regulariser: e.model.regulariser,
    alpha: e.model.alpha,
    rows: e.rows,
    k: e.k,
    f1_macro: e.metrics.f1_macro,
    precision_macro: e.metrics.precision_macro,
    recall_macro: e.metrics.recall_macro,
    hamming: e.metrics.hamming,
    map_macro: e.metrics.map_macro,
    roc_auc_macro: e.metrics.roc_auc_macro,
    chance: {
      f1_macro: e.chance.f1_macro,
      precision_macro: e.chance.precision_macro,
      recall_macro: e.chance.recall_macro,
      hamming: e.chance.hamming,
      map_macro: e.chance.map_macro,
      roc_auc_macro: e.chance.roc_auc_macro,
    },
  }
}

/** "vote 0.4100 · mean-score 0.4300 · mean-embedding -" for one cell of the aggregation comparison. */
export const aggregationText = (cell: AggregationCell): string =>
  AGGREGATIONS.every((g) => cell[g] === null)
    ? "-"
    : AGGREGATIONS.map((g) => `${g} ${cell[g] === null ? "-" : cell[g]!.f1_macro.toFixed(4)}`).join(" · ")

export interface Assembled {
  readonly tables: Tables
  readonly unplaced: ReadonlyArray<Unplaced>
  readonly warnings: ReadonlyArray<string>
}

/** Fills the tables; fails (with both node ids) when two evaluations claim the same cell. */
export const assembleTables = (evaluations: ReadonlyArray<Artifact<Evaluation>>): { readonly ok: Assembled } | { readonly duplicate: string } => {
  const placed = new Map<string, Artifact<Evaluation>>()
  // Song level: every aggregation has its own cell; the published song table shows the vote.
  const aggregationOf = (a: Artifact<Evaluation>): Aggregation | undefined => (a.value.level === "song" ? (a.value.aggregation ?? "vote") : undefined)
  const unplaced: Array<Unplaced> = []
  const warnings: Array<string> = []
  for (const a of evaluations) {
    const r = place(a)
    if (r._tag === "Unplaced") {
      unplaced.push({ node: a.node, level: a.value.level, dataset: a.value.dataset, reason: r.reason })
      warnings.push(`${a.node} is not in the table: ${r.reason}`)
      continue
    }
    warnings.push(...r.warnings)
    const aggregation = aggregationOf(a)
    const key = `${r.at.level}/${r.at.phase}/${r.at.split}${aggregation === undefined ? "" : `/${aggregation}`}`
    const other = placed.get(key)
    if (other !== undefined) {
      return {
        duplicate:
          `${other.node} and ${a.node} both fill the ${r.at.level}-level ${r.at.phase} cell of split ${r.at.split}${aggregation === undefined ? "" : ` (aggregation ${aggregation})`} ` +
          `(alpha ${other.value.model.alpha} and ${a.value.model.alpha}); give the report one evaluation per cell (one report node per alpha, or use mea sweep)`,
      }
    }
    placed.set(key, a)
  }
  const rows = (level: Level): Array<Row> =>
    PHASES.map((phase) => {
      const cellAt = (split: SplitKey): Cell => {
        const a = placed.get(`${level}/${phase}/${split}${level === "song" ? "/vote" : ""}`)
        return { published: { ...PUBLISHED[level][phase][split] }, measured: a === undefined ? null : measuredOf(a) }
      }
      return { phase, title: `${level}: ${PHASE_TITLES[phase]}`, cells: { emo: cellAt("emo"), mtg: cellAt("mtg"), cal: cellAt("cal") } }
    })
  const tables: Tables = {
    metric: "f1_macro",
    columns: SPLITS.map((s) => ({
      split: s,
      title: SPLIT_INFO[s].title,
      test: SPLIT_INFO[s].test,
      train: [...SPLIT_INFO[s].train],
      published_chance_f1_macro: SPLIT_INFO[s].publishedChanceF1,
    })),
    segment: rows(LEVELS[0]),
    song: rows(LEVELS[1]),
    song_aggregations: PHASES.map((phase) => {
      const measure = (split: SplitKey, aggregation: Aggregation): AggregationMeasure | null => {
        const a = placed.get(`song/${phase}/${split}/${aggregation}`)
        return a === undefined ? null : { node: a.node, f1_macro: a.value.metrics.f1_macro, map_macro: a.value.metrics.map_macro, chance_f1_macro: a.value.chance.f1_macro }
      }
      const cellAt = (split: SplitKey): AggregationCell => ({
        vote: measure(split, "vote"),
        "mean-score": measure(split, "mean-score"),
        "mean-embedding": measure(split, "mean-embedding"),
      })
      return { phase, title: `song: ${PHASE_TITLES[phase]}`, cells: { emo: cellAt("emo"), mtg: cellAt("mtg"), cal: cellAt("cal") } }
    }),
  }
  return { ok: { tables, unplaced, warnings } }
}
