import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { PUBLISHED, SPLIT_INFO } from "../../src/report/published.ts"
import { aggregationText, assembleTables, cellOfNodeId, place, splitOfDataset } from "../../src/report/tables.ts"
import { describeWithShared, sharedPath } from "../support/shared-data.ts"
import { evaluationArtifact, fullExperiment } from "./fixture.ts"

const REFERENCE_MD = sharedPath("REFERENCE.md")

describeWithShared("published table", ["REFERENCE.md"], () => {
  it("equals the table in REFERENCE.md, cell by cell", () => {
    const text = fs.readFileSync(REFERENCE_MD, "utf8")
    const section = text.slice(text.indexOf("## Published results"))
    const rows = section
      .split("\n")
      .filter((l) => /^\| (segment|song):/.test(l))
      .map((l) => l.split("|").slice(1, -1).map((c) => c.trim()))
    expect(rows).toHaveLength(6)
    const order = [
      ["segment", "baseline1"],
      ["segment", "baseline2"],
      ["segment", "alignment"],
      ["song", "baseline1"],
      ["song", "baseline2"],
      ["song", "alignment"],
    ] as const
    rows.forEach((r, i) => {
      const [level, phase] = order[i]
      expect(r[0].startsWith(level)).toBe(true)
      ;(["emo", "mtg", "cal"] as const).forEach((split, j) => {
        const m = /^([0-9.]+)(?: \((?:lambda )?([0-9.]+)\))?$/.exec(r[j + 1])
        expect(m, `cell ${r[j + 1]}`).not.toBeNull()
        expect(PUBLISHED[level][phase][split].f1_macro).toBe(Number(m![1]))
        expect(PUBLISHED[level][phase][split].alpha).toBe(m![2] === undefined ? null : Number(m![2]))
      })
    })
    // Chance levels: "about 0.030 (MTG), 0.239 (CAL500) and 0.323 (Emotify)".
    const chance = /about ([0-9.]+) \(MTG\), ([0-9.]+) \(CAL500\) and ([0-9.]+) \(Emotify\)/.exec(text.replace(/\s+/g, " "))
    expect(chance).not.toBeNull()
    expect([SPLIT_INFO.mtg.publishedChanceF1, SPLIT_INFO.cal.publishedChanceF1, SPLIT_INFO.emo.publishedChanceF1]).toEqual(chance!.slice(1).map(Number))
  })
})

