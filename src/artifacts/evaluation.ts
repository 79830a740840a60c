/**
 * The artifact of the eval (segment level) and vote (song level) stages. value.json holds the labels, k, the metrics
 * with the chance level of a random top-k predictor, the per-label table, and which track (and segment) each row is;
 * the matrices are float32 .npy files beside it (rows x labels): scores (cosine similarity; song level: mean over the
 * song's segments), truth and predicted (0/1). The JSON form (`mea show --json`) inlines truth and predicted as 0/1
 * rows so anyone can recompute the metrics.
 */
import { Effect, Either, Schema } from "effect"
import { artifactError, type ArtifactReadError, fromReadError } from "./errors.ts"
import * as path from "node:path"
import { readNpy, writeNpyFloat32 } from "../io/npy.ts"
import { attempt, codec, stageError, type Artifact } from "../runtime/stage.ts"
import { ChanceLevel, chanceLevel, evaluate, LabelRow, Metrics } from "../model/metrics.ts"
import { Aggregation } from "../model/vote.ts"

export const SCORES_FILE = "scores.npy"
export const TRUTH_FILE = "truth.npy"
export const PREDICTED_FILE = "predicted.npy"
export const EMBEDDINGS_FILE = "embeddings.npy"
export const LABEL_EMBEDDINGS_FILE = "label-embeddings.npy"

export const EvaluationSchema = Schema.Struct({
  level: Schema.Literal("segment", "song"),
  dataset: Schema.String,
  split: Schema.String,
  k: Schema.Int,
  labels: Schema.Array(Schema.String),
  rows: Schema.Int,
  /** Track id of each row (segment level: one per segment; song level: one per song). */
  row_tracks: Schema.Array(Schema.String),
  /** Segment number of each row (segment level only). */
  row_segments: Schema.optional(Schema.Array(Schema.Int)),
  metrics: Metrics,
  chance: ChanceLevel,
  per_label: Schema.Array(LabelRow),
  /** Song level: how segments became songs (see src/model/vote.ts); absent in artifacts older than the choice. */
  aggregation: Schema.optional(Aggregation),
  files: Schema.Struct({
    scores: Schema.String,
    truth: Schema.String,
    predicted: Schema.String,
    /** Segment level: the model's output per row (rows x dim) and the label embeddings scored against (labels x dim). */
    embeddings: Schema.optional(Schema.String),
    label_embeddings: Schema.optional(Schema.String),
  }),
  /** What was evaluated, for the report. */
  model: Schema.Struct({
    node: Schema.String,
    datasets: Schema.Array(Schema.String),
    phase: Schema.String,
    regulariser: Schema.String,
    alpha: Schema.Number,
    best_epoch: Schema.Int,
  }),
})
export type Evaluation = typeof EvaluationSchema.Type

const binaryRows = (file: string, rows: number, labels: number): Either.Either<Array<Array<number>>, ArtifactReadError> =>
  Either.flatMap(Either.mapLeft(readNpy(file), fromReadError), (a) =>
    a.kind !== "numeric" || a.shape.length !== 2 || a.shape[0] !== rows || a.shape[1] !== labels
      ? artifactError(`${file}: expected a ${rows} x ${labels} numeric matrix, found shape (${a.shape.join(", ")})`)
      : Either.right(Array.from({ length: rows }, (_, r) => Array.from({ length: labels }, (_, c) => Number(a.data[r * labels + c])))),
  )

export const EvaluationCodec = codec("evaluation", EvaluationSchema, {
  summarize: (e) =>
    `${e.level} level, ${e.dataset} ${e.split} (${e.rows} ${e.level}s, top-${e.k}): macro F1 ${e.metrics.f1_macro.toFixed(4)} ` +
    `(chance ${e.chance.f1_macro.toFixed(4)}), mAP ${e.metrics.map_macro.toFixed(4)}, ROC-AUC ${e.metrics.roc_auc_macro.toFixed(4)}`,
  toJson: (artifact: Artifact<Evaluation>) =>
    Effect.gen(function* () {
      const e = artifact.value
      const what = `reading the matrices of ${artifact.node}`
      const truth = yield* Effect.mapError(binaryRows(artifact.file(e.files.truth), e.rows, e.labels.length), stageError(what))
      const predicted = yield* Effect.mapError(binaryRows(artifact.file(e.files.predicted), e.rows, e.labels.length), stageError(what))
      const encoded = yield* attempt(what, () => Schema.encodeSync(EvaluationSchema)(e))
      return { ...encoded, truth, predicted }
    }),
})

export interface EvaluationInput {
  readonly level: "segment" | "song"
  readonly dataset: string
  readonly split: string
  readonly k: number
  readonly labels: ReadonlyArray<string>
  readonly rowTracks: ReadonlyArray<string>
  readonly rowSegments?: ReadonlyArray<number>
  readonly scores: ArrayLike<number>
  readonly truth: Uint8Array
  readonly predicted: Uint8Array
  readonly model: Evaluation["model"]
  readonly aggregation?: Aggregation
  /** Segment level: model outputs (rows x dim) and label embeddings (labels x dim), kept for song aggregation. */
  readonly embeddings?: { readonly rows: Float32Array; readonly labels: Float32Array; readonly dim: number }
  readonly chanceDraws: number
  readonly seed: number
}

