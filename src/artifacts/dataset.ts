/**
 * The `dataset` artifact: one data set's vocabulary and tracks (id, audio path, labels, split), as a loader read it.
 */
import { Schema } from "effect"
import { Split } from "../datasets/types.ts"
import { codec } from "../runtime/stage.ts"

/** The formats the dataset stage reads. */
export const LoaderFormat = Schema.Literal("mtg-jamendo", "cal500", "emotify", "reference-json")
/** What a dataset artifact can be: a loaded format, or "audio-folder" (unlabelled audio listed by stage audio-files). */
export const DatasetFormat = Schema.Literal(...LoaderFormat.literals, "audio-folder")
export type DatasetFormat = typeof DatasetFormat.Type

const TrackSchema = Schema.Struct({
  id: Schema.String,
  audio: Schema.String,
  labels: Schema.Array(Schema.String),
  split: Split,
  duration: Schema.optional(Schema.Number),
})

const SkippedSchema = Schema.Struct({
  id: Schema.optional(Schema.String),
  file: Schema.String,
  reason: Schema.String,
})

export const DatasetSchema = Schema.Struct({
  name: Schema.String,
  format: DatasetFormat,
  /** The vocabulary, in its fixed order: downstream score vectors are indexed by it. */
  labels: Schema.Array(Schema.String),
  tracks: Schema.Array(TrackSchema),
  skipped: Schema.Array(SkippedSchema),
})
export type Dataset = typeof DatasetSchema.Type
export type DatasetTrack = Dataset["tracks"][number]

const countSplits = (d: Dataset): string => {
  const n = (s: string) => d.tracks.filter((t) => t.split === s).length
  return `${n("train")}/${n("validation")}/${n("test")}`
}

export const DatasetCodec = codec("dataset", DatasetSchema, {
  summarize: (d) =>
    `${d.name} (${d.format}): ${d.tracks.length} tracks (train/validation/test ${countSplits(d)}), ${d.labels.length} labels` +
    (d.skipped.length > 0 ? `, ${d.skipped.length} skipped` : ""),
})

