/**
 * `label-embed`: one embedding per label of a data set's vocabulary (or of a label list), from a provider chosen in
 * pipeline.yaml: `word-vectors` (built in), `onnx` (a local sentence-transformers folder), `http` (OpenAI-compatible
 * or Ollama), `precomputed` (an .npz/.npy/.json file, e.g. the reference's label_expanded_*.npz).
 *
 * Label text = template applied to each of the label's expansions (augmentation, default the label itself); the label's
 * embedding = mean of its expansions' embeddings, then L2-normalised unless `normalise: false`. The matrix is stored as
 * embeddings.npy (labels x dim, float32); `mea show --json` includes it.
 */
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { writeNpyFloat32 } from "../io/npy.ts"
import { type EmbedError, TextEmbedder } from "../labels/embedder.ts"
import { httpEmbedder } from "../labels/providers/http.ts"
import { onnxEmbedder } from "../labels/providers/onnx.ts"
import { type LabelMatrix, readLabelMatrix, selectLabels } from "../labels/providers/precomputed.ts"
import { wordVectorsEmbedder } from "../labels/providers/word-vectors.ts"
import { DEFAULT_TEMPLATE, labelTexts, meanVector } from "../labels/text.ts"
import { OnnxRuntimeLive } from "../onnx/runtime.ts"
import { attempt, defineStage, Input, StageError, stageError } from "../runtime/stage.ts"
import { DatasetCodec } from "../artifacts/dataset.ts"
import { EMBEDDINGS_FILE, LabelEmbedParams, type LabelEmbeddings, LabelEmbeddingsCodec } from "../artifacts/label-embeddings.ts"

export { LabelEmbedParams } from "../artifacts/label-embeddings.ts"

const fail = (message: string) => new StageError({ message })

interface Embedded {
  readonly matrix: LabelMatrix
  readonly texts: ReadonlyArray<ReadonlyArray<string>>
  readonly model?: string
  readonly oov: LabelEmbeddings["oov"]
}

/** One row per label from per-label vectors, optionally L2-normalised. */
const toMatrix = (labels: ReadonlyArray<string>, rows: ReadonlyArray<Float32Array>, normalise: boolean): LabelMatrix => {
  const dim = rows[0].length
  const matrix = new Float32Array(labels.length * dim)
  rows.forEach((r, i) => matrix.set(normalise ? meanVector([r], true) : r, i * dim))
  return { labels, dim, matrix }
}

export const LabelEmbedStage = defineStage({
  name: "label-embed",
  // 2: the artifact records its settings (for embedding other labels the same way).
  // 3: one formula for every provider: a label is the mean of its texts' vectors, L2-normalised, rounded to float32 once
  //    (word vectors rounded the mean before normalising).
  version: 3,
  description: "Embeds each label of a data set (templates, augmentation) with word vectors, an ONNX sentence model, an HTTP service, or a precomputed file",
  params: LabelEmbedParams,
  inputs: {
    dataset: Input.optional(Input.node(DatasetCodec)),
    /** precomputed: the embeddings file. */
    file: Input.optional(Input.file()),
    /** onnx: a sentence-transformers folder (tokenizer.json, model.onnx or onnx/model.onnx). */
    model: Input.optional(Input.dir({ glob: "{tokenizer.json,sentence_bert_config.json,model.onnx,onnx/model.onnx}" })),
  },
  output: LabelEmbeddingsCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const p = ctx.params
      const dataset = ctx.inputs.dataset
      const file = ctx.inputs.file
      const datasetName = dataset?.value.name ?? p.name ?? (file !== undefined ? path.basename(file.path).replace(/\.[^.]+$/, "") : ctx.nodeId)
      const wanted: ReadonlyArray<string> | undefined = p.labels ?? dataset?.value.labels
      const normalise = p.normalise ?? p.provider !== "precomputed"

      const embedded: Embedded =
        p.provider === "precomputed"
          ? yield* precomputed(p, file?.path, wanted)
          : yield* Effect.flatMap(embedderLayer(p, ctx.inputs.model?.path, ctx.threads, ctx.progress.warn), (layer) =>
              embedLabels(p, wanted, normalise, ctx.progress.warn).pipe(Effect.provide(layer), Effect.mapError((e) => (e instanceof StageError ? e : stageError("label embeddings")(e)))),
            )
      for (const o of embedded.oov) {
        yield* ctx.progress.warn(`${datasetName}: label ${JSON.stringify(o.label)}: ${o.words.map((w) => JSON.stringify(w)).join(", ")} not in the word vectors (text ${JSON.stringify(o.text)})`)
      }
      const m = embedded.matrix
      yield* Effect.mapError(writeNpyFloat32(path.join(ctx.outDir, EMBEDDINGS_FILE), [m.labels.length, m.dim], m.matrix), stageError(`writing ${EMBEDDINGS_FILE}`))
      yield* ctx.progress.note(`${datasetName}: ${m.labels.length} labels embedded (${p.provider}, dim ${m.dim})`)
      const value: LabelEmbeddings = {
        dataset: datasetName,
        provider: p.provider,
        ...(embedded.model !== undefined ? { model: embedded.model } : {}),
        labels: [...m.labels],
        texts: embedded.texts.map((t) => [...t]),
        dim: m.dim,
        normalised: normalise,
        file: EMBEDDINGS_FILE,
        oov: [...embedded.oov],
        settings: {
          ...(({ labels: _labels, name: _name, ...rest }) => rest)(p),
          ...(file !== undefined ? { file: file.path } : {}),
          ...(ctx.inputs.model !== undefined ? { model_dir: ctx.inputs.model.path } : {}),
        },
      }
      return value
    }),
})

