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
 * standardised inputs by default. Version 4: training reads a once-compiled copy of only the chosen layers of only the
 * training rows, block-shuffled when it is kept on disk.
 */
import { Effect } from "effect"
import { TrainSettings } from "../model/settings.ts"
import { type FeatureSettings, ModelCodec } from "../artifacts/model.ts"
import { trainModel } from "../model/train-and-eval.ts"
import { defineStage, Input, StageError } from "../runtime/stage.ts"
import { ClustersCodec } from "../artifacts/clusters.ts"
import { DatasetCodec } from "../artifacts/dataset.ts"
import { type LabelEmbeddings, LabelEmbeddingsCodec, type LabelEmbedSettings, readLabelEmbeddings, settingsKey } from "../artifacts/label-embeddings.ts"
import type { Artifact } from "../runtime/stage.ts"
import { FeaturesCodec } from "../artifacts/features.ts"
import { SegmentsCodec } from "../artifacts/segments.ts"

export const TrainStage = defineStage({
  name: "train",
  // 3: the model records how its training labels were embedded (label_embedding).
  // 4: training reads a once-compiled copy of the chosen layers of the training rows, block-shuffled on disk.
  // 5: AdamW updates float32 weights in float32 (a SIMD kernel), as torch does, where it computed in doubles.
  version: 5,
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
      const labelEmbedding = yield* commonSettings(labels)
      const model = yield* trainModel(inputs, clusters?.value.assignments, ctx.params, { outDir: ctx.outDir, threads: ctx.threads, progress: ctx.progress })
      const f = features[0].value
      const seg = segments[0].value
      const featureSettings: FeatureSettings = {
        extractor: f.extractor,
        pooling: f.pooling,
        rate: seg.rate,
        seconds: seg.seconds,
        hop: seg.hop,
        ...(f.model !== undefined ? { mert: f.model } : {}),
      }
      return { ...model, ...(labelEmbedding === undefined ? {} : { label_embedding: labelEmbedding }), features: featureSettings }
    }),
})

/**
 * The one way all training labels were embedded (augmentation maps merged: synonyms may differ per data set), or
 * undefined when an input predates recorded settings. Labels embedded two different ways would put the training
 * targets in two spaces, so that is an error.
 */
const commonSettings = (labels: ReadonlyArray<Artifact<LabelEmbeddings>>): Effect.Effect<LabelEmbedSettings | undefined, StageError> =>
  Effect.gen(function* () {
    const all = labels.map((l) => l.value.settings)
    if (all.length === 0 || all.some((s) => s === undefined)) return undefined
    const settings = all as ReadonlyArray<LabelEmbedSettings>
    const bare = (s: LabelEmbedSettings) => settingsKey({ ...s, augmentation: undefined })
    const odd = settings.findIndex((s) => bare(s) !== bare(settings[0]))
    if (odd > 0) {
      return yield* Effect.fail(
        new StageError({
          message: `train: the label embeddings ${labels[0].node} and ${labels[odd].node} were made with different settings (${settings[0].provider}${settings[0].model !== undefined ? ` ${settings[0].model}` : ""} vs ${settings[odd].provider}${settings[odd].model !== undefined ? ` ${settings[odd].model}` : ""}); embed every training data set's labels the same way`,
        }),
      )
    }
    const merged: Record<string, ReadonlyArray<string>> = {}
    for (const s of settings) Object.assign(merged, s.augmentation ?? {})
    return { ...settings[0], augmentation: Object.keys(merged).length > 0 ? merged : undefined }
  })
