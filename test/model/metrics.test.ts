import { describe, expect, it } from "vitest"
import { averagePrecision, chanceLevel, classificationMetrics, evaluate, rocAuc, topK } from "../../src/model/metrics.ts"
import { songVote } from "../../src/model/vote.ts"

describe("classification metrics (sklearn semantics, zero_division=0)", () => {
  const truth = Uint8Array.of(1, 0, 0, 1, 1, 0, 0, 0, 0)
  const pred = Uint8Array.of(1, 1, 0, 0, 1, 0, 0, 0, 1)
  it("macro F1 / precision / recall / Hamming by hand", () => {
    const m = classificationMetrics(truth, pred, 3, 3)
    // label 0: P 1, R 1/2, F1 2/3; label 1: P 1/2, R 1, F1 2/3; label 2: all 0
    expect(m.f1_macro).toBeCloseTo(4 / 9, 12)
    expect(m.precision_macro).toBeCloseTo(0.5, 12)
    expect(m.recall_macro).toBeCloseTo(0.5, 12)
    expect(m.hamming).toBeCloseTo(3 / 9, 12)
  })
  it("a label with no true and no predicted positive counts as F1 0 in the macro mean", () => {
    const t4 = Uint8Array.of(1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0)
    const p4 = Uint8Array.of(1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0)
    expect(classificationMetrics(t4, p4, 3, 4).f1_macro).toBeCloseTo(4 / 3 / 4, 12)
  })
  it("top-k picks the k best labels, ties to the lower index", () => {
    expect([...topK(Float32Array.of(0.1, 0.5, 0.5, 0.2), 1, 4, 2)]).toEqual([0, 1, 1, 0])
    expect([...topK(Float32Array.of(0.3, 0.3, 0.3, 0.9), 1, 4, 2)]).toEqual([1, 0, 0, 1])
  })
})

describe("threshold-free metrics", () => {
  it("average precision by hand, ties grouped", () => {
    expect(averagePrecision([[0.9, 1], [0.8, 0], [0.7, 1], [0.6, 0]])).toBeCloseTo(0.5 + 0.5 * (2 / 3), 12)
    expect(averagePrecision([[0.5, 1], [0.5, 0]])).toBeCloseTo(0.5, 12)
    expect(averagePrecision([[0.5, 0]])).toBeNull()
  })
  it("ROC-AUC by hand, ties counted one half", () => {
    expect(rocAuc([[0.9, 1], [0.8, 0], [0.7, 1], [0.6, 0]])).toBeCloseTo(0.75, 12)
    expect(rocAuc([[0.5, 1], [0.5, 0]])).toBeCloseTo(0.5, 12)
    expect(rocAuc([[0.5, 1], [0.4, 1]])).toBeNull()
  })
  it("macro means skip undefined labels and say how many entered", () => {
    const scores = Float32Array.of(0.9, 0.1, 0.2, 0.8)
    const truth = Uint8Array.of(1, 0, 0, 0)
    const e = evaluate(["a", "b"], scores, truth, topK(scores, 2, 2, 1), 2)
    expect(e.metrics.map_labels).toBe(1)
    expect(e.metrics.roc_auc_labels).toBe(1)
    expect(e.metrics.map_macro).toBeCloseTo(1, 12)
    expect(e.perLabel[1].ap).toBeNull()
    expect(e.perLabel[0]).toMatchObject({ support: 1, tp: 1, fp: 0, fn: 0, f1: 1 })
  })
})

describe("chance level of a random top-k predictor", () => {
  it("is close to the analytic value when every row has one label", () => {
    // Only label 0 is ever true; it is predicted with probability q = k/C, so F1_0 -> 2q/(q+1); the others score 0.
    const rows = 2000
    const labels = 4
    const truth = new Uint8Array(rows * labels)
    for (let r = 0; r < rows; r++) truth[r * labels] = 1
    const c = chanceLevel(truth, rows, labels, 1, 20, 1)
    expect(c.f1_macro).toBeCloseTo((2 * 0.25) / 1.25 / 4, 2)
    expect(c.recall_macro).toBeCloseTo(0.25 / 4, 2)
    expect(c.map_macro).toBe(1) // label 0 is the only one with positives, and every row has it
    expect(c.roc_auc_macro).toBe(0.5)
  })
})

describe("song-level vote", () => {
  it("majority of segments' top-k, ties broken by summed similarity", () => {
    const scores = Float32Array.of(0.9, 0.1, 0.0, 0.0, 0.5, 0.4, 0.1, 0.2, 0.3, 0.0, 0.1, 0.9, 0.2, 0.1, 0.95)
    const songOf = Int32Array.of(0, 0, 1, 1, 1)
    const v = songVote(scores, songOf, 2, 3, 1)
    // song 0: votes 1-1 for labels 0 and 1; sums 0.9 vs 0.6 -> label 0. song 1: label 2 has all three votes.
    expect([...v.predicted]).toEqual([1, 0, 0, 0, 0, 1])
    expect([...v.votes]).toEqual([1, 1, 0, 0, 0, 3])
    expect(v.scores[0]).toBeCloseTo(0.45, 6)
  })
})
