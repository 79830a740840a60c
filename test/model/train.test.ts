import { describe, expect, it } from "vitest"
import { Schema } from "effect"
import type { NetConfig } from "../../src/model/nets.ts"
import { Rng } from "../../src/model/rng.ts"
import { memoryRows } from "../../src/model/rows.ts"
import { TrainSettings } from "../../src/model/settings.ts"
import { train, type Phase, type TrainingSet, type TrainRun, type ValidationSet } from "../../src/model/train.ts"

const inDim = 12
const outDim = 6

/** A learnable toy problem: features are a fixed random projection of the label's embedding plus noise. */
const toy = (seed: number) => {
  const rng = new Rng(seed, "toy")
  const proj = Float32Array.from({ length: outDim * inDim }, () => rng.next() * 2 - 1)
  const makeSet = (name: string, nLabels: number, rows: number, clusterBase: number): TrainingSet & { x: Float32Array; rowLabels: Array<number> } => {
    const embeddings = Float32Array.from({ length: nLabels * outDim }, () => rng.next() * 2 - 1)
    const x = new Float32Array(rows * inDim)
    const rowLabels: Array<number> = []
    for (let r = 0; r < rows; r++) {
      const l = rng.int(nLabels)
      rowLabels.push(l)
      for (let j = 0; j < inDim; j++) {
        let s = 0
        for (let k = 0; k < outDim; k++) s += embeddings[l * outDim + k] * proj[k * inDim + j]
        x[r * inDim + j] = s + (rng.next() - 0.5) * 0.3
      }
    }
    const source = memoryRows(x, inDim)
    return {
      name,
      labels: Array.from({ length: nLabels }, (_, i) => `${name}${i}`),
      embeddings,
      source,
      train: rowLabels.map((l, row) => ({ row, labels: [l] })).slice(0, Math.floor(rows * 0.8)),
      upsample: 1,
      clusters: Array.from({ length: nLabels }, (_, i) => clusterBase + (i % 3)),
      x,
      rowLabels,
    }
  }
  const a = makeSet("a", 5, 200, 0)
  const b = makeSet("b", 4, 90, 1)
  const valRows = Array.from({ length: 40 }, (_, i) => 160 + i)
  const truth = new Uint8Array(valRows.length * 5)
  valRows.forEach((row, i) => (truth[i * 5 + a.rowLabels[row]] = 1))
  const validation: ValidationSet = { source: a.source, rows: valRows, truth, k: 1 }
  return { sets: [a, b], validation }
}

const config: NetConfig = { net: "attention", in_dim: inDim, out_dim: outDim, hidden: 16, heads: 2, ff: 24, num_layers: 2, dropout: 0.1 }

const options = (phase: Phase, seed = 1, extra: Partial<TrainSettings> = {}): TrainSettings =>
  Schema.decodeSync(TrainSettings)({
    phase,
    regulariser: "v2",
    alpha: 1,
    epochs: 12,
    patience: 100,
    batch: 32,
    lr: 3e-3,
    weight_decay: 0.01,
    seed,
    batching: "max_size_cycle",
    negatives: 2,
    standardise: true,
    ...extra,
  })
const run: TrainRun = { config, threads: 2 }

const sameWeights = (a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean =>
  [...a].every(([k, v]) => {
    const w = b.get(k)!
    return v.length === w.length && v.every((x, i) => Object.is(x, w[i]))
  })

describe("training loop", () => {
  it("learns the toy problem well above chance and records curves", async () => {
    const { sets, validation } = toy(1)
    const r = await train(sets, validation, options("baseline1"), run)
    expect(r.curves.length).toBe(12)
    expect(r.curves[0].steps).toBe(5) // ceil(160 / 32), the shorter set cycling
    expect(r.bestValF1).toBeGreaterThan(0.6) // chance for k=1 of 5 labels is about 0.2
    expect(r.curves[r.bestEpoch - 1].val_f1).toBe(r.bestValF1)
    expect(r.curves.at(-1)!.train_loss).toBeLessThan(r.curves[0].train_loss)
  })

  it("is reproducible bit for bit from the seed", async () => {
    const { sets, validation } = toy(2)
    const o = options("alignment", 7, { epochs: 2 })
    const a = await train(sets, validation, o, run)
    const b = await train(sets, validation, o, run)
    const c = await train(sets, validation, options("alignment", 8, { epochs: 2 }), run)
    expect(sameWeights(a.weights, b.weights)).toBe(true)
    expect(a.curves).toEqual(b.curves)
    expect(a.standardiser).toBeDefined()
    expect(b.standardiser).toEqual(a.standardiser)
    expect(sameWeights(a.weights, c.weights)).toBe(false)
    expect(a.curves[0].regulariser_loss).toBeGreaterThan(0)
  })

  it("baseline2 and max_size batching run; the regulariser stays off outside alignment", async () => {
    const { sets, validation } = toy(3)
    const r = await train(sets, validation, options("baseline2", 1, { epochs: 2, batching: "max_size", regulariser: "v1" }), run)
    expect(r.curves.every((c) => c.regulariser_loss === 0)).toBe(true)
    expect(r.curves[0].steps).toBe(5)
  })

  it("trains the linear net too", async () => {
    const { sets, validation } = toy(5)
    const linear: NetConfig = { net: "linear", in_dim: inDim, out_dim: outDim, hidden: 24, heads: 0, ff: 0, num_layers: 3, dropout: 0.1 }
    const r = await train(sets, validation, options("baseline1", 1, { epochs: 12 }), { config: linear, threads: 2 })
    expect(r.weights.has("blocks.2.linear.weight")).toBe(true)
    expect(r.bestValF1).toBeGreaterThan(0.5)
  })

  it("standardised inputs learn a tiny-scale signal beside huge-scale noise that raw inputs cannot", async () => {
    const { sets, validation } = toy(6)
    // Columns 0..5 keep the label signal at a thousandth of its scale; columns 6..11 become label-free noise of scale 1000.
    const noiseRng = new Rng(6, "noise")
    const rescale = (x: Float32Array): Float32Array =>
      Float32Array.from(x, (v, i) => (i % inDim < 6 ? v * 1e-3 : (noiseRng.next() - 0.5) * 2e3))
    const scaled = sets.map((s) => ({ ...s, source: memoryRows(rescale(s.x), inDim) }))
    const scaledValidation = { ...validation, source: scaled[0].source }
    const o = (standardise: boolean) => options("baseline1", 1, { epochs: 8, standardise })
    const raw = await train(scaled, scaledValidation, o(false), run)
    const standardised = await train(scaled, scaledValidation, o(true), run)
    expect(raw.standardiser).toBeUndefined()
    expect(standardised.standardiser!.std[7]).toBeGreaterThan(100)
    expect(standardised.standardiser!.std[0]).toBeLessThan(0.01)
    // Chance for k=1 of 5 labels is about 0.2.
    expect(standardised.bestValF1).toBeGreaterThan(0.6)
    expect(standardised.bestValF1 - raw.bestValF1).toBeGreaterThan(0.3)
  })

  it("stops early after `patience` epochs without a better validation F1 and keeps the best weights", async () => {
    const { sets, validation } = toy(4)
    const r = await train(sets, validation, options("baseline1", 1, { epochs: 50, patience: 2, lr: 0 }), run)
    // With lr 0 the weights never change, so F1 never improves after epoch 1.
    expect(r.stoppedEarly).toBe(true)
    expect(r.curves.length).toBe(3)
    expect(r.bestEpoch).toBe(1)
  })
})
