/**
 * predict: zero-shot tags for unlabelled audio. Each segment's model output is scored (cosine) against the label
 * embeddings of any label list; songs get their scores and top-k labels by the chosen aggregation (vote, mean-score,
 * mean-embedding; src/model/vote.ts).
 *
 * The model is a train node (`model`), a stored model folder (`model_dir`: value.json + model.safetensors, e.g. a
 * cache object), or an ONNX file from `mea export` (`onnx`). The labels must have been embedded the way the model's
 * training labels were (provider, model, template, ...), which the model records; anything else is an error.
 * Songs come from audio-files -> decode -> segment -> mert chains (lists, in the same order); files decode skipped or
 * too short for one segment are listed in `skipped` with the reason.
 * The artifact: src/artifacts/predictions.ts.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { DatasetCodec } from "../artifacts/dataset.ts"
import { DecodedAudioCodec } from "../artifacts/decoded-audio.ts"
import { FeaturesCodec } from "../artifacts/features.ts"
import { type LabelEmbedSettings, LabelEmbeddingsCodec, readLabelEmbeddings, settingsKey } from "../artifacts/label-embeddings.ts"
import { type Model, ModelCodec, ModelSchema } from "../artifacts/model.ts"
import { PredictionsCodec, SEGMENT_SCORES_FILE, SONG_SCORES_FILE } from "../artifacts/predictions.ts"
import { readSegments, SegmentsCodec } from "../artifacts/segments.ts"
import { writeNpyFloat32 } from "../io/npy.ts"
import { readExportMetadata } from "../model/export.ts"
import { openRows } from "../model/rows.ts"
import { embedFeatureRows } from "../model/train-and-eval.ts"
import { cosineScores } from "../model/train.ts"
import { aggregateSongs, Aggregation, songRows } from "../model/vote.ts"
import { attempt, attemptPromise, type Artifact, defineStage, Input, StageError, stageError } from "../runtime/stage.ts"
import { importModule } from "../util/lazy.ts"

export const PredictParams = Schema.Struct({
  aggregation: Schema.optionalWith(Aggregation, { default: () => "vote" as const }),
  /** Labels per song (and, for vote, per segment). */
  k: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 3 }),
})

const fail = (message: string) => Effect.fail(new StageError({ message }))

const describeSettings = (s: LabelEmbedSettings): string =>
  `provider ${s.provider}${s.model !== undefined ? ` (model ${s.model})` : ""}${s.model_dir !== undefined ? ` (model folder ${s.model_dir})` : ""}${s.file !== undefined ? ` (file ${s.file})` : ""}, template ${JSON.stringify(s.template)}`

/** The model as a stored artifact, whichever of the three inputs gave it; `onnx` when it came from an export. */
type ModelSource = { readonly _tag: "Artifact"; readonly artifact: Artifact<Model> } | { readonly _tag: "Onnx"; readonly file: string; readonly value: Model }

