/**
 * The `label-embeddings` artifact: one embedding per label of a vocabulary, as embeddings.npy (labels x dim,
 * float32), with the texts embedded and the provider that embedded them.
 */
import { Effect, Schema } from "effect"
import { readNpy } from "../io/npy.ts"
import { attempt, codec, StageError, type Artifact } from "../runtime/stage.ts"

export const EMBEDDINGS_FILE = "embeddings.npy"

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
  attempt(`reading label embeddings of ${a.node}`, () => {
    const arr = readNpy(a.file(a.value.file))
    if (arr.kind !== "numeric" || !(arr.data instanceof Float32Array)) throw new Error(`${a.file(a.value.file)}: expected float32`)
    if (arr.shape[0] !== a.value.labels.length || arr.shape[1] !== a.value.dim) {
      throw new Error(`${a.file(a.value.file)}: shape (${arr.shape.join(", ")}) does not match ${a.value.labels.length} labels x ${a.value.dim}`)
    }
    return { dataset: a.value.dataset, labels: a.value.labels, dim: a.value.dim, matrix: arr.data }
  })

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

