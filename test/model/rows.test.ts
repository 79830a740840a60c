import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { writeNpyFloat32 } from "../../src/io/npy.ts"
import { openRows } from "../../src/model/rows.ts"
import { tempDir } from "../support/stage-harness.ts"

describe("feature rows", () => {
  const file = path.join(tempDir(), "f.npy")
  // 5 rows x 3 layers x 2 dims; value = row * 100 + layer * 10 + dim
  const data = Float32Array.from({ length: 30 }, (_, i) => Math.floor(i / 6) * 100 + Math.floor((i % 6) / 2) * 10 + (i % 2))
  writeNpyFloat32(file, [5, 3, 2], data)

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

  it("names the file and the valid range for a wrong layer", () => {
    expect(() => openRows(file, [3])).toThrow(/f\.npy: layer 3 requested, the features have layers 0\.\.2/)
  })
})