export const PredictStage = defineStage({
  name: "predict",
  version: 1,
  description: "Zero-shot tags for unlabelled audio: cosine scores of each segment's model output against any label list, song top-k by vote, mean score or mean embedding",
  params: PredictParams,
  inputs: {
    model: Input.optional(Input.node(ModelCodec)),
    /** A stored model: a folder with value.json and model.safetensors (a train node's artifact). */
    model_dir: Input.optional(Input.dir({ glob: "{value.json,model.safetensors}" })),
    /** An ONNX file written by `mea export`. */
    onnx: Input.optional(Input.file()),
    labels: Input.node(LabelEmbeddingsCodec),
    songs: Input.nodes(DatasetCodec),
    audio: Input.nodes(DecodedAudioCodec),
    segments: Input.nodes(SegmentsCodec),
    features: Input.nodes(FeaturesCodec),
  },
  output: PredictionsCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const { songs, audio, segments, features } = ctx.inputs
      const p = ctx.params
      const given = [ctx.inputs.model, ctx.inputs.model_dir, ctx.inputs.onnx].filter((x) => x !== undefined).length
      if (given !== 1) return yield* fail(`predict: give exactly one of the inputs model (a train node), model_dir (a stored model folder) or onnx (a file from mea export); found ${given}`)
      const source: ModelSource = yield* modelSource(ctx.inputs)
      const m = source._tag === "Artifact" ? source.artifact.value : source.value
      const where = source._tag === "Artifact" ? source.artifact.node : source.file
      if (songs.length !== audio.length || songs.length !== segments.length || songs.length !== features.length) {
        return yield* fail(`predict: songs, audio, segments and features must list the same chains in the same order; got ${songs.length}, ${audio.length}, ${segments.length} and ${features.length} nodes`)
      }

      // The labels must live in the space the model was trained to land in.
      const labelsArtifact = ctx.inputs.labels
      const trained = m.label_embedding
      if (trained === undefined) {
        return yield* fail(`predict: model ${where} does not record how its training labels were embedded (it was trained by an older mea, train stage v2 or earlier); rerun its train node to predict with it`)
      }
      const made = labelsArtifact.value.settings
      const bare = (s: LabelEmbedSettings) => settingsKey({ ...s, augmentation: undefined })
      if (made === undefined || bare(made) !== bare(trained)) {
        return yield* fail(
          `predict: the labels ${labelsArtifact.node} were embedded with ${made === undefined ? "unrecorded settings (label-embed v1)" : describeSettings(made)}, ` +
            `but model ${where} was trained on labels embedded with ${describeSettings(trained)}; embed the labels the same way`,
        )
      }
      const labels = yield* readLabelEmbeddings(labelsArtifact)
      if (labels.dim !== m.config.out_dim) {
        return yield* fail(`predict: model ${where} embeds into ${m.config.out_dim} dimensions, the labels ${labelsArtifact.node} are ${labels.dim}-d`)
      }
      if (labels.labels.length === 0) return yield* fail("predict: the label list is empty")
      const L = labels.labels.length

      const skipped: Array<{ file: string; reason: string }> = []
      const songList: Array<{ file: string; segments: number; first_row: number }> = []
      const segmentScores: Array<Float32Array> = []
      const segmentEmbeddings: Array<Float32Array> = []
      const rowSongs: Array<string> = []
      let seconds = 0
      let hop = 0
      yield* ctx.progress.start(features.length, "chains")
      for (let c = 0; c < features.length; c++) {
        const f = features[c]
        const seg = segments[c]
        const fileOf = new Map(songs[c].value.tracks.map((t) => [t.id, t.audio]))
        const display = (id: string) => fileOf.get(id) ?? id
        for (const s of audio[c].value.skipped) skipped.push({ file: display(s.id), reason: s.reason })
        if (seg.value.short === "drop") {
          for (const id of seg.value.short_tracks) skipped.push({ file: display(id), reason: `shorter than one ${seg.value.seconds} s segment` })
        }
        if (f.value.rows !== seg.value.count) return yield* fail(`predict: features ${f.node} have ${f.value.rows} rows, segments ${seg.node} ${seg.value.count}`)
        if (f.value.dim !== m.feature_dim || m.layers.some((l) => l >= f.value.layers)) {
          return yield* fail(`predict: model ${where} takes layers [${m.layers.join(", ")}] of ${m.feature_dim}-d features; ${f.node} has ${f.value.layers} layers of ${f.value.dim}`)
        }
        seconds = seg.value.seconds
        hop = seg.value.hop
        const rows = yield* Effect.mapError(readSegments(seg), stageError(`predict: reading ${seg.node}`))
        if (rows.length === 0) continue
        const all = rows.map((_, i) => i)
        const emb =
          source._tag === "Artifact"
            ? yield* embedFeatureRows(source.artifact, f, all, ctx.threads, "predict")
            : yield* embedWithExport(source.file, m, f.file(f.value.file), all, ctx.threads)
        segmentEmbeddings.push(emb)
        segmentScores.push(cosineScores(emb, rows.length, labels.matrix, m.config.out_dim))
        // Rows of one track are consecutive in the segment index.
        let r = 0
        while (r < rows.length) {
          const id = rows[r].id
          let n = 0
          while (r + n < rows.length && rows[r + n].id === id) n++
          songList.push({ file: display(id), segments: n, first_row: rowSongs.length })
          for (let j = 0; j < n; j++) rowSongs.push(`${c}\u0000${id}`)
          r += n
        }
        yield* ctx.progress.advance(1)
      }
      for (const s of skipped) yield* ctx.progress.warn(`skipped ${s.file}: ${s.reason}`)
      if (songList.length === 0) return yield* fail(`predict: no song could be tagged (${skipped.length} file${skipped.length === 1 ? "" : "s"} skipped)`)

      const concat = (parts: ReadonlyArray<Float32Array>): Float32Array => {
        const out = new Float32Array(parts.reduce((n, x) => n + x.length, 0))
        let at = 0
        for (const x of parts) {
          out.set(x, at)
          at += x.length
        }
        return out
      }
      const scores = concat(segmentScores)
      const rowsEmb = concat(segmentEmbeddings)
      const songIndex = songRows(rowSongs)
      const song = aggregateSongs(p.aggregation, { scores, labels: L, embeddings: { rows: rowsEmb, labels: labels.matrix, dim: m.config.out_dim } }, songIndex, p.k)
      const songScores = Float32Array.from(song.scores)
      const written = stageError("predict: writing the scores")
      yield* Effect.mapError(writeNpyFloat32(path.join(ctx.outDir, SONG_SCORES_FILE), [songList.length, L], songScores), written)
      yield* Effect.mapError(writeNpyFloat32(path.join(ctx.outDir, SEGMENT_SCORES_FILE), [rowSongs.length, L], scores), written)
      const kk = Math.min(p.k, L)
      const top = songList.map((_, i) => {
        const chosen = labels.labels.flatMap((label, j) => (song.predicted[i * L + j] === 1 ? [{ label, score: songScores[i * L + j] }] : []))
        return chosen.sort((a, b) => b.score - a.score).slice(0, kk)
      })
      yield* ctx.progress.note(`${songList.length} songs tagged (${p.aggregation}, top-${p.k})${skipped.length > 0 ? `, ${skipped.length} skipped` : ""}`)
      return {
        labels: [...labels.labels],
        k: p.k,
        aggregation: p.aggregation,
        seconds,
        hop,
        model: { source: where, phase: m.phase, datasets: [...m.datasets] },
        songs: songList.map((s, i) => ({ ...s, top: top[i] })),
        skipped,
        files: { song_scores: SONG_SCORES_FILE, segment_scores: SEGMENT_SCORES_FILE },
      }
    }),
})

