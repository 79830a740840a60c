/**
 * A local sentence-transformers model: tokenizer.json + an ONNX export of the transformer (model.onnx or
 * onnx/model.onnx), run with onnxruntime-node through the project's ONNX service. Like sentence-transformers:
 * mean pooling of the token embeddings over the attention mask, then (when asked) L2 normalisation. A model whose
 * output is already pooled (rank 2, e.g. `sentence_embedding`) is used as is.
 */
import { Effect, type Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { int64Tensor, OnnxError, OnnxRuntime, type OnnxSession, type Tensor } from "../../onnx/runtime.ts"
import { type TextEmbedder, textEmbedderLayer, wholeEmbedder } from "../embedder.ts"
import { WordPieceTokenizer } from "../tokenizer.ts"

export interface OnnxEmbedOptions {
  readonly modelDir: string
  readonly batchSize: number
  readonly maxLength?: number
  readonly threads?: number
}

/** The model folder's files: tokenizer.json, model.onnx (or onnx/model.onnx), and max_seq_length if given. */
export const resolveModelDir = (dir: string): Effect.Effect<{ readonly tokenizer: string; readonly model: string; readonly maxSeqLength?: number }, OnnxError> =>
  Effect.gen(function* () {
    const tokenizer = path.join(dir, "tokenizer.json")
    if (!fs.existsSync(tokenizer)) return yield* Effect.fail(new OnnxError({ message: `${dir}: no tokenizer.json (expected a sentence-transformers model folder)` }))
    const model = [path.join(dir, "model.onnx"), path.join(dir, "onnx", "model.onnx")].find((f) => fs.existsSync(f))
    if (model === undefined) return yield* Effect.fail(new OnnxError({ message: `${dir}: no model.onnx or onnx/model.onnx` }))
    const cfg = path.join(dir, "sentence_bert_config.json")
    if (!fs.existsSync(cfg)) return { tokenizer, model }
    const parsed = yield* Effect.try({
      try: (): unknown => JSON.parse(fs.readFileSync(cfg, "utf8")),
      catch: (e) => new OnnxError({ message: `${cfg}: not readable JSON: ${e instanceof Error ? e.message : String(e)}` }),
    })
    const m = typeof parsed === "object" && parsed !== null && "max_seq_length" in parsed ? Number(parsed.max_seq_length) : NaN
    return Number.isInteger(m) && m > 0 ? { tokenizer, model, maxSeqLength: m } : { tokenizer, model }
  })

const pick = (session: OnnxSession): { readonly name: string } => {
  const preferred = ["sentence_embedding", "last_hidden_state", "token_embeddings"]
  for (const p of preferred) if (session.outputs.some((o) => o.name === p)) return { name: p }
  return { name: session.outputs[0].name }
}

const embedBatch = (session: OnnxSession, tokenizer: WordPieceTokenizer, texts: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Float32Array>, OnnxError> =>
  Effect.gen(function* () {
    const encoded = texts.map((t) => tokenizer.encode(t).ids)
    const b = texts.length
    const seq = Math.max(...encoded.map((e) => e.length))
    const ids = new BigInt64Array(b * seq).fill(BigInt(tokenizer.padId))
    const mask = new BigInt64Array(b * seq)
    encoded.forEach((e, i) =>
      e.forEach((id, t) => {
        ids[i * seq + t] = BigInt(id)
        mask[i * seq + t] = 1n
      }),
    )
    const feeds: Record<string, Tensor> = {}
    for (const input of session.inputs) {
      if (input.name === "input_ids") feeds[input.name] = int64Tensor(ids, [b, seq])
      else if (input.name === "attention_mask") feeds[input.name] = int64Tensor(mask, [b, seq])
      else if (input.name === "token_type_ids") feeds[input.name] = int64Tensor(new BigInt64Array(b * seq), [b, seq])
      else return yield* new OnnxError({ message: `${session.path}: unexpected model input '${input.name}' (expected input_ids, attention_mask, token_type_ids)` })
    }
    if (feeds.input_ids === undefined) return yield* new OnnxError({ message: `${session.path}: the model has no input_ids input` })
    const { name } = pick(session)
    const out = (yield* session.run(feeds, [name]))[name]
    const data = out.data
    if (!(data instanceof Float32Array)) return yield* new OnnxError({ message: `${session.path}: output '${name}' is ${out.type}, expected float32` })
    const dims = out.dims
    if (dims.length === 2 && dims[0] === b) {
      const d = dims[1]
      return texts.map((_, i) => data.slice(i * d, (i + 1) * d))
    }
    if (dims.length !== 3 || dims[0] !== b || dims[1] !== seq) {
      return yield* new OnnxError({ message: `${session.path}: output '${name}' has shape [${dims.join(", ")}], expected [${b}, ${seq}, dim] or [${b}, dim]` })
    }
    const d = dims[2]
    return texts.map((_, i) => {
      const v = new Float64Array(d)
      let count = 0
      for (let t = 0; t < seq; t++) {
        if (mask[i * seq + t] === 0n) continue
        count++
        const base = (i * seq + t) * d
        for (let k = 0; k < d; k++) v[k] += data[base + k]
      }
      return Float32Array.from(v, (x) => x / Math.max(count, 1))
    })
  })

/** Embeds texts in batches (not normalised; the caller normalises after averaging expansions). */
export const onnxEmbed = (
  texts: ReadonlyArray<string>,
  options: OnnxEmbedOptions,
  onBatch: (n: number) => Effect.Effect<void> = () => Effect.void,
): Effect.Effect<ReadonlyArray<Float32Array>, OnnxError, OnnxRuntime> =>
  Effect.scoped(
    Effect.gen(function* () {
      const files = yield* resolveModelDir(options.modelDir)
      const text = yield* Effect.try({
        try: () => fs.readFileSync(files.tokenizer, "utf8"),
        catch: (e) => new OnnxError({ message: `${files.tokenizer}: ${e instanceof Error ? e.message : String(e)}` }),
      })
      const tokenizer = yield* Effect.mapError(
        WordPieceTokenizer.fromJson(text, options.maxLength ?? files.maxSeqLength, files.tokenizer),
        (e) => new OnnxError({ message: e.message, cause: e }),
      )
      const runtime = yield* OnnxRuntime
      const session = yield* runtime.session(files.model, options.threads !== undefined ? { threads: options.threads } : {})
      const out: Array<Float32Array> = []
      for (let s = 0; s < texts.length; s += options.batchSize) {
        const batch = texts.slice(s, s + options.batchSize)
        out.push(...(yield* embedBatch(session, tokenizer, batch)))
        yield* onBatch(batch.length)
      }
      return out
    }),
  )

/** A local sentence-transformers ONNX model as a TextEmbedder (needs the OnnxRuntime service). */
export const onnxEmbedder = (options: OnnxEmbedOptions): Layer.Layer<TextEmbedder, never, OnnxRuntime> =>
  textEmbedderLayer(wholeEmbedder(path.basename(options.modelDir), (texts) => onnxEmbed(texts, options)))
