/**
 * `cluster`: groups the labels of the training data sets (the union of their label embeddings) so that labels with
 * the same meaning across data sets share a cluster id. Methods: MeanShift as scikit-learn (the reference's choice,
 * bandwidth from estimate_bandwidth's quantile), seeded k-means, cosine agglomerative clustering.
 *
 * With few labels a small quantile makes estimate_bandwidth use each label's distance to itself: the bandwidth is
 * ~0 (rounding noise) and nearly every label is its own cluster. The stage says so (warning and `notes`), and
 * `min_neighbours: 2` is the better choice offered: the bandwidth then comes from the nearest other label at least.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { agglomerative } from "../cluster/agglomerative.ts"
import { kMeans } from "../cluster/kmeans.ts"
import { estimateBandwidth, meanShift } from "../cluster/meanshift.ts"
import { pca2, projectionSvg } from "../cluster/projection.ts"
import { pointsOf } from "../cluster/sklearn-distance.ts"
import { attempt, defineStage, Input, StageError, stageError } from "../runtime/stage.ts"
import { LabelEmbeddingsCodec, readLabelEmbeddings } from "../artifacts/label-embeddings.ts"
import { PROJECTION_FILE, type Clusters, ClustersCodec } from "../artifacts/clusters.ts"

const Quantile = Schema.Number.pipe(Schema.between(0, 1))

export const ClusterParams = Schema.Struct({
  method: Schema.optionalWith(Schema.Literal("meanshift", "kmeans", "agglomerative"), { default: () => "meanshift" as const }),
  // meanshift
  quantile: Schema.optionalWith(Quantile, { default: () => 0.3 }),
  /** Use this bandwidth instead of estimating one. */
  bandwidth: Schema.optional(Schema.Number.pipe(Schema.positive())),
  /** estimate_bandwidth's k is max(min_neighbours, floor(n x quantile)); sklearn's is 1 (the point itself). */
  min_neighbours: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 1 }),
  cluster_all: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  bin_seeding: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  min_bin_freq: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 1 }),
  max_iter: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 300 }),
  // kmeans, agglomerative
  k: Schema.optional(Schema.Int.pipe(Schema.positive())),
  seed: Schema.optionalWith(Schema.Int, { default: () => 0 }),
  // agglomerative
  /** Stop merging when the closest clusters are farther apart than this cosine distance (instead of k). */
  threshold: Schema.optional(Schema.Number.pipe(Schema.nonNegative())),
  linkage: Schema.optionalWith(Schema.Literal("average", "complete", "single"), { default: () => "average" as const }),
})
export type ClusterParams = typeof ClusterParams.Type

/** Below this a bandwidth is rounding noise, not a distance between labels. */
const NOISE_BANDWIDTH = 1e-6

const fail = (message: string) => new StageError({ message })

