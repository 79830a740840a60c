/** Stages for bench/engine.ts: a corpus stage over a folder of files, and a trivial per-item stage. */
import { Effect, Schema } from "effect"
import { codec, defineStage, Input } from "../src/runtime/stage.ts"

const Count = codec("bench-count", Schema.Struct({ files: Schema.Number }))

export const corpus = defineStage({
  name: "bench-corpus",
  version: 1,
  description: "Counts the files of a corpus listed by a manifest",
  params: Schema.Struct({}),
  inputs: { audio: Input.dir({ glob: "**/*.mp3" }), manifest: Input.file() },
  output: Count,
  run: (ctx) => Effect.succeed({ files: ctx.inputs.audio.files.length }),
})

export const item = defineStage({
  name: "bench-item",
  version: 1,
  description: "One cheap node per item",
  params: Schema.Struct({ i: Schema.Number }),
  inputs: { corpus: Input.node(Count) },
  output: Count,
  run: (ctx) => Effect.succeed({ files: ctx.inputs.corpus.value.files + ctx.params.i }),
})

export const stages = [corpus, item]
