/**
 * The `predictions` artifact of the predict stage: per song (an audio file) its top-k labels with scores in value.json;
 * song-scores.npy (songs x labels, float32) and segment-scores.npy (segments x labels, float32; the rows of song i are
 * first_row .. first_row + segments - 1). The JSON form (`mea show --json`) inlines every score by label.
 */
import { Effect, Either, Schema } from "effect"
import { artifactError, type ArtifactReadError, fromReadError } from "./errors.ts"
import { readNpy } from "../io/npy.ts"
import { Aggregation } from "../model/vote.ts"
import { attempt, type Artifact, codec, stageError } from "../runtime/stage.ts"

export const SONG_SCORES_FILE = "song-scores.npy"
export const SEGMENT_SCORES_FILE = "segment-scores.npy"

const LabelScore = Schema.Struct({ label: Schema.String, score: Schema.Number })

export const PredictionsSchema = Schema.Struct({
  labels: Schema.Array(Schema.String),
  k: Schema.Int,
  aggregation: Aggregation,
  /** Segment length and hop in seconds (segment j of a song starts at j * hop). */
  seconds: Schema.Number,
  hop: Schema.Number,
  model: Schema.Struct({ source: Schema.String, phase: Schema.String, datasets: Schema.Array(Schema.String) }),
  songs: Schema.Array(
    Schema.Struct({
      /** The audio file (absolute path). */
      file: Schema.String,
      segments: Schema.Int,
      first_row: Schema.Int,
      /** The k predicted labels, best first, with the song's score for each. */
      top: Schema.Array(LabelScore),
    }),
  ),
  skipped: Schema.Array(Schema.Struct({ file: Schema.String, reason: Schema.String })),
  files: Schema.Struct({ song_scores: Schema.String, segment_scores: Schema.String }),
})
export type Predictions = typeof PredictionsSchema.Type

const matrix = (file: string, rows: number, cols: number): Either.Either<Float32Array, ArtifactReadError> =>
  Either.flatMap(Either.mapLeft(readNpy(file), fromReadError), (a) =>
    a.kind !== "numeric" || a.dtype !== "<f4" || a.shape[0] !== rows || a.shape[1] !== cols
      ? artifactError(`${file}: expected float32 of shape (${rows}, ${cols}), found (${a.shape.join(", ")})`)
      : Either.right(a.data as Float32Array),
  )

/** Song scores (songs x labels) and segment scores (segments x labels) of a predictions artifact. */
export const readPredictionScores = (a: Artifact<Predictions>): Either.Either<{ readonly songs: Float32Array; readonly segments: Float32Array }, ArtifactReadError> => {
  const v = a.value
  const segments = v.songs.reduce((n, s) => n + s.segments, 0)
  return Either.all({
    songs: matrix(a.file(v.files.song_scores), v.songs.length, v.labels.length),
    segments: matrix(a.file(v.files.segment_scores), segments, v.labels.length),
  })
}

export const PredictionsCodec = codec("predictions", PredictionsSchema, {
  summarize: (p) =>
    `${p.songs.length} songs tagged with ${p.labels.length} labels (top-${p.k}, ${p.aggregation})` + (p.skipped.length > 0 ? `, ${p.skipped.length} files skipped` : ""),
  toJson: (a) =>
    Effect.gen(function* () {
      const what = `reading the scores of ${a.node}`
      const s = yield* Effect.mapError(readPredictionScores(a), stageError(what))
      const encoded = yield* attempt(what, () => Schema.encodeSync(PredictionsSchema)(a.value))
      const L = a.value.labels.length
      const row = (m: Float32Array, r: number) => Object.fromEntries(a.value.labels.map((l, j) => [l, m[r * L + j]]))
      return {
        ...encoded,
        songs: a.value.songs.map((song, i) => ({
          ...song,
          scores: row(s.songs, i),
          segment_scores: Array.from({ length: song.segments }, (_, j) => row(s.segments, song.first_row + j)),
        })),
      }
    }),
})

