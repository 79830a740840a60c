import { describe, expect, it } from "vitest"
import { alignmentRegulariser, tripletLoss, type RegulariserVersion } from "../../src/model/loss.ts"
import { Rng } from "../../src/model/rng.ts"

describe("triplet loss", () => {
  it("matches hand-computed values, summed over data sets of the step", () => {
    const anchors = Float64Array.of(1, 0, 1, 0, 0.6, 0.8)
    const positives = Float64Array.of(1, 0, 0, 2, 1, 0)
    const negatives = Float64Array.of(0, 1, 3, 0, 0, 1)
    const r = tripletLoss({ rows: 3, dim: 2, anchors, positives, negatives, group: Int32Array.of(0, 0, 1) })
    // group 0: mean(relu(0 - 1 + 1), relu(1 - 0 + 1)) = 1; group 1: relu(0.8 - 0.6 + 1) = 1.2
    expect(r.parts[0]).toBeCloseTo(1, 12)
    expect(r.parts[1]).toBeCloseTo(1.2, 12)
    expect(r.loss).toBeCloseTo(2.2, 12)
    // The first row is at the margin exactly: no gradient.
    expect([r.dA[0], r.dA[1]]).toEqual([0, 0])
  })

  it("has the gradient of finite differences", () => {
    const rng = new Rng(3)
    const rows = 6
    const dim = 5
    const rand = (n: number) => Float64Array.from({ length: n }, () => rng.next() * 2 - 1)
    const anchors = rand(rows * dim)
    const positives = rand(rows * dim)
    const negatives = rand(rows * dim)
    const group = Int32Array.of(0, 0, 1, 1, 1, 0)
    const input = { rows, dim, anchors, positives, negatives, group, margin: 5 }
    const { dA } = tripletLoss(input)
    const h = 1e-6
    for (let i = 0; i < anchors.length; i++) {
      const old = anchors[i]
      anchors[i] = old + h
      const up = tripletLoss(input).loss
      anchors[i] = old - h
      const down = tripletLoss(input).loss
      anchors[i] = old
      expect(dA[i]).toBeCloseTo((up - down) / (2 * h), 6)
    }
  })
})

describe("alignment regulariser", () => {
  const S = Float64Array.of(1, 0.5, -0.2, 0.5, 1, 0.3, -0.2, 0.3, 1)
  const clusters = Int32Array.of(0, 0, 1)
  it("v2 = alpha * mean relu(n_i + 1)", () => {
    // n = (-0.2, 0.3, 0.05) -> mean(0.8, 1.3, 1.05) = 1.05
    expect(alignmentRegulariser(S, 3, clusters, "v2", 2).loss).toBeCloseTo(2.1, 12)
  })
  it("v1 = alpha * mean relu(n_i - p_i + 1), anchors without a same-cluster partner left out", () => {
    // anchor 2 has no same-cluster partner; terms 0.3 and 0.8
    expect(alignmentRegulariser(S, 3, clusters, "v1", 2).loss).toBeCloseTo(1.1, 12)
  })
  it("v3 = alpha * mean (1 - p_i)", () => {
    expect(alignmentRegulariser(S, 3, clusters, "v3", 2).loss).toBeCloseTo(1.0, 12)
  })
  it("is zero when every anchor is in one cluster (v2) ", () => {
    expect(alignmentRegulariser(S, 3, Int32Array.of(4, 4, 4), "v2", 2).loss).toBe(0)
  })
  for (const version of ["v1", "v2", "v3"] as Array<RegulariserVersion>) {
    it(`${version} has the gradient of finite differences`, () => {
      const rng = new Rng(5, version)
      const rows = 7
      // Similarities shifted so the v1 hinge is active for some anchors and not for others.
      const sim = Float64Array.from({ length: rows * rows }, () => rng.next() * 2 - 1.6)
      const cl = Int32Array.of(0, 1, 0, 2, 1, 0, 3)
      const { dS } = alignmentRegulariser(sim, rows, cl, version, 1.7)
      const h = 1e-6
      for (let i = 0; i < sim.length; i++) {
        const old = sim[i]
        sim[i] = old + h
        const up = alignmentRegulariser(sim, rows, cl, version, 1.7).loss
        sim[i] = old - h
        const down = alignmentRegulariser(sim, rows, cl, version, 1.7).loss
        sim[i] = old
        expect(dS[i]).toBeCloseTo((up - down) / (2 * h), 6)
      }
    })
  }
})