export const ClusterStage = defineStage({
  name: "cluster",
  version: 1,
  description: "Clusters the union of the training data sets' label embeddings (MeanShift as scikit-learn, k-means, cosine agglomerative)",
  params: ClusterParams,
  inputs: { embeddings: Input.nodes(LabelEmbeddingsCodec) },
  output: ClustersCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const p = ctx.params
      if (ctx.inputs.embeddings.length === 0) return yield* fail("no label embeddings to cluster: give `embeddings` one or more label-embed nodes")
      const sets = yield* Effect.forEach(ctx.inputs.embeddings, readLabelEmbeddings)
      const dim = sets[0].dim
      const bad = sets.find((s) => s.dim !== dim)
      if (bad !== undefined) return yield* fail(`label embeddings differ in dimension: ${sets[0].dataset} has ${dim}, ${bad.dataset} has ${bad.dim}; embed all with the same provider`)
      const names = sets.map((s) => s.dataset)
      const dup = names.find((n, i) => names.indexOf(n) !== i)
      if (dup !== undefined) return yield* fail(`data set ${JSON.stringify(dup)} is given twice`)
      const items = sets.flatMap((s) => s.labels.map((label, i) => ({ dataset: s.dataset, label, row: s.matrix.subarray(i * dim, (i + 1) * dim) })))
      if (items.length === 0) return yield* fail("the label embeddings hold no labels")
      const rows = items.map((it) => it.row)
      const notes: Array<string> = []
      const warned = new Set<string>()

      let labels: Int32Array
      let centres: ReadonlyArray<ArrayLike<number>>
      let bandwidth: number | null = null
      let quantile: number | null = null
      let neighbours: number | null = null
      if (p.method === "meanshift") {
        const points = pointsOf(rows)
        if (p.bandwidth !== undefined) bandwidth = p.bandwidth
        else {
          quantile = p.quantile
          const sklearnK = Math.max(1, Math.trunc(points.n * p.quantile))
          const est = yield* Effect.mapError(estimateBandwidth(points, p.quantile, p.min_neighbours), stageError("estimate_bandwidth"))
          neighbours = est.k
          bandwidth = est.bandwidth
          if (est.k !== sklearnK) notes.push(`estimate_bandwidth used the ${est.k}-th neighbour (min_neighbours ${p.min_neighbours}); sklearn would use the ${sklearnK}-th`)
        }
        const bw = bandwidth
        const r = yield* Effect.mapError(
          meanShift(points, { bandwidth: bw, binSeeding: p.bin_seeding, minBinFreq: p.min_bin_freq, clusterAll: p.cluster_all, maxIter: p.max_iter }),
          stageError("MeanShift"),
        )
        labels = r.labels
        centres = r.centres
        if (bw < NOISE_BANDWIDTH) {
          const note =
            `bandwidth ${bw.toExponential(3)} is ~0: with ${points.n} labels and quantile ${p.quantile}, estimate_bandwidth's k = ${neighbours} ` +
            `is the label itself, so the bandwidth is rounding noise: ${r.centres.length} clusters for ${points.n} labels, every label alone` +
            (r.emptySeeds > 0 ? ` except ${r.emptySeeds} whose seed rounding left empty and that joined their nearest centre` : "") +
            `; set min_neighbours: 2 (or quantile >= ${(Math.ceil((2 / points.n) * 1000) / 1000).toFixed(3)}) for a bandwidth from the nearest other label`
          notes.push(note)
          warned.add(note)
          yield* ctx.progress.warn(note)
        }
      } else if (p.method === "kmeans") {
        if (p.k === undefined) return yield* fail("method kmeans needs k")
        const k = p.k
        const r = yield* Effect.mapError(kMeans(rows, k, p.seed), stageError("k-means"))
        labels = r.labels
        centres = r.centres
        if (!r.converged) notes.push(`k-means did not converge in ${r.iterations} iterations`)
      } else {
        if ((p.k === undefined) === (p.threshold === undefined)) return yield* fail("method agglomerative needs exactly one of k and threshold")
        const stop = p.k !== undefined ? { k: p.k } : { threshold: p.threshold! }
        labels = yield* Effect.mapError(agglomerative(rows, stop, p.linkage), stageError("agglomerative clustering"))
        const count = Math.max(...labels) + 1
        centres = Array.from({ length: count }, (_, c) => {
          const members = rows.filter((_, i) => labels[i] === c)
          return Float64Array.from({ length: dim }, (_, k) => members.reduce((s, m) => s + m[k], 0) / members.length)
        })
      }
      for (const n of notes) if (!warned.has(n)) yield* ctx.progress.note(n)

      const count = centres.length
      const sizes = new Array<number>(count).fill(0)
      for (const l of labels) if (l >= 0) sizes[l]++
      const multi = sizes.filter((s) => s > 1).length
      yield* ctx.progress.note(
        `${p.method}: ${items.length} labels of ${names.join(" + ")} -> ${count} clusters (${multi} with more than one label)` +
          (bandwidth !== null ? `, bandwidth ${bandwidth.toPrecision(6)}` : ""),
      )

      const svg = projectionSvg(
        items.map((it, i) => ({ label: it.label, group: it.dataset, cluster: labels[i] })),
        pca2(rows),
        `${p.method}: ${names.join(" + ")}, ${count} clusters` + (bandwidth !== null ? `, bandwidth ${bandwidth.toPrecision(4)}` : ""),
      )
      yield* attempt(`writing ${PROJECTION_FILE}`, () => fs.writeFileSync(path.join(ctx.outDir, PROJECTION_FILE), svg))
      const value: Clusters = {
        method: p.method,
        datasets: names,
        bandwidth,
        quantile,
        neighbours,
        clusters: count,
        centres: centres.map((c) => Array.from(c)),
        assignments: items.map((it, i) => ({ dataset: it.dataset, label: it.label, cluster: labels[i] })),
        notes,
        file: PROJECTION_FILE,
      }
      return value
    }),
})
