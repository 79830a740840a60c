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
import { Effect, Schema } from "effect"
import { ModelCodec } from "../model/artifact.ts"
import { trainModel } from "../model/run.ts"
import { defineStage, Input, StageError } from "../runtime/stage.ts"
import { ClustersCodec } from "./cluster.ts"
import { DatasetCodec } from "./dataset.ts"
import { LabelEmbeddingsCodec, readLabelEmbeddings } from "./label-embed.ts"
import { FeaturesCodec } from "./mert.ts"
import { SegmentsCodec } from "./segment.ts"

const PositiveInt = Schema.Int.pipe(Schema.positive())
const Positive = Schema.Number.pipe(Schema.positive())
const NonNegative = Schema.Number.pipe(Schema.nonNegative())

export const TrainParams = Schema.Struct({
  net: Schema.optionalWith(Schema.Literal("attention", "linear"), { default: () => "attention" as const }),
  /** Feature layers concatenated into the input; default: all layers of the built-in extractor, 3/6/9/12 of MERT. */
  layers: Schema.optional(Schema.Array(Schema.Int.pipe(Schema.nonNegative()))),
  phase: Schema.optionalWith(Schema.Literal("baseline1", "baseline2", "alignment"), { default: () => "alignment" as const }),
  regulariser: Schema.optionalWith(Schema.Literal("v1", "v2", "v3"), { default: () => "v2" as const }),
  alpha: Schema.optionalWith(NonNegative, { default: () => 2.5 }),
  epochs: Schema.optionalWith(PositiveInt, { default: () => 100 }),
  /** Early stopping: epochs without a better validation F1 before training stops. */
  patience: Schema.optionalWith(PositiveInt, { default: () => 20 }),
  batch: Schema.optionalWith(PositiveInt, { default: () => 256 }),
  lr: Schema.optionalWith(NonNegative, { default: () => 1e-4 }),
  weight_decay: Schema.optionalWith(NonNegative, { default: () => 0.01 }),
  seed: Schema.optionalWith(Schema.Int, { default: () => 0 }),
  batching: Schema.optionalWith(Schema.Literal("max_size_cycle", "max_size"), { default: () => "max_size_cycle" as const }),
  /** Per data set name, how many times its training rows are repeated per epoch (reference: emotify 3). */
  upsample: Schema.optionalWith(Schema.Record({ key: Schema.String, value: PositiveInt }), { default: () => ({}) }),
  /** Labels averaged into the negative target. */
  negatives: Schema.optionalWith(PositiveInt, { default: () => 5 }),
  /** top-k for the validation F1; default: the reference's k of the first data set. */
  val_k: Schema.optional(PositiveInt),
  lr_factor: Schema.optionalWith(Positive, { default: () => 0.2 }),
  lr_patience: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 10 }),
  lr_cooldown: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 5 }),
  min_lr: Schema.optionalWith(NonNegative, { default: () => 1.6e-7 }),
  /** Size overrides (default: the reference's sizes for the chosen net). */
  hidden: Schema.optional(PositiveInt),
  ff: Schema.optional(PositiveInt),
  heads: Schema.optional(PositiveInt),
  num_layers: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  dropout: Schema.optional(Schema.Number.pipe(Schema.between(0, 0.99))),
  /** z-score every input column with the training rows' mean and standard deviation (std floored at 1e-6). */
  standardise: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /**
   * Row order within an epoch: random (a full permutation), block (runs of rows that share a 256-row disk block are
   * permuted, then the rows of every `shuffle_window` runs among themselves), or auto: block when the training rows
   * are kept on disk (over 256 MB of chosen layers), random when they fit in memory.
   */
  shuffle: Schema.optionalWith(Schema.Literal("auto", "random", "block"), { default: () => "auto" as const }),
  /** Block shuffle: rows per block when the rows are in memory (on disk the block is the read unit, 256 rows). */
  shuffle_block: Schema.optional(PositiveInt),
  /** Block shuffle: how many blocks' rows are mixed together (default 16: 4096 rows). */
  shuffle_window: Schema.optional(PositiveInt),
})

export const TrainStage = defineStage({
  name: "train",
  version: 3,
  description: "Trains the attention or linear embedding net (standardised inputs, triplet loss, alignment regulariser, AdamW, plateau schedule) on one or more data sets",
  params: TrainParams,
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
