import { Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { writeNpyFloat32 } from "../../src/io/npy.ts"
import { ClusterStage } from "../../src/stages/cluster.ts"
import { type Clusters, clusterMapOf } from "../../src/artifacts/clusters.ts"
import { type LabelEmbeddings, LabelEmbeddingsCodec } from "../../src/artifacts/label-embeddings.ts"
import { artifactOf, runStagePromise, tempDir } from "../support/stage-harness.ts"

const embeddings = (dataset: string, rows: Record<string, ReadonlyArray<number>>) => {
  const dir = tempDir()
  const labels = Object.keys(rows)
  const dim = rows[labels[0]].length
  Either.getOrThrow(writeNpyFloat32(path.join(dir, "embeddings.npy"), [labels.length, dim], Float32Array.from(Object.values(rows).flat())))
  const value: LabelEmbeddings = {
    dataset,
    provider: "precomputed",
    labels,
    texts: labels.map((l) => [l]),
    dim,
    normalised: false,
    file: "embeddings.npy",
    oov: [],
  }
  return artifactOf(LabelEmbeddingsCodec, value, dir, `labels.${dataset}`)
}

// Two data sets whose labels pair up across them: (happy, cheerful), (sad, gloomy), (calm, relaxed).
const a = embeddings("A", { happy: [1, 0, 0], sad: [0, 1, 0], calm: [0, 0, 1] })
const b = embeddings("B", { cheerful: [0.95, 0.1, 0], gloomy: [0.05, 0.9, 0.1], relaxed: [0, 0.1, 0.98] })

const run = async (params: Record<string, unknown>, inputs = [a, b]) => {
  const r = await runStagePromise(ClusterStage, { params, inputs: { embeddings: inputs } })
  return { ...r, c: r.value as Clusters }
}

const pairsOf = (c: Clusters) => {
  const A = clusterMapOf(c, "A")
  const B = clusterMapOf(c, "B")
  return [A.get("happy") === B.get("cheerful"), A.get("sad") === B.get("gloomy"), A.get("calm") === B.get("relaxed"), new Set([...A.values()]).size]
}

describe("cluster stage", () => {
  it("meanshift pairs the labels across data sets, records bandwidth, centres and a projection", async () => {
    const { c, outDir } = await run({ method: "meanshift", bandwidth: 0.5 })
    expect(pairsOf(c)).toEqual([true, true, true, 3])
    expect(c.clusters).toBe(3)
    expect(c.bandwidth).toBe(0.5)
    expect(c.centres).toHaveLength(3)
    expect(c.assignments.map((x) => `${x.dataset}:${x.label}`)).toEqual(["A:happy", "A:sad", "A:calm", "B:cheerful", "B:gloomy", "B:relaxed"])
    const svg = fs.readFileSync(path.join(outDir, c.file), "utf8")
    for (const l of ["happy", "gloomy", "relaxed"]) expect(svg).toContain(l)
  })
  it("warns when the estimated bandwidth is ~0 and min_neighbours: 2 fixes it", async () => {
    const tiny = await run({ method: "meanshift", quantile: 0.1 })
    expect(tiny.c.neighbours).toBe(1)
    expect(tiny.c.bandwidth).toBeLessThan(1e-6)
    expect(tiny.c.clusters).toBe(6)
    expect(tiny.warnings.join("\n")).toMatch(/~0.*min_neighbours: 2/s)
    const fixed = await run({ method: "meanshift", quantile: 0.1, min_neighbours: 2 })
    expect(fixed.c.neighbours).toBe(2)
    expect(fixed.warnings).toEqual([])
    // the bandwidth is now the mean distance to the nearest other label (~0.12): the two closest pairs merge
    expect(fixed.c.bandwidth).toBeGreaterThan(0.1)
    expect(fixed.c.clusters).toBeLessThan(6)
    expect(fixed.c.notes.join(" ")).toMatch(/sklearn would use the 1-th/)
  })
  it("kmeans and agglomerative find the same pairs", async () => {
    expect(pairsOf((await run({ method: "kmeans", k: 3, seed: 3 })).c)).toEqual([true, true, true, 3])
    expect(pairsOf((await run({ method: "agglomerative", k: 3 })).c)).toEqual([true, true, true, 3])
    const t = await run({ method: "agglomerative", threshold: 0.2 })
    expect(pairsOf(t.c)).toEqual([true, true, true, 3])
    expect(t.c.bandwidth).toBeNull()
  })
  it("says what is missing or inconsistent", async () => {
    await expect(run({ method: "kmeans" })).rejects.toMatchObject({ message: "method kmeans needs k" })
    await expect(run({ method: "agglomerative" })).rejects.toMatchObject({ message: expect.stringMatching(/exactly one of k and threshold/) })
    await expect(run({}, [])).rejects.toMatchObject({ message: expect.stringMatching(/no label embeddings/) })
    const wide = embeddings("C", { x: [1, 0, 0, 0] })
    await expect(run({}, [a, wide])).rejects.toMatchObject({ message: expect.stringMatching(/A has 3, C has 4/) })
    await expect(run({}, [a, a])).rejects.toMatchObject({ message: expect.stringMatching(/"A" is given twice/) })
  })
})
