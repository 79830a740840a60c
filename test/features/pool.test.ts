import { describe, expect, it } from "vitest"
import { extractBatch, packBatch, type SegmentBatch } from "../../src/features/builtin-batch.ts"
import * as fs from "node:fs"
import * as path from "node:path"
import { bundledWorker, WorkerPool } from "../../src/features/pool.ts"
import { projectRoot } from "../../src/util/project-root.ts"
import { lcg } from "./support.ts"

const rand = lcg(5)
const segments = Array.from({ length: 6 }, (_, k) => Float32Array.from({ length: 24000 * (2 + k) }, () => rand() - 0.5))

describe("worker pool", () => {
  it("runs the TypeScript builtin worker (through tsx) and returns the same rows as the main thread", async () => {
    const pool = new WorkerPool<SegmentBatch, Float32Array>("src/features/builtin-worker.ts", 2)
    try {
      const batches = [segments.slice(0, 2), segments.slice(2, 3), segments.slice(3)]
      const results = await Promise.all(batches.map((b) => pool.run(packBatch(24000, b))))
      batches.forEach((b, i) => expect(results[i]).toEqual(extractBatch(packBatch(24000, b))))
    } finally {
      await pool.close()
    }
  })

  it("also runs through the tsx fallback entry, with the same results", async () => {
    const pool = new WorkerPool<SegmentBatch, Float32Array>("src/features/builtin-worker.ts", 1, { bundle: false })
    try {
      expect(await pool.run(packBatch(24000, segments.slice(0, 1)))).toEqual(extractBatch(packBatch(24000, segments.slice(0, 1))))
    } finally {
      await pool.close()
    }
  })

  it("bundles the worker module once, listing its sources for staleness checks", () => {
    const root = projectRoot()
    const out = bundledWorker(root, "src/features/builtin-worker.ts")
    expect(out).toBeDefined()
    const meta = JSON.parse(fs.readFileSync(`${out}.json`, "utf8")) as { inputs: Array<string> }
    expect(meta.inputs).toContain("src/features/builtin.ts")
    expect(meta.inputs.every((f) => fs.existsSync(path.join(root, f)))).toBe(true)
    const built = fs.statSync(out!).mtimeMs
    expect(bundledWorker(root, "src/features/builtin-worker.ts")).toBe(out)
    expect(fs.statSync(out!).mtimeMs).toBe(built)
    expect(bundledWorker(root, "src/features/no-such-module.ts")).toBeUndefined()
  })

  it("fails every task with the worker's error when a worker cannot start", async () => {
    const pool = new WorkerPool<SegmentBatch, Float32Array>("src/features/no-such-worker.ts", 1)
    try {
      await expect(pool.run(packBatch(24000, segments.slice(0, 1)))).rejects.toThrow(/worker thread \(src\/features\/no-such-worker.ts\)/)
      await expect(pool.run(packBatch(24000, segments.slice(0, 1)))).rejects.toThrow(/worker thread/)
    } finally {
      await pool.close()
    }
  })

  it("refuses work after close", async () => {
    const pool = new WorkerPool<SegmentBatch, Float32Array>("src/features/builtin-worker.ts", 1)
    await pool.close()
    await expect(pool.run(packBatch(24000, segments.slice(0, 1)))).rejects.toThrow(/closed/)
  })
})