const requireLabels = (wanted: ReadonlyArray<string> | undefined, provider: string): Effect.Effect<ReadonlyArray<string>, StageError> =>
  wanted === undefined
    ? Effect.fail(fail(`provider ${provider} needs labels: connect a dataset input or give the labels param`))
    : wanted.length === 0
      ? Effect.fail(fail("the label list is empty"))
      : Effect.succeed(wanted)

const textsFor = (p: LabelEmbedParams, labels: ReadonlyArray<string>) => Effect.mapError(labelTexts(labels, p.template, p.augmentation), stageError("label texts"))

const precomputed = (p: LabelEmbedParams, file: string | undefined, wanted: ReadonlyArray<string> | undefined): Effect.Effect<Embedded, StageError> =>
  Effect.gen(function* () {
    if (file === undefined) return yield* fail("provider precomputed needs the `file` input (an .npz, .npy or .json of label embeddings)")
    if (p.template !== DEFAULT_TEMPLATE || p.augmentation !== undefined) {
      return yield* fail("template and augmentation do not apply to precomputed embeddings (the file already holds the vectors)")
    }
    const all = yield* Effect.mapError(
      readLabelMatrix(file, { labelsKey: p.labels_key, featuresKey: p.features_key, ...(wanted !== undefined ? { labels: wanted } : {}) }),
      stageError("reading precomputed label embeddings"),
    )
    if (all.labels.length === 0) return yield* fail(`${file}: holds no labels`)
    const empty = all.labels.findIndex((l) => l.trim().length === 0)
    if (empty >= 0) return yield* fail(`${file}: label ${empty} is empty`)
    const m = wanted === undefined ? all : yield* Effect.mapError(selectLabels(all, wanted, file), stageError("selecting labels"))
    const matrix = p.normalise === true ? toMatrix(m.labels, m.labels.map((_, i) => m.matrix.subarray(i * m.dim, (i + 1) * m.dim)), true) : m
    return { matrix, texts: m.labels.map((l) => [l]), oov: [] }
  })

/** The provider's Layer, chosen from the params (precomputed reads vectors from a file and needs none). */
const embedderLayer = (
  p: LabelEmbedParams,
  modelDir: string | undefined,
  threads: number,
  warn: (m: string) => Effect.Effect<void>,
): Effect.Effect<Layer.Layer<TextEmbedder, EmbedError>, StageError> => {
  switch (p.provider) {
    case "word-vectors":
      return Effect.succeed(wordVectorsEmbedder)
    case "http":
      if (p.url === undefined || p.model === undefined) return Effect.fail(fail("provider http needs the url and model params"))
      return Effect.succeed(
        httpEmbedder(
          {
            url: p.url,
            model: p.model,
            api: p.api,
            batchSize: p.batch_size,
            retries: p.retries,
            timeoutMs: p.timeout_ms,
            backoffMs: p.backoff_ms,
            ...(p.api_key_env !== undefined ? { apiKeyEnv: p.api_key_env } : {}),
          },
          warn,
        ),
      )
    case "onnx":
      if (modelDir === undefined) return Effect.fail(fail("provider onnx needs the `model` input (a sentence-transformers folder with tokenizer.json and model.onnx)"))
      if (!fs.existsSync(modelDir)) return Effect.fail(fail(`model folder ${modelDir} does not exist`))
      return Effect.succeed(
        onnxEmbedder({ modelDir, batchSize: p.batch_size, threads, ...(p.max_length !== undefined ? { maxLength: p.max_length } : {}) }).pipe(
          Layer.provide(OnnxRuntimeLive),
        ),
      )
    case "precomputed":
      return Effect.fail(fail("internal: precomputed embeddings are read from a file, not embedded"))
  }
}

/**
 * Labels through a TextEmbedder: each label's texts (template x expansions) embedded, a text without a vector warned
 * about, and each label the mean of its texts' vectors; a label none of whose texts has a vector is an error.
 */
const embedLabels = (
  p: LabelEmbedParams,
  wanted: ReadonlyArray<string> | undefined,
  normalise: boolean,
  warn: (m: string) => Effect.Effect<void>,
): Effect.Effect<Embedded, StageError, TextEmbedder> =>
  Effect.gen(function* () {
    const embedder = yield* TextEmbedder
    const labels = yield* requireLabels(wanted, p.provider)
    const texts = yield* textsFor(p, labels)
    const results = yield* Effect.mapError(embedder.embed(texts.flat()), stageError(`${p.provider} embeddings`))
    const oov: Array<LabelEmbeddings["oov"][number]> = []
    const rows: Array<Float32Array> = []
    let at = 0
    for (let i = 0; i < labels.length; i++) {
      const vectors: Array<Float32Array> = []
      for (const text of texts[i]) {
        const r = results[at++]
        if (r.oov.length > 0) oov.push({ label: labels[i], text, words: [...r.oov] })
        if ("error" in r) yield* warn(`label ${JSON.stringify(labels[i])}: ${r.error}`)
        else vectors.push(r.vector)
      }
      if (vectors.length === 0) {
        // Only word vectors leave single texts without a vector (the other providers embed all or fail).
        return yield* fail(`label ${JSON.stringify(labels[i])}: none of its words is in the word vectors (${texts[i].map((t) => JSON.stringify(t)).join(", ")}); use augmentation to give it known words`)
      }
      rows.push(meanVector(vectors, normalise))
    }
    return { matrix: toMatrix(labels, rows, false), texts, ...(embedder.model !== undefined ? { model: embedder.model } : {}), oov }
  })