const modelSource = (inputs: {
  readonly model: Artifact<Model> | undefined
  readonly model_dir: { readonly path: string; readonly hash: string; readonly files: ReadonlyArray<string> } | undefined
  readonly onnx: { readonly path: string; readonly hash: string } | undefined
}): Effect.Effect<ModelSource, StageError> =>
  Effect.gen(function* () {
    if (inputs.model !== undefined) return { _tag: "Artifact", artifact: inputs.model } as const
    if (inputs.onnx !== undefined) {
      const file = inputs.onnx.path
      const value = yield* attempt("predict", () => readExportMetadata(file))
      return { _tag: "Onnx", file, value } as const
    }
    const dir = inputs.model_dir!.path
    if (!inputs.model_dir!.files.includes("value.json") || !inputs.model_dir!.files.includes("model.safetensors")) {
      return yield* fail(`predict: ${dir} is not a trained mea model (a train artifact holds value.json and model.safetensors)`)
    }
    const raw = yield* attempt(`predict: reading ${path.join(dir, "value.json")}`, () => JSON.parse(fs.readFileSync(path.join(dir, "value.json"), "utf8")) as unknown)
    const decoded = Schema.decodeUnknownEither(ModelSchema)(raw)
    if (decoded._tag === "Left") return yield* fail(`predict: ${dir} is not a trained mea model: its value.json is not a model (${decoded.left.message.split("\n")[0]})`)
    const artifact: Artifact<Model> = { value: decoded.right, hash: inputs.model_dir!.hash, dir, node: dir, file: (n) => path.join(dir, n) }
    return { _tag: "Artifact", artifact } as const
  })

/** Segment outputs through an exported inference graph (standardisation is inside the graph). */
const embedWithExport = (file: string, m: Model, featuresFile: string, rows: ReadonlyArray<number>, threads: number): Effect.Effect<Float32Array, StageError> =>
  attemptPromise(`predict: running ${file}`, async () => {
    const ort = await importModule<typeof import("onnxruntime-node")>("onnxruntime-node")
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1 })
    const source = openRows(featuresFile, m.layers)
    try {
      const out = new Float32Array(rows.length * m.config.out_dim)
      const chunk = 512
      for (let s = 0; s < rows.length; s += chunk) {
        const n = Math.min(chunk, rows.length - s)
        const x = new Float32Array(n * source.dim)
        source.gather(rows.slice(s, s + n), x)
        const result = await session.run({ x: new ort.Tensor("float32", x, [n, source.dim]) })
        out.set(result.embedding.data as Float32Array, s * m.config.out_dim)
      }
      return out
    } finally {
      source.close()
      await session.release()
    }
  })
