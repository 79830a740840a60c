import { Either } from "effect"
/** The toys of fixture.ts as label-embeddings and clusters artifacts, for the stage tests. */
import * as path from "node:path"
import { writeNpyFloat32 } from "../../src/io/npy.ts"
import type { Artifact } from "../../src/runtime/stage.ts"
import { ClustersCodec, PROJECTION_FILE, type Clusters } from "../../src/artifacts/clusters.ts"
import { EMBEDDINGS_FILE, LabelEmbeddingsCodec, type LabelEmbeddings } from "../../src/artifacts/label-embeddings.ts"
import { artifactOf, tempDir } from "../support/stage-harness.ts"
import { EMB, type ToyDataset } from "./fixture.ts"

export const labelArtifact = (t: ToyDataset): Artifact<LabelEmbeddings> => {
  const dir = tempDir()
  Either.getOrThrow(writeNpyFloat32(path.join(dir, EMBEDDINGS_FILE), [t.labels.labels.length, EMB], t.labels.matrix))
  return artifactOf(
    LabelEmbeddingsCodec,
    {
      dataset: t.dataset.value.name,
      provider: "test",
      labels: [...t.labels.labels],
      texts: t.labels.labels.map((l) => [l]),
      dim: EMB,
      normalised: false,
      file: EMBEDDINGS_FILE,
      oov: [],
    },
    dir,
  )
}

/** Label i of every toy data set in cluster i mod 3. */
export const clustersArtifact = (toys: ReadonlyArray<ToyDataset>): Artifact<Clusters> =>
  artifactOf(ClustersCodec, {
    method: "kmeans",
    datasets: toys.map((t) => t.dataset.value.name),
    bandwidth: null,
    quantile: null,
    neighbours: null,
    clusters: 3,
    centres: [],
    assignments: toys.flatMap((t) => t.labels.labels.map((label, i) => ({ dataset: t.dataset.value.name, label, cluster: i % 3 }))),
    notes: [],
    file: PROJECTION_FILE,
  })
