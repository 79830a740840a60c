import { Either } from "effect"
/**
 * MeanShift parity with the reference: the reference's own label embeddings (label_expanded_*.npz, read by the
 * precomputed provider) clustered with the reference quantiles give exactly the reference label maps, cluster ids
 * included (ids follow sklearn's centre order).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { expect, it } from "vitest"
import { ClusterStage } from "../../src/stages/cluster.ts"
import { type Clusters } from "../../src/artifacts/clusters.ts"
import { LabelEmbedStage } from "../../src/stages/label-embed.ts"
import { type LabelEmbeddings } from "../../src/artifacts/label-embeddings.ts"
import { describeWithShared, sharedPath } from "../support/shared-data.ts"
import { artifactFromResult, runStagePromise } from "../support/stage-harness.ts"

const REF = sharedPath("reference")

const embed = async (name: string) => {
  const file = path.join(REF, "resources", `label_expanded_${name}.npz`)
  const r = await runStagePromise(LabelEmbedStage, {
    params: { provider: "precomputed", name },
    inputs: { file: { path: file, hash: "test" } },
  })
  return artifactFromResult<LabelEmbeddings>(r, `labels.${name}`)
}

/** Partition as a set of sorted label groups (the reference map keys labels by name; shared names collapse there). */
const partitionOf = (map: Readonly<Record<string, number>>): ReadonlyArray<string> => {
  const groups = new Map<number, Array<string>>()
  for (const [label, c] of Object.entries(map)) groups.set(c, [...(groups.get(c) ?? []), label])
  return [...groups.values()].map((g) => g.sort().join(" | ")).sort()
}

const PAIRS = [
  { id: "mtg_CAL500", a: "jamendo", b: "CAL500", q: 0.03, bandwidth: 0.7735850929719815, tiny: false },
  { id: "mtg_emotify", a: "jamendo", b: "emotify", q: 0.025, bandwidth: 2.7013418905245686e-8, tiny: true },
  { id: "CAL500_emotify", a: "CAL500", b: "emotify", q: 0.04, bandwidth: 2.579656938813687e-8, tiny: true },
] as const

describeWithShared("reference cluster maps", ["reference/resources", "reference/clusters"], () => {
  for (const pair of PAIRS) {
    it(`${pair.id} (quantile ${pair.q}) reproduces label_map.json`, async () => {
      const inputs = [await embed(pair.a), await embed(pair.b)]
      const r = await runStagePromise(ClusterStage, { params: { method: "meanshift", quantile: pair.q }, inputs: { embeddings: inputs } })
      const c = r.value as Clusters
      const ref = JSON.parse(fs.readFileSync(path.join(REF, "clusters", pair.id, "label_map.json"), "utf8")) as Record<string, number>
      // The reference map is a dict: a label name in both data sets ("happy", "sad") keeps the second's cluster.
      const ours: Record<string, number> = {}
      for (const a of c.assignments) ours[a.label] = a.cluster
      expect(partitionOf(ours)).toEqual(partitionOf(ref))
      expect(ours).toEqual(ref)
      expect(c.clusters).toBe(new Set(Object.values(ref)).size)
      // sklearn 1.2.1's estimate_bandwidth, bit for bit
      expect(c.bandwidth).toBe(pair.bandwidth)
      if (pair.tiny) {
        expect(c.notes.join(" ")).toMatch(/~0/)
        expect(r.warnings.join(" ")).toMatch(/min_neighbours: 2/)
      } else {
        expect(c.notes).toEqual([])
      }
      // Centres match the reference's cluster_centers.npz order and values (float32 means).
      const { readNpz } = await import("../../src/io/npz.ts")
      const centres = Either.getOrThrow(readNpz(path.join(REF, "clusters", pair.id, "cluster_centers.npz"))).text_features
      expect(centres.shape).toEqual([c.clusters, 384])
      const data = centres.data as Float64Array
      let maxDiff = 0
      c.centres.forEach((row, i) => row.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - data[i * 384 + k])))))
      expect(maxDiff).toBeLessThan(1e-6)
      expect(fs.readFileSync(path.join(r.outDir, "projection.svg"), "utf8")).toMatch(/^<svg/)
    })
  }
})
