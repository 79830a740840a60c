/**
 * audio-files: unlabelled audio on disk as a data set (format "audio-folder"), so decode, segment and features run on
 * anyone's music exactly as on a known data set. Inputs (exactly one): `folder` (every audio file below it, recursively),
 * `files_in` (only the folder's own files: `mea predict` gives each folder of a library its own chain, so a new album
 * decodes only that album), or `file` (one file). Track ids are paths relative to the folder (the file's name for
 * `file`); each track's `audio` is its absolute path.
 */
import { Effect, Schema } from "effect"
import * as path from "node:path"
import { defineStage, Input, StageError } from "../runtime/stage.ts"
import { DatasetCodec, type Dataset } from "../artifacts/dataset.ts"

/** The extensions predict reads (lower or upper case). */
export const PREDICT_EXTENSIONS: ReadonlyArray<string> = ["mp3", "wav", "flac", "ogg", "m4a", "opus", "aac"]
const EXT_CHOICE = `{${PREDICT_EXTENSIONS.flatMap((e) => [e, e.toUpperCase()]).join(",")}}`

export const isAudioFile = (name: string): boolean => PREDICT_EXTENSIONS.includes(path.extname(name).slice(1).toLowerCase())

export const AudioFilesParams = Schema.Struct({
  /** The data set name recorded downstream. */
  name: Schema.optionalWith(Schema.String, { default: () => "songs" }),
})

export const AudioFilesStage = defineStage({
  name: "audio-files",
  version: 1,
  description: "Lists audio files (mp3, wav, flac, ogg, m4a, opus, aac) of a folder or one file as an unlabelled data set, for decode and predict",
  params: AudioFilesParams,
  inputs: {
    folder: Input.optional(Input.dir({ glob: `**/*.${EXT_CHOICE}` })),
    files_in: Input.optional(Input.dir({ glob: `*.${EXT_CHOICE}` })),
    file: Input.optional(Input.file()),
  },
  output: DatasetCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const { folder, files_in, file } = ctx.inputs
      const given = [folder, files_in, file].filter((x) => x !== undefined)
      if (given.length !== 1) {
        return yield* Effect.fail(new StageError({ message: `audio-files: give exactly one of the inputs folder, files_in or file; found ${given.length}` }))
      }
      const dir = folder ?? files_in
      const tracks: Array<Dataset["tracks"][number]> =
        dir !== undefined
          ? dir.files.map((rel) => ({ id: rel, audio: path.join(dir.path, rel), labels: [], split: "test" as const }))
          : [{ id: path.basename(file!.path), audio: path.resolve(file!.path), labels: [], split: "test" as const }]
      if (tracks.length === 0) {
        return yield* Effect.fail(new StageError({ message: `audio-files: no audio file (${PREDICT_EXTENSIONS.join(", ")}) in ${dir!.path}` }))
      }
      if (file !== undefined && !isAudioFile(file.path)) {
        return yield* Effect.fail(new StageError({ message: `audio-files: ${file.path} is not an audio file (expected one of ${PREDICT_EXTENSIONS.join(", ")})` }))
      }
      yield* ctx.progress.note(`${tracks.length} audio file${tracks.length === 1 ? "" : "s"}`)
      return { name: ctx.params.name, format: "audio-folder" as const, labels: [], tracks, skipped: [] }
    }),
})
