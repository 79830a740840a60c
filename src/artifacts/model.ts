/**
 * The trained model as an artifact: weights in safetensors (`model.safetensors`; linear weights stored (in, out),
 * i.e. transposed with respect to torch.nn.Linear) and everything else in value.json: the net's configuration, which
 * feature layers form its input, the training settings, the per-epoch curves and the chosen epoch.
 * A model trained with standardised inputs also holds `input_mean` and `input_std` (in_dim) in model.safetensors and
 * says so with `standardised: true`; the net then sees (x - input_mean) / input_std of the concatenated layers x.
 * Models written before standardisation existed lack the flag and read as unstandardised.
 */
import { Either, Schema } from "effect"
import { ArtifactReadError, artifactError, fromReadError } from "./errors.ts"
import { codec, type Artifact } from "../runtime/stage.ts"
import { LabelEmbedSettings } from "./label-embeddings.ts"
import { buildNet, NetConfig, type Weights } from "../model/nets.ts"
import { readSafetensors, writeSafetensors, type NamedTensor } from "../model/safetensors.ts"
import type { Standardiser } from "../model/standardise.ts"

export const WEIGHTS_FILE = "model.safetensors"
export const INPUT_MEAN = "input_mean"
export const INPUT_STD = "input_std"

export const EpochRecordSchema = Schema.Struct({
  epoch: Schema.Int,
  steps: Schema.Int,
  train_loss: Schema.Number,
  triplet_loss: Schema.Number,
  regulariser_loss: Schema.Number,
  val_f1: Schema.Number,
  lr: Schema.Number,
})

/** How the training features were made, so predict can make the same ones from new audio. */
export const FeatureSettings = Schema.Struct({
  /** imported: the original's preprocessed features (import-features); predict cannot recompute them from audio. */
  extractor: Schema.Literal("builtin", "onnx", "imported"),
  pooling: Schema.Literal("statistics", "first", "mean"),
  /** Decode rate (Hz) and segment length / hop (s). */
  rate: Schema.Int,
  seconds: Schema.Number,
  hop: Schema.Number,
  /** onnx: the MERT export's file name and content hash. */
  mert: Schema.optional(Schema.Struct({ file: Schema.String, hash: Schema.String })),
})
export type FeatureSettings = typeof FeatureSettings.Type

export const ModelSchema = Schema.Struct({
  config: NetConfig,
  weights: Schema.String,
  /** Feature layers concatenated (in this order) to form the input, and the width of one layer. */
  layers: Schema.Array(Schema.Int),
  feature_dim: Schema.Int,
  /** Whether the input columns are standardised with `input_mean` / `input_std` of the weights file; absent: no. */
  standardised: Schema.optional(Schema.Boolean),
  /** Training data sets, in order (the first one's validation F1 drove the schedule). */
  datasets: Schema.Array(Schema.String),
  phase: Schema.Literal("baseline1", "baseline2", "alignment"),
  regulariser: Schema.Literal("v1", "v2", "v3"),
  alpha: Schema.Number,
  seed: Schema.Int,
  curves: Schema.Array(EpochRecordSchema),
  best_epoch: Schema.Int,
  best_val_f1: Schema.Number,
  stopped_early: Schema.Boolean,
  /**
   * How the training labels were embedded (provider, template, model, ...; augmentation maps of all training data
   * sets merged), so predict embeds other labels into the same space. Absent in models of train v2 and older.
   */
  label_embedding: Schema.optional(LabelEmbedSettings),
  /** How the training features were made (absent in models of train v2 and older). */
  features: Schema.optional(FeatureSettings),
})
export type Model = typeof ModelSchema.Type

export const ModelCodec = codec("model", ModelSchema, {
  summarize: (m) =>
    `${m.config.net} net ${m.config.in_dim}->${m.config.out_dim} (${m.phase}${m.phase === "alignment" ? ` ${m.regulariser}, alpha ${m.alpha}` : ""}) on ${m.datasets.join("+")}: ` +
    `best validation F1 ${m.best_val_f1.toFixed(4)} at epoch ${m.best_epoch}/${m.curves.length}`,
})

export const saveWeights = (file: string, config: NetConfig, weights: Weights, standardiser?: Standardiser): Either.Either<void, ArtifactReadError> => {
  const net = buildNet(config)
  const tensors = new Map<string, NamedTensor>(net.params.map((p) => [p.name, { shape: p.shape, data: weights.get(p.name)! }]))
  if (standardiser !== undefined) {
    if (standardiser.mean.length !== config.in_dim || standardiser.std.length !== config.in_dim) {
      return artifactError(`${file}: standardisation statistics have ${standardiser.mean.length} columns, the net takes ${config.in_dim}`)
    }
    tensors.set(INPUT_MEAN, { shape: [config.in_dim], data: standardiser.mean })
    tensors.set(INPUT_STD, { shape: [config.in_dim], data: standardiser.std })
  }
  return Either.try({
    try: () => writeSafetensors(file, tensors, { format: "mea", net: config.net, layout: "linear weights (in, out)" }),
    catch: (cause) => new ArtifactReadError({ message: cause instanceof Error ? cause.message : String(cause), cause }),
  })
}

/**
 * The tensors of a model's weights file, read (and every block checked) once: pass them to both loadWeights and
 * loadStandardiser, which would otherwise each read and hash the whole file (51 MB for the reference net).
 */
export const readModelTensors = (model: Artifact<Model>): Either.Either<Map<string, NamedTensor>, ArtifactReadError> =>
  Either.mapLeft(readSafetensors(model.file(model.value.weights)), fromReadError)

/** The input standardisation of a model: undefined for a model trained on raw features. */
export const loadStandardiser = (model: Artifact<Model>, tensors: ReadonlyMap<string, NamedTensor>): Either.Either<Standardiser | undefined, ArtifactReadError> => {
  if (model.value.standardised !== true) return Either.right(undefined)
  const file = model.file(model.value.weights)
  const column = (name: string): Either.Either<Float32Array, ArtifactReadError> => {
    const t = tensors.get(name)
    if (t === undefined) return artifactError(`${file}: the model is marked standardised but has no tensor '${name}'`)
    if (t.shape.length !== 1 || t.shape[0] !== model.value.config.in_dim) {
      return artifactError(`${file}: tensor '${name}' has shape (${t.shape.join(", ")}), expected (${model.value.config.in_dim})`)
    }
    return Either.right(t.data)
  }
  return Either.flatMap(Either.all([column(INPUT_MEAN), column(INPUT_STD)]), ([mean, std]) => {
    const bad = std.findIndex((v) => !(v > 0) || !Number.isFinite(v))
    if (bad >= 0) return artifactError(`${file}: tensor '${INPUT_STD}' column ${bad} is ${std[bad]}; standard deviations must be positive and finite`)
    return Either.right({ mean, std })
  })
}

/** The model's weights, checked against its configuration (every parameter present with its shape). */
export const loadWeights = (model: Artifact<Model>, tensors: ReadonlyMap<string, NamedTensor>): Either.Either<Weights, ArtifactReadError> => {
  const file = model.file(model.value.weights)
  const weights: Weights = new Map()
  for (const p of buildNet(model.value.config).params) {
    const t = tensors.get(p.name)
    if (t === undefined) return artifactError(`${file}: missing tensor '${p.name}'`)
    if (t.shape.join(",") !== p.shape.join(",")) return artifactError(`${file}: tensor '${p.name}' has shape (${t.shape.join(", ")}), expected (${p.shape.join(", ")})`)
    weights.set(p.name, t.data)
  }
  return Either.right(weights)
}
