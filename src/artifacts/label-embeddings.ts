/**
 * The `label-embeddings` artifact: one embedding per label of a vocabulary, as embeddings.npy (labels x dim,
 * float32), with the texts embedded and the provider that embedded them.
 */
import { Effect, Either, Schema } from "effect"
import { artifactError, type ArtifactReadError, fromReadError } from "./errors.ts"
import { readNpy } from "../io/npy.ts"
import { DEFAULT_TEMPLATE } from "../labels/text.ts"
import { attempt, codec, StageError, stageError, type Artifact } from "../runtime/stage.ts"

export const EMBEDDINGS_FILE = "embeddings.npy"

/** The label-embed stage's params (here because the artifact records them: see LabelEmbedSettings). */
const PositiveInt = Schema.Int.pipe(Schema.positive())

export const LabelEmbedParams = Schema.Struct({
  provider: Schema.optionalWith(Schema.Literal("word-vectors", "onnx", "http", "precomputed"), { default: () => "word-vectors" as const }),
  /** The labels, when there is no `dataset` input (or to embed a subset of it, in this order). */
  labels: Schema.optional(Schema.Array(Schema.String)),
  /** The data set name recorded in the output when there is no `dataset` input (default: the file's or node's name). */
  name: Schema.optional(Schema.String),
  /** E.g. "music that feels {label}". */
  template: Schema.optionalWith(Schema.String, { default: () => DEFAULT_TEMPLATE }),
  /** label -> texts to embed instead of the label; its embedding is their mean. */
  augmentation: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) })),
  /** L2-normalise each label's embedding (default: yes, except for precomputed, which is kept as stored). */
  normalise: Schema.optional(Schema.Boolean),
  // precomputed
  labels_key: Schema.optionalWith(Schema.String, { default: () => "labels" }),
  features_key: Schema.optionalWith(Schema.String, { default: () => "text_features" }),
  // onnx
  max_length: Schema.optional(PositiveInt),
  // http
  url: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  api: Schema.optionalWith(Schema.Literal("openai", "ollama"), { default: () => "openai" as const }),
  /** Name of the environment variable that holds the API key; the key never enters params, logs or cache keys. */
  api_key_env: Schema.optional(Schema.String),
  batch_size: Schema.optionalWith(PositiveInt, { default: () => 32 }),
  retries: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 4 }),
  timeout_ms: Schema.optionalWith(PositiveInt, { default: () => 30_000 }),
  backoff_ms: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 500 }),
})
export type LabelEmbedParams = typeof LabelEmbedParams.Type

/**
 * How a label-embeddings artifact was made, enough to embed other labels the same way: the label-embed params except
 * the label list and name, and the paths of the file / model inputs. Train records it in the model, so predict can
 * embed a user's own labels exactly as the training labels were.
 */
export const LabelEmbedSettings = Schema.Struct({
  ...LabelEmbedParams.omit("labels", "name").fields,
  /** precomputed: the embeddings file; onnx: the model folder (absolute paths, as the pipeline resolved them). */
  file: Schema.optional(Schema.String),
  model_dir: Schema.optional(Schema.String),
})
export type LabelEmbedSettings = typeof LabelEmbedSettings.Type

/** The canonical JSON of settings, for comparing two of them. */
export const settingsKey = (s: LabelEmbedSettings): string => {
  const encoded = Schema.encodeSync(LabelEmbedSettings)(s) as Record<string, unknown>
  return JSON.stringify(Object.keys(encoded).sort().map((k) => [k, encoded[k]]))
}


const OovSchema = Schema.Struct({ label: Schema.String, text: Schema.String, words: Schema.Array(Schema.String) })

export const LabelEmbeddingsSchema = Schema.Struct({
  /** The data set the labels belong to (its name, or the `name` param). */
  dataset: Schema.String,
  provider: Schema.String,
  /** The model that made the vectors, when the provider knows one. */
  model: Schema.optional(Schema.String),
  /** Label names as the data set names them, in vocabulary order: row i of the matrix is labels[i]. */
  labels: Schema.Array(Schema.String),
  /** The texts embedded for each label (its expansions after the template). */
  texts: Schema.Array(Schema.Array(Schema.String)),
  dim: Schema.Int,
  normalised: Schema.Boolean,
  file: Schema.Literal(EMBEDDINGS_FILE),
  /** Words the word vectors lack (word-vectors provider only). */
  oov: Schema.Array(OovSchema),
  /** How to embed other labels the same way (absent in artifacts of label-embed v1). */
  settings: Schema.optional(LabelEmbedSettings),
})
export type LabelEmbeddings = typeof LabelEmbeddingsSchema.Type

export interface LabelEmbeddingMatrix {
  readonly dataset: string
  readonly labels: ReadonlyArray<string>
  readonly dim: number
  /** labels.length x dim, row-major. */
  readonly matrix: Float32Array
}

/** The matrix of a label-embeddings artifact. */
export const readLabelEmbeddings = (a: Artifact<LabelEmbeddings>): Effect.Effect<LabelEmbeddingMatrix, StageError> =>
  Either.flatMap(Either.mapLeft(readNpy(a.file(a.value.file)), fromReadError), (arr): Either.Either<LabelEmbeddingMatrix, ArtifactReadError> => {
    if (arr.kind !== "numeric" || !(arr.data instanceof Float32Array)) return artifactError(`${a.file(a.value.file)}: expected float32`)
    if (arr.shape[0] !== a.value.labels.length || arr.shape[1] !== a.value.dim) {
      return artifactError(`${a.file(a.value.file)}: shape (${arr.shape.join(", ")}) does not match ${a.value.labels.length} labels x ${a.value.dim}`)
    }
    return Either.right({ dataset: a.value.dataset, labels: a.value.labels, dim: a.value.dim, matrix: arr.data })
  }).pipe(Effect.mapError(stageError(`reading label embeddings of ${a.node}`)))

export const LabelEmbeddingsCodec = codec("label-embeddings", LabelEmbeddingsSchema, {
  summarize: (v) =>
    `${v.dataset}: ${v.labels.length} labels x ${v.dim} (${v.provider}${v.model !== undefined ? ` ${v.model}` : ""})` +
    (v.oov.length > 0 ? `, ${v.oov.length} texts with unknown words` : ""),
  toJson: (a) =>
    Effect.map(readLabelEmbeddings(a), (m) => ({
      ...a.value,
      embeddings: a.value.labels.map((label, i) => ({ label, vector: Array.from(m.matrix.subarray(i * m.dim, (i + 1) * m.dim)) })),
    })),
})

