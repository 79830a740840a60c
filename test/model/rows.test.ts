import { Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { writeNpyFloat32 } from "../../src/io/npy.ts"
import { blockShuffle, planEpoch, upsampledPool } from "../../src/model/batching.ts"
import { Rng } from "../../src/model/rng.ts"
import { compileRows, openRows } from "../../src/model/rows.ts"
import { tempDir } from "../support/stage-harness.ts"

describe("feature rows", () => {
  const file = path.join(tempDir(), "f.npy")
  // 5 rows x 3 layers x 2 dims; value = row * 100 + layer * 10 + dim
  const data = Float32Array.from({ length: 30 }, (_, i) => Math.floor(i / 6) * 100 + Math.floor((i % 6) / 2) * 10 + (i % 2))
  Either.getOrThrow(writeNpyFloat32(file, [5, 3, 2], data))

  for (const [mode, limit] of [["in memory", undefined], ["from disk", 0]] as const) {
    it(`${mode}: concatenates the chosen layers of the requested rows`, () => {
      const rows = openRows(file, [2, 0], limit)
      expect(rows.dim).toBe(4)
      const out = new Float32Array(3 * 4)
      rows.gather([4, 1], out, 1)
      expect([...out]).toEqual([0, 0, 0, 0, 420, 421, 400, 401, 120, 121, 100, 101])
      rows.close()
    })
  }

  it("refuses a NaN or an infinity in a chosen layer, naming file, row, layer and value; other layers may hold anything", () => {
    const bad = path.join(tempDir(), "bad.npy")
    const values = Float32Array.from(data)
    values[3 * 6 + 1 * 2 + 1] = NaN // row 3, layer 1, value 1
    values[4 * 6 + 2 * 2 + 0] = -Infinity // row 4, layer 2, value 0
    Either.getOrThrow(writeNpyFloat32(bad, [5, 3, 2], values))
    for (const limit of [undefined, 0]) {
      const out = new Float32Array(2 * 2)
      const only0 = openRows(bad, [0], limit)
      only0.gather([3, 4], out)
      only0.close()
      expect(() => {
        const rows = openRows(bad, [1], limit)
        rows.gather([2, 3], out)
      }).toThrow(/bad\.npy: row 3, layer 1, value 1 is NaN; features must be finite numbers/)
      expect(() => openRows(bad, [2], limit).gather([4], out)).toThrow(/bad\.npy: row 4, layer 2, value 0 is -Infinity/)
    }
  })

  it("names the file and the valid range for a wrong layer", () => {
    expect(() => openRows(file, [3])).toThrow(/f\.npy: layer 3 requested, the features have layers 0\.\.2/)
  })
})

describe("compiled training rows", () => {
  const dir = tempDir()
  const file = path.join(dir, "big.npy")
  // 40 rows x 3 layers x 2 dims; value = row * 100 + layer * 10 + dim
  const data = Float32Array.from({ length: 240 }, (_, i) => Math.floor(i / 6) * 100 + Math.floor((i % 6) / 2) * 10 + (i % 2))
  Either.getOrThrow(writeNpyFloat32(file, [40, 3, 2], data))
  const wanted = [1, 2, 3, 7, 8, 20, 39]
  const expected = (indices: ReadonlyArray<number>) => indices.flatMap((i) => [wanted[i] * 100 + 20, wanted[i] * 100 + 21, wanted[i] * 100, wanted[i] * 100 + 1])

  it("from disk: runs of consecutive rows are read together and land in request order", () => {
    const rows = openRows(file, [2, 0], 0)
    const out = new Float32Array(5 * 4)
    rows.gather([8, 9, 10, 3, 39], out)
    expect([...out]).toEqual([8, 9, 10, 3, 39].flatMap((r) => [r * 100 + 20, r * 100 + 21, r * 100, r * 100 + 1]))
    rows.close()
  })

  for (const [mode, limit] of [["in memory", undefined], ["on disk, in blocks", 0]] as const) {
    it(`${mode}: row j is the j-th listed file row, chosen layers only; the scratch file goes on close`, async () => {
      const scratch = path.join(dir, `scratch-${mode.length}.npy`)
      const src = compileRows(file, [2, 0], wanted, { scratch, inMemoryLimit: limit, blockRows: 3, cacheBlocks: 2 })
      expect(src.dim).toBe(4)
      expect(src.blockRows).toBe(limit === 0 ? 3 : undefined)
      expect(fs.existsSync(scratch)).toBe(limit === 0)
      const order = [6, 0, 5, 1, 4, 2, 3]
      await src.ready?.(order)
      src.prefetch?.([0, 1])
      const out = new Float32Array(order.length * 4)
      src.gather(order, out)
      expect([...out]).toEqual(expected(order))
      await src.ready?.([0, 1])
      const again = new Float32Array(8)
      src.gather([1, 0], again)
      expect([...again]).toEqual(expected([1, 0]))
      src.close()
      expect(fs.existsSync(scratch)).toBe(false)
    })
  }

  it("refuses rows that are not ascending and rows outside the matrix", () => {
    expect(() => compileRows(file, [0], [3, 2], { scratch: path.join(dir, "x.npy") })).toThrow(/strictly ascending \(row 2 after 3\)/)
    const src = compileRows(file, [0], wanted, { scratch: path.join(dir, "y.npy"), inMemoryLimit: 0, blockRows: 4 })
    expect(() => src.gather([7], new Float32Array(2))).toThrow(/row 7 outside 0\.\.6/)
    src.close()
  })
})

describe("block shuffle", () => {
  const pool = upsampledPool(1000, 2)
  const b = { blockRows: 64, window: 4 }

  it("keeps every row as often as the pool has it, and is seeded", () => {
    const order = blockShuffle(pool, b, new Rng(3, "s"))
    expect([...order].sort((x, y) => x - y)).toEqual([...pool].sort((x, y) => x - y))
    expect([...blockShuffle(pool, b, new Rng(3, "s"))]).toEqual([...order])
    expect([...blockShuffle(pool, b, new Rng(4, "s"))]).not.toEqual([...order])
  })

  it("a batch touches at most 2 x window blocks; planEpoch uses it per data set", () => {
    const plan = planEpoch([pool, upsampledPool(100, 1)], 128, "max_size_cycle", new Rng(1, "p"), [b, undefined])
    for (const step of plan) {
      const blocks = new Set(Array.from(step[0].rows, (r) => Math.floor(r / 64)))
      expect(blocks.size).toBeLessThanOrEqual(8)
    }
    // Not simply the pool in order: blocks are permuted and rows mixed within windows.
    const first = Array.from(plan[0][0].rows)
    expect(first).not.toEqual(Array.from({ length: 128 }, (_, i) => i))
    expect(new Set(first.map((r) => Math.floor(r / 64))).size).toBeGreaterThan(1)
  })
})
