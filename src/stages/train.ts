/**
 * train: the embedding net trained on one or more data sets (lists of features, segments, datasets and label
 * embeddings, in the same order; the first data set's validation macro F1 drives the learning-rate schedule, early
 * stopping and which epoch's weights are kept). Phases: baseline1 (no clusters, no regulariser), baseline2 (cluster-
 * aware negatives from the union of the training label spaces), alignment (baseline2 + the alignment regulariser).
 * See src/model/train.ts for the exact definitions.
 *
 * standardise (default true): every input column (after layer selection and concatenation) is z-scored with the mean
 * and standard deviation of the training rows of all training data sets; the statistics travel in the model
 * (model.safetensors: input_mean, input_std) and eval and the ONNX export apply them. Version 2: models are trained on
 * standardised inputs by default. Version 3: training reads a once-compiled copy of only the chosen layers of only the
 * training rows, block-shuffled when it is kept on disk.
 */
import { Effect } from "effect"
import { TrainSettings } from "../model/settings.ts"
import { ModelCodec } from "../artifacts/model.ts"
import { trainModel } from "../model/train-and-eval.ts"
import { defineStage, Input, StageError } from "../runtime/stage.ts"
import { ClustersCodec } from "../artifacts/clusters.ts"
import { DatasetCodec } from "../artifacts/dataset.ts"
import { LabelEmbeddingsCodec, readLabelEmbeddings } from "../artifacts/label-embeddings.ts"
import { FeaturesCodec } from "../artifacts/features.ts"
import { SegmentsCodec } from "../artifacts/segments.ts"

export const TrainStage = defineStage({
  name: "train",
  version: 3,
  description: "Trains the attention or linear embedding net (standardised inputs, triplet loss, alignment regulariser, AdamW, plateau schedule) on one or more data sets",
  params: TrainSettings,
  inputs: {
    features: Input.nodes(FeaturesCodec),
    segments: Input.nodes(SegmentsCodec),
    datasets: Input.nodes(DatasetCodec),
    labels: Input.nodes(LabelEmbeddingsCodec),
    clusters: Input.optional(Input.node(ClustersCodec)),
  },
  output: ModelCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const { features, segments, datasets, labels, clusters } = ctx.inputs
      const n = datasets.length
      if (features.length !== n || segments.length !== n || labels.length !== n) {
        return yield* Effect.fail(
          new StageError({
            message: `train: features, segments, datasets and labels must list the same data sets in the same order; got ${features.length}, ${segments.length}, ${n} and ${labels.length} nodes`,
          }),
        )
      }
      const inputs = []
      for (let i = 0; i < n; i++) {
        const name = datasets[i].value.name
        const others = [features[i].value.dataset, segments[i].value.dataset]
        if (others.some((o) => o !== name)) {
          return yield* Effect.fail(
            new StageError({ message: `train: entry ${i + 1} mixes data sets: dataset '${name}', features '${features[i].value.dataset}', segments '${segments[i].value.dataset}'` }),
          )
        }
        inputs.push({ features: features[i], segments: segments[i], dataset: datasets[i], labels: yield* readLabelEmbeddings(labels[i]) })
      }
      return yield* trainModel(inputs, clusters?.value.assignments, ctx.params, { outDir: ctx.outDir, threads: ctx.threads, progress: ctx.progress })
    }),
})
