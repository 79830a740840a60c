/**
 * Embeddings from an HTTP service: an OpenAI-compatible `/v1/embeddings` endpoint or Ollama's `/api/embed`.
 * Texts go in batches; 429, 5xx, timeouts and connection failures are retried with exponential backoff (honouring
 * Retry-After); an answer that does not have the expected shape fails at once. The API key is read from the
 * environment variable the params name and is never logged, put in an error, or made part of a cache key.
 */
import { Data, Duration, Effect, Either, type Layer, ParseResult, Schema } from "effect"
import { type TextEmbedder, textEmbedderLayer, wholeEmbedder } from "../embedder.ts"

export class HttpEmbedError extends Data.TaggedError("HttpEmbedError")<{ readonly message: string }> {}

export type ApiStyle = "openai" | "ollama"

export interface HttpOptions {
  readonly url: string
  readonly model: string
  readonly api: ApiStyle
  readonly batchSize: number
  readonly retries: number
  readonly timeoutMs: number
  readonly backoffMs: number
  /** Name of the environment variable holding the API key (the key itself is never passed around). */
  readonly apiKeyEnv?: string
  /** For reading the key; tests pass their own. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

const OpenAiBody = Schema.Struct({
  data: Schema.Array(Schema.Struct({ embedding: Schema.Array(Schema.Number), index: Schema.optional(Schema.Number) })),
})
const OllamaBody = Schema.Struct({ embeddings: Schema.Array(Schema.Array(Schema.Number)) })

export const endpointOf = (url: string, api: ApiStyle): string => {
  const base = url.replace(/\/+$/, "")
  if (api === "openai") return /\/embeddings$/.test(base) ? base : /\/v1$/.test(base) ? `${base}/embeddings` : `${base}/v1/embeddings`
  return /\/api\/embed$/.test(base) ? base : `${base}/api/embed`
}

type Attempt =
  | { readonly _tag: "ok"; readonly vectors: ReadonlyArray<ReadonlyArray<number>> }
  | { readonly _tag: "retry"; readonly reason: string; readonly waitMs?: number }
  | { readonly _tag: "fatal"; readonly reason: string }

const retryAfterMs = (h: string | null): number | undefined => {
  if (h === null) return undefined
  const s = Number(h)
  if (Number.isFinite(s)) return Math.max(0, s * 1000)
  const t = Date.parse(h)
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now())
}

const parseBody = (text: string, api: ApiStyle, expected: number): Attempt => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { _tag: "fatal", reason: `answer is not JSON (starts with ${JSON.stringify(text.slice(0, 80))})` }
  }
  const decoded =
    api === "openai"
      ? Either.map(Schema.decodeUnknownEither(OpenAiBody)(json), (b) =>
          [...b.data].sort((x, y) => (x.index ?? 0) - (y.index ?? 0)).map((d) => d.embedding),
        )
      : Either.map(Schema.decodeUnknownEither(OllamaBody)(json), (b) => b.embeddings)
  if (Either.isLeft(decoded)) {
    const shape = api === "openai" ? `{"data": [{"embedding": [numbers]}]}` : `{"embeddings": [[numbers]]}`
    return { _tag: "fatal", reason: `answer does not have the shape ${shape}: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}` }
  }
  const vectors = decoded.right
  if (vectors.length !== expected) return { _tag: "fatal", reason: `asked for ${expected} embeddings, got ${vectors.length}` }
  const dim = vectors[0]?.length ?? 0
  if (dim === 0) return { _tag: "fatal", reason: "got empty embeddings" }
  const bad = vectors.findIndex((v) => v.length !== dim)
  if (bad >= 0) return { _tag: "fatal", reason: `embedding ${bad} has ${vectors[bad].length} values, the first has ${dim}` }
  return { _tag: "ok", vectors }
}

const postOnce = (endpoint: string, body: string, headers: Record<string, string>, opts: HttpOptions, expected: number): Effect.Effect<Attempt> =>
  Effect.promise(async (): Promise<Attempt> => {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), opts.timeoutMs)
    try {
      const res = await fetch(endpoint, { method: "POST", headers, body, signal: controller.signal })
      const text = await res.text()
      if (res.status === 429 || res.status >= 500) {
        const waitMs = retryAfterMs(res.headers.get("retry-after"))
        return { _tag: "retry", reason: `HTTP ${res.status}`, ...(waitMs !== undefined ? { waitMs } : {}) }
      }
      if (!res.ok) return { _tag: "fatal", reason: `HTTP ${res.status}: ${text.slice(0, 200)}` }
      return parseBody(text, opts.api, expected)
    } catch (cause) {
      if (controller.signal.aborted) return { _tag: "retry", reason: `no answer within ${opts.timeoutMs} ms` }
      const c = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause)
      return { _tag: "retry", reason: `request failed: ${c}` }
    } finally {
      clearTimeout(timer)
    }
  })

/** Embeds `texts` in order. `onRetry` hears about each retry (for progress warnings). */
export const httpEmbed = (
  texts: ReadonlyArray<string>,
  opts: HttpOptions,
  onRetry: (message: string) => Effect.Effect<void> = () => Effect.void,
): Effect.Effect<ReadonlyArray<Float32Array>, HttpEmbedError> => {
  // A server may echo the request (Authorization header included) in an error body, which then reaches messages:
  // every text that leaves this function has the key blanked out.
  const key = opts.apiKeyEnv === undefined ? undefined : (opts.env ?? process.env)[opts.apiKeyEnv]
  const redact = (text: string): string => (key === undefined || key.length < 4 ? text : text.replaceAll(key, "[api key]"))
  return embedWithKey(texts, opts, (m) => onRetry(redact(m))).pipe(Effect.mapError((e) => new HttpEmbedError({ message: redact(e.message) })))
}

const embedWithKey = (
  texts: ReadonlyArray<string>,
  opts: HttpOptions,
  onRetry: (message: string) => Effect.Effect<void>,
): Effect.Effect<ReadonlyArray<Float32Array>, HttpEmbedError> =>
  Effect.gen(function* () {
    const endpoint = endpointOf(opts.url, opts.api)
    const headers: Record<string, string> = { "content-type": "application/json" }
    if (opts.apiKeyEnv !== undefined) {
      const key = (opts.env ?? process.env)[opts.apiKeyEnv]
      if (key === undefined || key === "") {
        return yield* new HttpEmbedError({ message: `environment variable ${opts.apiKeyEnv} (api_key_env) is not set` })
      }
      headers.authorization = `Bearer ${key}`
    }
    const out: Array<Float32Array> = []
    for (let start = 0; start < texts.length; start += opts.batchSize) {
      const batch = texts.slice(start, start + opts.batchSize)
      const body = JSON.stringify({ model: opts.model, input: batch })
      let attempt = 0
      for (;;) {
        const result = yield* postOnce(endpoint, body, headers, opts, batch.length)
        if (result._tag === "ok") {
          if (out.length > 0 && result.vectors[0].length !== out[0].length) {
            return yield* new HttpEmbedError({ message: `${endpoint}: batch at text ${start} has dimension ${result.vectors[0].length}, earlier ones ${out[0].length}` })
          }
          for (const v of result.vectors) out.push(Float32Array.from(v))
          break
        }
        if (result._tag === "fatal") {
          return yield* new HttpEmbedError({ message: `${endpoint} (model ${opts.model}, texts ${start}..${start + batch.length - 1}): ${result.reason}` })
        }
        if (attempt >= opts.retries) {
          return yield* new HttpEmbedError({
            message: `${endpoint} (model ${opts.model}): gave up after ${attempt + 1} attempts, last: ${result.reason}`,
          })
        }
        const waitMs = result.waitMs ?? opts.backoffMs * 2 ** attempt
        yield* onRetry(`${endpoint}: ${result.reason}; retry ${attempt + 1}/${opts.retries} in ${Math.round(waitMs)} ms`)
        yield* Effect.sleep(Duration.millis(waitMs))
        attempt++
      }
    }
    return out
  })

/** An embeddings service over HTTP as a TextEmbedder; `onRetry` hears about each retry. */
export const httpEmbedder = (opts: HttpOptions, onRetry: (message: string) => Effect.Effect<void>): Layer.Layer<TextEmbedder> =>
  textEmbedderLayer(wholeEmbedder(opts.model, (texts) => httpEmbed(texts, opts, onRetry)))
