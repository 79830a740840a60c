/**
 * The `demo-data` artifact: folders holding the synthetic data sets in their official layouts.
 */
import { Schema } from "effect"
import { codec } from "../runtime/stage.ts"

export const DemoSchema = Schema.Struct({
  /** Data set name -> folder (relative to the artifact) holding that data set in its official layout. */
  datasets: Schema.Record({ key: Schema.String, value: Schema.String }),
  seed: Schema.Int,
  /** Tracks written per data set. */
  tracks: Schema.Record({ key: Schema.String, value: Schema.Int }),
  /** Total seconds of audio per data set. */
  seconds: Schema.Record({ key: Schema.String, value: Schema.Number }),
})
export type Demo = typeof DemoSchema.Type

export const DemoCodec = codec("demo-data", DemoSchema, {
  summarize: (d) =>
    Object.keys(d.datasets)
      .map((k) => `${k}: ${d.tracks[k]} tracks, ${Math.round(d.seconds[k] ?? 0)} s`)
      .join("; "),
})