/** Computes the metrics, writes the matrices into `outDir` and returns the artifact value. */
export const writeEvaluation = (outDir: string, e: EvaluationInput) =>
  Effect.gen(function* () {
    const rows = e.rowTracks.length
    const nLabels = e.labels.length
    const { metrics, perLabel } = evaluate(e.labels, e.scores, e.truth, e.predicted, rows)
    const chance = chanceLevel(e.truth, rows, nLabels, e.k, e.chanceDraws, e.seed)
    const written = stageError(`writing the ${e.level} matrices into ${outDir}`)
    yield* Effect.mapError(writeNpyFloat32(path.join(outDir, SCORES_FILE), [rows, nLabels], Float32Array.from(e.scores)), written)
    yield* Effect.mapError(writeNpyFloat32(path.join(outDir, TRUTH_FILE), [rows, nLabels], Float32Array.from(e.truth)), written)
    yield* Effect.mapError(writeNpyFloat32(path.join(outDir, PREDICTED_FILE), [rows, nLabels], Float32Array.from(e.predicted)), written)
    if (e.embeddings !== undefined) {
      yield* Effect.mapError(writeNpyFloat32(path.join(outDir, EMBEDDINGS_FILE), [rows, e.embeddings.dim], e.embeddings.rows), written)
      yield* Effect.mapError(writeNpyFloat32(path.join(outDir, LABEL_EMBEDDINGS_FILE), [nLabels, e.embeddings.dim], e.embeddings.labels), written)
    }
    const value: Evaluation = {
      level: e.level,
      dataset: e.dataset,
      split: e.split,
      k: e.k,
      labels: [...e.labels],
      rows,
      row_tracks: [...e.rowTracks],
      ...(e.rowSegments === undefined ? {} : { row_segments: [...e.rowSegments] }),
      metrics,
      chance,
      per_label: [...perLabel],
      ...(e.aggregation === undefined ? {} : { aggregation: e.aggregation }),
      files: {
        scores: SCORES_FILE,
        truth: TRUTH_FILE,
        predicted: PREDICTED_FILE,
        ...(e.embeddings === undefined ? {} : { embeddings: EMBEDDINGS_FILE, label_embeddings: LABEL_EMBEDDINGS_FILE }),
      },
      model: e.model,
    }
    return value
  })

/** The model outputs and label embeddings a segment-level evaluation kept; undefined for artifacts without them. */
export const readEmbeddings = (
  artifact: Artifact<Evaluation>,
): Either.Either<{ readonly rows: Float32Array; readonly labels: Float32Array; readonly dim: number } | undefined, ArtifactReadError> => {
  const { embeddings, label_embeddings } = artifact.value.files
  if (embeddings === undefined || label_embeddings === undefined) return Either.right(undefined)
  return Either.flatMap(Either.all([readNpy(artifact.file(embeddings)), readNpy(artifact.file(label_embeddings))]).pipe(Either.mapLeft(fromReadError)), ([rows, labels]) => {
    if (rows.kind !== "numeric" || rows.dtype !== "<f4" || rows.shape.length !== 2 || rows.shape[0] !== artifact.value.rows) {
      return artifactError(`${artifact.file(embeddings)}: expected float32 embeddings of ${artifact.value.rows} rows, found shape (${rows.shape.join(", ")})`)
    }
    const dim = rows.shape[1]
    if (labels.kind !== "numeric" || labels.dtype !== "<f4" || labels.shape[0] !== artifact.value.labels.length || labels.shape[1] !== dim) {
      return artifactError(`${artifact.file(label_embeddings)}: expected float32 label embeddings of shape (${artifact.value.labels.length}, ${dim}), found (${labels.shape.join(", ")})`)
    }
    return Either.right({ rows: rows.data as Float32Array, labels: labels.data as Float32Array, dim })
  })
}

/** The segment scores of an evaluation artifact (rows x labels). */
export const readScores = (artifact: Artifact<Evaluation>): Either.Either<Float32Array, ArtifactReadError> => {
  const file = artifact.file(artifact.value.files.scores)
  const { rows, labels } = { rows: artifact.value.rows, labels: artifact.value.labels.length }
  return Either.flatMap(Either.mapLeft(readNpy(file), fromReadError), (a) =>
    a.kind !== "numeric" || a.dtype !== "<f4" || a.shape[0] !== rows || a.shape[1] !== labels
      ? artifactError(`${file}: expected float32 scores of shape (${rows}, ${labels}), found (${a.shape.join(", ")})`)
      : Either.right(a.data as Float32Array),
  )
}
