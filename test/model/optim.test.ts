import { describe, expect, it } from "vitest"
import { AdamW } from "../../src/model/adamw.ts"
import { drawMasks } from "../../src/model/forward-backward.ts"
import { dropout, selfAttentionLength1 } from "../../src/model/layers.ts"
import { planEpoch, upsampledPool } from "../../src/model/batching.ts"
import { Rng } from "../../src/model/rng.ts"
import { ReduceLROnPlateau } from "../../src/model/scheduler.ts"

describe("AdamW", () => {
  for (const [kind, make] of [["float32 (SIMD)", (xs: Array<number>) => Float32Array.from(xs)], ["float64", (xs: Array<number>) => Float64Array.from(xs)]] as const) {
    it(`matches torch.optim.AdamW's update, step by step: ${kind}`, () => {
      const weights = new Map([["w", make([1, -2])]])
      const grads = new Map([["w", make([0.5, 0])]])
      const opt = new AdamW({ lr: 0.1, weightDecay: 0.01 })
      opt.update(weights, grads)
      // step 1: w*(1 - lr*wd) - lr * mhat / (sqrt(vhat) + eps), mhat = g, vhat = g^2
      expect(weights.get("w")![0]).toBeCloseTo(1 * 0.999 - 0.1, 6)
      expect(weights.get("w")![1]).toBeCloseTo(-2 * 0.999, 6)
      grads.get("w")!.set([-1, 0])
      opt.update(weights, grads)
      const m = 0.9 * 0.05 + 0.1 * -1
      const v = 0.999 * 0.00025 + 0.001 * 1
      const expected = (1 * 0.999 - 0.1) * 0.999 - (0.1 * (m / (1 - 0.81))) / (Math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
      expect(weights.get("w")![0]).toBeCloseTo(expected, 5)
    })
  }
})

describe("AdamW's float32 SIMD kernel", () => {
  const sizes = [["a", 5000], ["b", 3001], ["c", 2], ["d", 7]] as const
  const tensors = <T extends Float32Array | Float64Array>(seed: number, make: (n: number) => T): Map<string, T> => {
    const rng = new Rng(seed, "t")
    const m = new Map<string, T>()
    for (const [name, n] of sizes) {
      const a = make(n)
      for (let i = 0; i < n; i++) a[i] = rng.next() * 2 - 1
      m.set(name, a)
    }
    // A view into a larger buffer, as a caller may hand over.
    const view = make(200).subarray(50, 150) as T
    for (let i = 0; i < view.length; i++) view[i] = rng.next()
    m.set("view", view)
    return m
  }
  const f32 = (n: number) => new Float32Array(n)
  const f64 = (n: number) => new Float64Array(n)

  it("agrees with the update in doubles to float32 rounding, for any length, over steps with changing gradients", () => {
    const w32 = tensors(1, f32)
    const g32 = tensors(2, f32)
    const w64 = tensors(1, f64)
    const g64 = tensors(2, f64)
    const simd = new AdamW({ lr: 0.01, weightDecay: 0.01 })
    const doubles = new AdamW({ lr: 0.01, weightDecay: 0.01 })
    for (let step = 0; step < 5; step++) {
      simd.update(w32, g32)
      doubles.update(w64, g64)
      // The next gradients, written into whatever the maps hold now (the kernel's memory, after the first update).
      for (const [k, g] of g32) g.set(tensors(10 + step, f32).get(k)!)
      for (const [k, g] of g64) g.set(tensors(10 + step, f64).get(k)!)
    }
    const start = tensors(1, f64)
    for (const [k, w] of w64) {
      const got = w32.get(k)!
      let moved = 0
      for (let i = 0; i < w.length; i++) {
        expect(Math.abs(got[i] - w[i]), `${k}[${i}]`).toBeLessThan(1e-6 * Math.max(1, Math.abs(w[i])))
        moved = Math.max(moved, Math.abs(w[i] - start.get(k)![i]))
      }
      // Five steps of lr 0.01 move every weight well beyond that tolerance: the comparison is not vacuous.
      expect(moved).toBeGreaterThan(0.01)
    }
  })

  it("puts views of its memory into the caller's maps, and copies in an entry the caller replaced", () => {
    const weights = tensors(1, f32)
    const grads = tensors(2, f32)
    const first = weights.get("a")!
    const opt = new AdamW({ lr: 0.01, weightDecay: 0 })
    opt.update(weights, grads)
    const inArena = weights.get("a")!
    expect(inArena).not.toBe(first)
    expect(grads.get("a")).not.toBe(tensors(2, f32).get("a"))
    // The caller restores other weights by replacing the entry, as after loading a checkpoint.
    const restored = Float32Array.from(first)
    weights.set("a", restored)
    opt.update(weights, grads)
    expect(weights.get("a")).toBe(inArena)
    const reference = tensors(1, f64)
    const refGrads = tensors(2, f64)
    const twice = new AdamW({ lr: 0.01, weightDecay: 0 })
    twice.update(reference, refGrads)
    reference.set("a", Float64Array.from(first))
    twice.update(reference, refGrads)
    for (let i = 0; i < first.length; i++) expect(Math.abs(inArena[i] - reference.get("a")![i])).toBeLessThan(1e-6)
  })

  it("refuses a weight that was not there at the first update", () => {
    const weights = tensors(1, f32)
    const grads = tensors(2, f32)
    const opt = new AdamW({ lr: 0.01, weightDecay: 0 })
    opt.update(weights, grads)
    weights.set("new", new Float32Array(4))
    grads.set("new", new Float32Array(4))
    expect(() => opt.update(weights, grads)).toThrow(/new was not among the weights of the first update/)
  })
})

describe("ReduceLROnPlateau (max, rel threshold)", () => {
  it("reduces after more than `patience` flat epochs, then waits out the cooldown, and stops at min lr", () => {
    const s = new ReduceLROnPlateau(1, { factor: 0.5, patience: 2, cooldown: 1, minLr: 0.2 })
    const lrs = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5].map((m) => s.step(m))
    expect(lrs).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2])
  })
  it("an improvement beyond the threshold resets the count", () => {
    const s = new ReduceLROnPlateau(1, { factor: 0.5, patience: 1, cooldown: 0, minLr: 0 })
    expect([0.1, 0.2, 0.3, 0.30001, 0.4].map((m) => s.step(m))).toEqual([1, 1, 1, 1, 1])
    expect(s.step(0.4)).toBe(1)
    expect(s.step(0.4)).toBe(0.5)
  })
})

