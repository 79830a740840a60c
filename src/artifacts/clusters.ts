/**
 * The `clusters` artifact: which cluster each label of the clustered data sets belongs to, the centres, and how the
 * clustering was chosen (with a 2-d projection plot beside it).
 */
import { Schema } from "effect"
import { codec } from "../runtime/stage.ts"

export const PROJECTION_FILE = "projection.svg"

const AssignmentSchema = Schema.Struct({ dataset: Schema.String, label: Schema.String, cluster: Schema.Int })

export const ClustersSchema = Schema.Struct({
  method: Schema.Literal("meanshift", "kmeans", "agglomerative"),
  /** The data sets clustered, in input order. */
  datasets: Schema.Array(Schema.String),
  /** MeanShift only: the bandwidth used, and how it was chosen. */
  bandwidth: Schema.NullOr(Schema.Number),
  quantile: Schema.NullOr(Schema.Number),
  /** estimate_bandwidth's k: the k-th nearest neighbour (the point itself is the first). */
  neighbours: Schema.NullOr(Schema.Int),
  /** Number of clusters. */
  clusters: Schema.Int,
  /** Cluster centres (cluster id = index); for agglomerative, the mean of the members. */
  centres: Schema.Array(Schema.Array(Schema.Number)),
  assignments: Schema.Array(AssignmentSchema),
  /** Things the user should know about this clustering (e.g. a bandwidth of ~0). */
  notes: Schema.Array(Schema.String),
  file: Schema.Literal(PROJECTION_FILE),
})
export type Clusters = typeof ClustersSchema.Type

export const ClustersCodec = codec("clusters", ClustersSchema, {
  summarize: (c) =>
    `${c.method} over ${c.datasets.join(" + ")}: ${c.assignments.length} labels -> ${c.clusters} clusters` +
    (c.bandwidth !== null ? ` (bandwidth ${c.bandwidth.toPrecision(4)})` : ""),
})

/** label -> cluster id for one data set of a clusters artifact. */
export const clusterMapOf = (c: Clusters, dataset: string): ReadonlyMap<string, number> =>
  new Map(c.assignments.filter((a) => a.dataset === dataset).map((a) => [a.label, a.cluster]))