describe("placing evaluations in the table", () => {
  it("recognises the three data sets by name", () => {
    expect(["emotify", "Emotify-demo", "emo", "data.emo"].map(splitOfDataset)).toEqual(["emo", "emo", "emo", "emo"])
    expect(["mtg", "MTG-Jamendo", "jamendo_moodtheme"].map(splitOfDataset)).toEqual(["mtg", "mtg", "mtg"])
    expect(["cal500", "CAL500_real", "cal"].map(splitOfDataset)).toEqual(["cal", "cal", "cal"])
    // Words that merely contain the short names are not data sets.
    expect(["demo", "calm", "local", "other"].map(splitOfDataset)).toEqual([undefined, undefined, undefined, undefined])
  })

  it("reads split and phase from a node id in any position", () => {
    expect(cellOfNodeId("eval.emo.baseline1")).toEqual({ split: "emo", phase: "baseline1" })
    expect(cellOfNodeId("vote.cal.alignment.a2")).toEqual({ split: "cal", phase: "alignment" })
    expect(cellOfNodeId("eval.x")).toEqual({})
  })

  const base = { level: "segment" as const, modelNode: "train.m", seed: 1 }

  it("prefers the artifacts, falls back to the node id, and warns when they disagree", () => {
    const byValue = place(evaluationArtifact({ ...base, node: "eval.whatever", dataset: "emotify", phase: "baseline2", trainedOn: ["mtg", "cal500"] }))
    expect(byValue).toEqual({ _tag: "Placed", at: { level: "segment", phase: "baseline2", split: "emo" }, warnings: [] })

    const byId = place(evaluationArtifact({ ...base, node: "vote.mtg.alignment", level: "song", dataset: "toy-c", phase: "custom", trainedOn: ["toy-a"] }))
    expect(byId).toEqual({ _tag: "Placed", at: { level: "song", phase: "alignment", split: "mtg" }, warnings: [] })

    const disagree = place(evaluationArtifact({ ...base, node: "eval.cal.baseline1", dataset: "emotify", phase: "alignment", trainedOn: ["mtg"] }))
    expect(disagree._tag).toBe("Placed")
    if (disagree._tag !== "Placed") return
    expect(disagree.at).toEqual({ level: "segment", phase: "alignment", split: "emo" })
    expect(disagree.warnings.join("\n")).toMatch(/names split cal; the data set decides/)
    expect(disagree.warnings.join("\n")).toMatch(/trained as alignment but the node id names baseline1; the model decides/)
  })

  it("keeps out what it cannot place and what is not zero-shot, saying why", () => {
    const unknown = place(evaluationArtifact({ ...base, node: "eval.x", dataset: "toy", phase: "baseline1", trainedOn: [] }))
    expect(unknown).toEqual({ _tag: "Unplaced", reason: expect.stringMatching(/data set 'toy' is not recognised .* node id 'eval.x' names no split/) })
    const noPhase = place(evaluationArtifact({ ...base, node: "eval.emo", dataset: "emotify", phase: "custom", trainedOn: [] }))
    expect(noPhase).toEqual({ _tag: "Unplaced", reason: expect.stringMatching(/model phase 'custom' is none of baseline1, baseline2, alignment/) })
    const seen = place(evaluationArtifact({ ...base, node: "eval.emo.baseline1", dataset: "emotify", phase: "baseline1", trainedOn: ["mtg", "Emotify-train"] }))
    expect(seen).toEqual({ _tag: "Unplaced", reason: expect.stringMatching(/not zero-shot: .* trained on 'Emotify-train'/) })
  })

  it("fills every cell with the input metrics and the published numbers", () => {
    const { evaluations } = fullExperiment()
    const r = assembleTables(evaluations)
    expect("ok" in r).toBe(true)
    if (!("ok" in r)) return
    const t = r.ok.tables
    expect(t.columns.map((c) => c.split)).toEqual(["emo", "mtg", "cal"])
    expect(t.segment.map((row) => row.phase)).toEqual(["baseline1", "baseline2", "alignment"])
    expect(t.song.map((row) => row.phase)).toEqual(["baseline1", "baseline2", "alignment"])
    expect(r.ok.unplaced).toEqual([])
    for (const e of evaluations) {
      const [kind, split, phase] = e.node.split(".") as ["eval" | "vote", "emo" | "mtg" | "cal", "baseline1" | "baseline2" | "alignment"]
      const level = kind === "eval" ? "segment" : "song"
      const cell = t[level].find((row) => row.phase === phase)!.cells[split]
      expect(cell.measured?.node).toBe(e.node)
      expect(cell.measured?.f1_macro).toBe(e.value.metrics.f1_macro)
      expect(cell.measured?.map_macro).toBe(e.value.metrics.map_macro)
      expect(cell.measured?.roc_auc_macro).toBe(e.value.metrics.roc_auc_macro)
      expect(cell.measured?.chance.f1_macro).toBe(e.value.chance.f1_macro)
      expect(cell.measured?.chance.map_macro).toBe(e.value.chance.map_macro)
      expect(cell.measured?.chance.roc_auc_macro).toBe(e.value.chance.roc_auc_macro)
      expect(cell.published).toEqual(PUBLISHED[level][phase][split])
    }
  })

  it("leaves cells without an evaluation empty and refuses two evaluations for one cell", () => {
    const one = evaluationArtifact({ ...base, node: "eval.emo.alignment", dataset: "emotify", phase: "alignment", trainedOn: ["mtg", "cal500"], alpha: 1 })
    const r = assembleTables([one])
    if (!("ok" in r)) throw new Error("expected tables")
    expect(r.ok.tables.segment[2].cells.emo.measured?.alpha).toBe(1)
    expect(r.ok.tables.segment[2].cells.mtg.measured).toBeNull()
    expect(r.ok.tables.song.every((row) => Object.values(row.cells).every((c) => c.measured === null))).toBe(true)
    const two = evaluationArtifact({ ...base, node: "eval.emo.alignment.a2", dataset: "emotify", phase: "alignment", trainedOn: ["mtg", "cal500"], alpha: 2.5, seed: 2 })
    const d = assembleTables([one, two])
    expect(d).toEqual({ duplicate: expect.stringMatching(/eval.emo.alignment and eval.emo.alignment.a2 both fill the segment-level alignment cell of split emo \(alpha 1 and 2.5\)/) })
  })
  it("puts the three song aggregations side by side; the published song table shows the vote", () => {
    const song = (aggregation: "vote" | "mean-score" | "mean-embedding" | undefined, seed: number) =>
      evaluationArtifact({
        ...base,
        node: `vote.emo.alignment${aggregation === undefined ? "" : `.${aggregation}`}`,
        level: "song",
        dataset: "emotify",
        phase: "alignment",
        trainedOn: ["mtg", "cal500"],
        seed,
        ...(aggregation !== undefined ? { aggregation } : {}),
      })
    const vote = song("vote", 1)
    const meanScore = song("mean-score", 2)
    const meanEmbedding = song("mean-embedding", 3)
    const r = assembleTables([meanScore, vote, meanEmbedding])
    if (!("ok" in r)) throw new Error(r.duplicate)
    expect(r.ok.tables.song[2].cells.emo.measured?.node).toBe(vote.node)
    const cell = r.ok.tables.song_aggregations[2].cells.emo
    expect(cell.vote?.f1_macro).toBe(vote.value.metrics.f1_macro)
    expect(cell["mean-score"]?.f1_macro).toBe(meanScore.value.metrics.f1_macro)
    expect(cell["mean-embedding"]?.node).toBe(meanEmbedding.node)
    expect(r.ok.tables.song_aggregations[2].cells.mtg).toEqual({ vote: null, "mean-score": null, "mean-embedding": null })
    expect(aggregationText(cell)).toBe(
      `vote ${vote.value.metrics.f1_macro.toFixed(4)} · mean-score ${meanScore.value.metrics.f1_macro.toFixed(4)} · mean-embedding ${meanEmbedding.value.metrics.f1_macro.toFixed(4)}`,
    )
    // An evaluation without an aggregation (vote before v3) is a vote; two votes for one cell are refused.
    const old = song(undefined, 4)
    expect(assembleTables([vote, old])).toEqual({ duplicate: expect.stringMatching(/both fill the song-level alignment cell of split emo \(aggregation vote\)/) })
  })
})
