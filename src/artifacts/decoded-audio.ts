/**
 * The `decoded-audio` artifact: every track of a data set as mono 16-bit PCM at one rate, in one file, and readers
 * over it (see src/audio/pcm.ts for the layout).
 */
import { Schema } from "effect"
import { PcmReader } from "../audio/pcm.ts"
import { codec, type Artifact } from "../runtime/stage.ts"

export const DecodedAudioSchema = Schema.Struct({
  dataset: Schema.String,
  rate: Schema.Int,
  sample_format: Schema.Literal("s16le"),
  /** The PCM file, in the artifact's folder. */
  file: Schema.String,
  /** Columns, one entry per decoded track, in the data set's track order (skipped tracks left out). */
  ids: Schema.Array(Schema.String),
  /** In samples from the start of the file. */
  offsets: Schema.Array(Schema.Number),
  /** In samples. */
  lengths: Schema.Array(Schema.Number),
  skipped: Schema.Array(Schema.Struct({ id: Schema.String, file: Schema.String, reason: Schema.String })),
})
export type DecodedAudio = typeof DecodedAudioSchema.Type

export const DecodedAudioCodec = codec("decoded-audio", DecodedAudioSchema, {
  summarize: (d) => {
    const seconds = d.lengths.reduce((a, b) => a + b, 0) / d.rate
    return `${d.dataset}: ${d.ids.length} tracks, ${(seconds / 3600).toFixed(2)} h at ${d.rate} Hz` + (d.skipped.length > 0 ? `, ${d.skipped.length} skipped` : "")
  },
})

/** A reader over a decoded-audio artifact; close it when done. */
export const openDecoded = (artifact: Artifact<DecodedAudio>): PcmReader => new PcmReader(artifact.file(artifact.value.file), artifact.value)

/** One whole track as float32 in [-1, 1). */
export const readTrackSamples = (artifact: Artifact<DecodedAudio>, index: number): Float32Array => {
  const reader = openDecoded(artifact)
  try {
    return reader.read(index)
  } finally {
    reader.close()
  }
}

