/**
 * Everything the report shows, gathered once from the input artifacts, so that the Markdown and the HTML renderings
 * say the same thing. Plots are SVG strings, also written as files under plots/ (the Markdown links them, the HTML
 * inlines them).
 */
import * as fs from "node:fs"
import { readVerifiedFile } from "../runtime/integrity.ts"
import type { Model } from "../artifacts/model.ts"
import type { Evaluation } from "../artifacts/evaluation.ts"
import type { Artifact } from "../runtime/stage.ts"
import type { Clusters } from "../artifacts/clusters.ts"
import { barChart, lineChart, panels } from "./svg.ts"
import type { Tables, Unplaced } from "./tables.ts"

export interface Plot {
  /** Path inside the report, e.g. plots/curves-train.emo.alignment.svg. */
  readonly file: string
  readonly svg: string
}

export interface EvaluationSection {
  readonly node: string
  readonly value: Evaluation
  readonly plot: Plot
}

export interface ModelSection {
  readonly node: string
  readonly value: Model
  readonly plot: Plot
}

export interface ClusterSection {
  readonly node: string
  readonly value: Clusters
  /** Undefined when the cluster artifact has no readable projection SVG (then the report says so). */
  readonly plot: Plot | undefined
}

export interface ReportContent {
  readonly title: string
  readonly tables: Tables
  readonly unplaced: ReadonlyArray<Unplaced>
  readonly warnings: ReadonlyArray<string>
  readonly evaluations: ReadonlyArray<EvaluationSection>
  readonly models: ReadonlyArray<ModelSection>
  readonly clusters: ReadonlyArray<ClusterSection>
}

/** A file name from a node id: node ids are mostly safe already; anything else becomes "_", and clashes get a suffix. */
export const plotNamer = () => {
  const used = new Set<string>()
  return (kind: string, node: string): string => {
    const base = `plots/${kind}-${node.replace(/[^A-Za-z0-9._-]/g, "_")}`
    let name = `${base}.svg`
    for (let i = 2; used.has(name); i++) name = `${base}-${i}.svg`
    used.add(name)
    return name
  }
}

const PANEL_W = 400
const PANEL_H = 250

export const curvesSvg = (node: string, m: Model): string => {
  const at = (pick: (r: Model["curves"][number]) => number) => m.curves.map((r) => [r.epoch, pick(r)] as const)
  const best = { x: m.best_epoch, label: `best epoch ${m.best_epoch}` }
  const common = { xLabel: "epoch", width: PANEL_W, height: PANEL_H, markX: best }
  const loss = lineChart({
    ...common,
    title: `${node}: training loss`,
    yLabel: "loss",
    series: [
      { name: "total", points: at((r) => r.train_loss) },
      { name: "triplet", points: at((r) => r.triplet_loss), dashed: true },
      ...(m.phase === "alignment" ? [{ name: "regulariser", points: at((r) => r.regulariser_loss), dashed: true }] : []),
    ],
  })
  const f1 = lineChart({ ...common, title: `${node}: validation macro F1`, yLabel: "macro F1", series: [{ name: `val F1 (${m.datasets[0] ?? "?"})`, points: at((r) => r.val_f1), colour: "#2ca02c" }] })
  const lr = lineChart({ ...common, title: `${node}: learning rate`, yLabel: "lr", logY: true, series: [{ name: "lr", points: at((r) => r.lr), colour: "#9467bd" }] })
  return panels([loss, f1, lr], PANEL_W, PANEL_H)
}

export const labelsSvg = (node: string, e: Evaluation): string =>
  barChart({
    title: `${node}: per-label F1 (${e.level} level, ${e.dataset} ${e.split}, top-${e.k})`,
    bars: e.per_label.map((l) => ({ label: l.label, value: l.f1, note: `(n=${l.support})` })),
    marks: [
      { value: e.metrics.f1_macro, label: "macro F1", colour: "#d62728" },
      { value: e.chance.f1_macro, label: "chance (random top-k)", colour: "#777777" },
    ],
    max: 1,
  })

/** The projection SVG of a clusters artifact, without an XML prolog or doctype so it can sit inside HTML. */
export const readProjection = (a: Artifact<Clusters>): string | undefined => {
  const file = a.file(a.value.file)
  if (!fs.existsSync(file)) return undefined
  const text = readVerifiedFile(file, "utf8").replace(/^\uFEFF/, "").replace(/<\?xml[^>]*\?>\s*/, "").replace(/<!DOCTYPE[^>]*>\s*/i, "")
  return /^\s*<svg[\s>]/.test(text) ? text.trim() : undefined
}