describe("multi-data-set batching", () => {
  const pools = [upsampledPool(10, 1), upsampledPool(3, 1)]
  it("max_size_cycle: every step has a batch of every data set, the shorter cycling", () => {
    const plan = planEpoch(pools, 4, "max_size_cycle", new Rng(1))
    expect(plan.length).toBe(3)
    for (const step of plan) {
      expect(step.map((b) => b.dataset)).toEqual([0, 1])
      expect([...step[1].rows].sort()).toEqual([0, 1, 2])
    }
    expect(plan.flatMap((s) => [...s[0].rows]).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })
  it("max_size: an exhausted data set sits out", () => {
    const plan = planEpoch(pools, 4, "max_size", new Rng(1))
    expect(plan.map((s) => s.map((b) => b.dataset))).toEqual([[0, 1], [0], [0]])
  })
  it("upsampling repeats each row factor times, once", () => {
    const pool = upsampledPool(3, 3)
    expect([...pool].sort()).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2])
    const plan = planEpoch([pool], 4, "max_size_cycle", new Rng(2))
    expect(plan.length).toBe(3)
    expect(plan.flatMap((s) => [...s[0].rows]).sort()).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2])
  })
  it("is seeded", () => {
    const a = planEpoch(pools, 4, "max_size_cycle", new Rng(9)).map((s) => s.map((b) => [...b.rows]))
    const b = planEpoch(pools, 4, "max_size_cycle", new Rng(9)).map((s) => s.map((b) => [...b.rows]))
    const c = planEpoch(pools, 4, "max_size_cycle", new Rng(10)).map((s) => s.map((b) => [...b.rows]))
    expect(a).toEqual(b)
    expect(a).not.toEqual(c)
  })
})

describe("dropout masks", () => {
  it("elementwise: each entry 0 with probability p, else 1/(1-p)", () => {
    const m = drawMasks([{ name: "d", width: 100, p: 0.1, groups: 100 }], 50, new Rng(1)).get("d")!
    const zeros = m.filter((v) => v === 0).length
    expect(zeros / m.length).toBeGreaterThan(0.08)
    expect(zeros / m.length).toBeLessThan(0.12)
    expect(m.every((v) => v === 0 || Math.abs(v - 1 / 0.9) < 1e-6)).toBe(true)
    // Not all-or-nothing per row.
    for (let r = 0; r < 50; r++) expect(m.subarray(r * 100, (r + 1) * 100).some((v) => v !== 0)).toBe(true)
  })
  it("attention heads: one draw per (row, head), shared by the head's slice", () => {
    const m = drawMasks([{ name: "h", width: 8, p: 0.5, groups: 2 }], 200, new Rng(2)).get("h")!
    let dropped = 0
    for (let g = 0; g < 400; g++) {
      const slice = m.subarray(g * 4, (g + 1) * 4)
      expect(new Set(slice).size).toBe(1)
      if (slice[0] === 0) dropped++
    }
    expect(dropped / 400).toBeGreaterThan(0.4)
    expect(dropped / 400).toBeLessThan(0.6)
  })
})

describe("dropout sites of the nets", () => {
  it("elementwise dropout draws per element, attention dropout per head", () => {
    expect(dropout("d", 6, 0.5).masks).toEqual([{ name: "d", width: 6, p: 0.5, groups: 6 }])
    expect(selfAttentionLength1("a", 8, 2, 0.1).masks).toEqual([{ name: "a.attn_drop", width: 8, p: 0.1, groups: 2 }])
  })
})

describe("Rng", () => {
  it("fillU32 continues the same sequence as u32()", () => {
    const a = new Rng(5, "s")
    const b = new Rng(5, "s")
    const bulk = new Uint32Array(7)
    a.u32()
    a.fillU32(bulk)
    b.u32()
    expect([...bulk]).toEqual(Array.from({ length: 7 }, () => b.u32()))
    expect(a.u32()).toBe(b.u32())
  })
  it("fillMask takes the same decisions as fillU32 draws compared with the threshold, for any p and block", () => {
    for (const [p, block] of [[0, 1], [0.1, 1], [0.5, 4], [0.37, 3], [0.999999999, 1], [1, 2]] as const) {
      const a = new Rng(9, "m")
      const b = new Rng(9, "m")
      const threshold = p * 4294967296
      const mask = new Float32Array(60 * block)
      a.fillMask(mask, block, threshold, 2)
      const draws = new Uint32Array(60)
      b.fillU32(draws)
      const expected = Array.from(draws).flatMap((u) => Array<number>(block).fill(u < threshold ? 0 : 2))
      expect([...mask]).toEqual(expected)
      expect(a.u32()).toBe(b.u32())
    }
  })
})
