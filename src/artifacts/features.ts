/**
 * The `features` artifact: one L x D float32 matrix per segment, in the segment index's order, in `features.npy` of
 * shape (segments, L, D) (numpy.load-able; read it in row chunks with NpyFloat32Reader).
 */
import { type Either, Schema } from "effect"
import { NpyFloat32Reader, type NpyError } from "../io/npy.ts"
import { codec, type Artifact } from "../runtime/stage.ts"

export const FEATURES_FILE = "features.npy"

export const FeaturesSchema = Schema.Struct({
  dataset: Schema.String,
  /** imported: the original implementation's preprocessed MERT features (stage import-features). */
  extractor: Schema.Literal("builtin", "onnx", "imported"),
  /** How frames became one row per layer: "statistics" (builtin), "first" or "mean" (onnx). */
  pooling: Schema.Literal("statistics", "first", "mean"),
  layers: Schema.Int,
  dim: Schema.Int,
  /** Segments, in the segment index's order. */
  rows: Schema.Int,
  /** float32 .npy of shape (rows, layers, dim), in the artifact's folder. */
  file: Schema.String,
  /** Name of each of the L layers (builtin: the statistic; onnx: "embedding", "layer_1", ...). */
  layerNames: Schema.Array(Schema.String),
  /** Name of each of the D columns (builtin only; a model's dimensions have no names). */
  columnNames: Schema.optional(Schema.Array(Schema.String)),
  sampleRate: Schema.Int,
  /** The ONNX model used (file name and content hash), for provenance. */
  model: Schema.optional(Schema.Struct({ file: Schema.String, hash: Schema.String })),
  /**
   * Features imported by reference (stage import-features): the matrix is these files outside the cache, one after
   * the other, not `file`. Their sizes are checked on every open, so a file changed behind mea's back is an error
   * rather than wrong rows.
   */
  sources: Schema.optional(Schema.Array(Schema.Struct({ path: Schema.String, bytes: Schema.Int, rows: Schema.Int }))),
})
export type Features = typeof FeaturesSchema.Type

export const FeaturesCodec = codec("features", FeaturesSchema, {
  summarize: (f) =>
    `${f.dataset}: ${f.rows} segments x ${f.layers} x ${f.dim} (${f.extractor}${f.extractor === "onnx" ? `, ${f.pooling} step` : ""})`,
})

/** A chunked reader over a features artifact's matrix; close it when done. */
export const openFeatures = (artifact: Artifact<Features>): Either.Either<NpyFloat32Reader, NpyError> => NpyFloat32Reader.open(artifact.file(artifact.value.file))

