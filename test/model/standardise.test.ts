import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { writeNpyFloat32 } from "../../src/io/npy.ts"
import { Rng } from "../../src/model/rng.ts"
import { memoryRows, openRows } from "../../src/model/rows.ts"
import { columnStatistics, STD_FLOOR, standardisedRows } from "../../src/model/standardise.ts"
import { tempDir } from "../support/stage-harness.ts"

const dim = 4
/** Column 0 ordinary, column 1 a large offset with a small spread, column 2 constant, column 3 wide. */
const matrix = (rows: number, seed: number): Float32Array => {
  const rng = new Rng(seed, "standardise")
  const x = new Float32Array(rows * dim)
  for (let r = 0; r < rows; r++) {
    x[r * dim] = rng.next() * 2 - 1
    x[r * dim + 1] = 10000 + rng.next() * 0.01
    x[r * dim + 2] = 7.3
    x[r * dim + 3] = (rng.next() - 0.5) * 1e4
  }
  return x
}

/** Two-pass float64 population mean and standard deviation of the listed rows. */
const direct = (parts: ReadonlyArray<{ x: Float32Array; rows: ReadonlyArray<number> }>) => {
  const values = (j: number) => parts.flatMap((p) => p.rows.map((r) => p.x[r * dim + j]))
  return Array.from({ length: dim }, (_, j) => {
    const v = values(j)
    const mean = v.reduce((s, a) => s + a, 0) / v.length
    const std = Math.sqrt(v.reduce((s, a) => s + (a - mean) ** 2, 0) / v.length)
    return { mean, std }
  })
}

describe("input standardisation", () => {
  const a = matrix(23, 1)
  const b = matrix(17, 2)
  const file = path.join(tempDir(), "b.npy")
  Either.getOrThrow(writeNpyFloat32(file, [17, 1, dim], b))
  const aRows = [0, 3, 4, 5, 9, 11, 12, 15, 16, 20, 22]
  const bRows = [16, 1, 2, 8, 5, 13]

  it.effect("equals a direct computation over the listed rows of every source, streamed in chunks", () => Effect.gen(function* () {
    const expected = direct([{ x: a, rows: aRows }, { x: b, rows: bRows }])
    const fromDisk = openRows(file, [0], 0)
    // Chunks of 4 rows: several per source, the last one partial, merged across sources.
    const s = yield* columnStatistics([{ name: "a", source: memoryRows(a, dim), rows: aRows }, { name: "b", source: fromDisk, rows: bRows }], 4)
    fromDisk.close()
    expected.forEach((e, j) => {
      expect(s.mean[j]).toBe(Math.fround(e.mean))
      expect(Math.abs(s.std[j] - Math.max(e.std, STD_FLOOR))).toBeLessThanOrEqual(Math.max(e.std, STD_FLOOR) * 1e-6)
    })
    // The small spread on a large offset survives (a sum of squares in float32 would lose it).
    expect(s.std[1]).toBeGreaterThan(0.001)
    expect(s.std[1]).toBeLessThan(0.005)
  }))

  it.effect("maps a constant column to 0, not NaN, and every other column to mean 0 and deviation 1", () => Effect.gen(function* () {
    const rows = Array.from({ length: 23 }, (_, i) => i)
    const s = yield* columnStatistics([{ name: "a", source: memoryRows(a, dim), rows }])
    expect(s.std[2]).toBe(Math.fround(STD_FLOOR))
    const out = new Float32Array(23 * dim)
    ;(yield* standardisedRows(memoryRows(a, dim), s)).gather(rows, out)
    for (let r = 0; r < 23; r++) expect(out[r * dim + 2]).toBe(0)
    expect(out.every(Number.isFinite)).toBe(true)
    // Column 1 (10000 + 0.01 spread) is left out: its float32 mean is only known to the float32 spacing at 10000.
    for (const j of [0, 3]) {
      const col = rows.map((r) => out[r * dim + j])
      const mean = col.reduce((t, v) => t + v, 0) / col.length
      expect(mean).toBeCloseTo(0, 4)
      expect(Math.sqrt(col.reduce((t, v) => t + (v - mean) ** 2, 0) / col.length)).toBeCloseTo(1, 4)
    }
  }))

  it.effect("applies (x - mean) / std to the gathered rows at their offset only", () => Effect.gen(function* () {
    const s = { mean: Float32Array.of(1, 2, 3, 4), std: Float32Array.of(2, 4, 0.5, 1) }
    const x = Float32Array.of(3, 6, 3.5, 4, 1, 2, 3, 5)
    const out = new Float32Array(3 * dim).fill(9)
    ;(yield* standardisedRows(memoryRows(x, dim), s)).gather([1, 0], out, 1)
    expect([...out]).toEqual([9, 9, 9, 9, 0, 0, 0, 1, 1, 1, 1, 0])
  }))

  it.effect("fails with StandardiseError naming the source, row and column of a non-finite feature, no rows, and mismatched widths", () =>
    Effect.gen(function* () {
      const x = matrix(5, 3)
      x[3 * dim + 1] = NaN
      const nan = yield* Effect.flip(columnStatistics([{ name: "mtg", source: memoryRows(x, dim), rows: [0, 3] }]))
      expect(nan._tag).toBe("StandardiseError")
      expect(nan.message).toBe("standardisation: 'mtg' feature row 3, column 1 is NaN; features must be finite")
      expect((yield* Effect.flip(columnStatistics([{ name: "mtg", source: memoryRows(x, dim), rows: [] }]))).message).toBe(
        "standardisation: no rows to compute column statistics from ('mtg' list none)",
      )
      expect((yield* Effect.flip(columnStatistics([]))).message).toBe("standardisation: no rows to compute column statistics from")
      const widths = yield* Effect.flip(columnStatistics([{ name: "a", source: memoryRows(x, dim), rows: [0] }, { name: "b", source: memoryRows(new Float32Array(6), 3), rows: [0] }]))
      expect(widths.message).toBe("standardisation: rows of 'b' have 3 columns, those of 'a' 4")
      const applied = yield* Effect.flip(standardisedRows(memoryRows(x, dim), { mean: new Float32Array(3), std: new Float32Array(3).fill(1) }))
      expect(applied._tag).toBe("StandardiseError")
      expect(applied.message).toBe("standardisation: statistics for 3 columns applied to rows of 4")
    }),
  )
})
