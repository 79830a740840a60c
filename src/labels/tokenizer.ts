/**
 * The BERT WordPiece tokenizer of a sentence-transformers model folder, read from its tokenizer.json (Hugging Face
 * `tokenizers` format): BertNormalizer (clean text, CJK spacing, accents, lowercase), BertPreTokenizer (whitespace and
 * punctuation), WordPiece (greedy longest match, "##" continuation), [CLS] ... [SEP] post-processing, truncation.
 * Other tokenizer types are refused with a message naming the field.
 */
import { Data, Either, ParseResult, Schema } from "effect"

export class TokenizerError extends Data.TaggedError("TokenizerError")<{ readonly message: string }> {}

const Normalizer = Schema.Struct({
  type: Schema.Literal("BertNormalizer"),
  clean_text: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  handle_chinese_chars: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  strip_accents: Schema.optionalWith(Schema.NullOr(Schema.Boolean), { default: () => null }),
  lowercase: Schema.optionalWith(Schema.Boolean, { default: () => true }),
})
const PreTokenizer = Schema.Struct({ type: Schema.Literal("BertPreTokenizer", "Whitespace", "WhitespaceSplit") })
const WordPiece = Schema.Struct({
  type: Schema.Literal("WordPiece"),
  unk_token: Schema.String,
  continuing_subword_prefix: Schema.optionalWith(Schema.String, { default: () => "##" }),
  max_input_chars_per_word: Schema.optionalWith(Schema.Number, { default: () => 100 }),
  vocab: Schema.Record({ key: Schema.String, value: Schema.Number }),
})
const TemplatePiece = Schema.Union(
  Schema.Struct({ SpecialToken: Schema.Struct({ id: Schema.String, type_id: Schema.Number }) }),
  Schema.Struct({ Sequence: Schema.Struct({ id: Schema.String, type_id: Schema.Number }) }),
)
const PostProcessor = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("TemplateProcessing"),
    single: Schema.Array(TemplatePiece),
    special_tokens: Schema.Record({ key: Schema.String, value: Schema.Struct({ ids: Schema.Array(Schema.Number) }) }),
  }),
  Schema.Struct({
    type: Schema.Literal("BertProcessing"),
    sep: Schema.Tuple(Schema.String, Schema.Number),
    cls: Schema.Tuple(Schema.String, Schema.Number),
  }),
)
export const TokenizerJson = Schema.Struct({
  truncation: Schema.optional(Schema.NullOr(Schema.Struct({ max_length: Schema.Number }))),
  padding: Schema.optional(Schema.NullOr(Schema.Struct({ pad_id: Schema.optional(Schema.Number) }))),
  normalizer: Schema.NullOr(Normalizer),
  pre_tokenizer: Schema.NullOr(PreTokenizer),
  model: WordPiece,
  post_processor: Schema.NullOr(PostProcessor),
})
export type TokenizerJson = typeof TokenizerJson.Type

export interface Encoded {
  readonly ids: ReadonlyArray<number>
}

const isControl = (c: string): boolean => {
  if (c === "\t" || c === "\n" || c === "\r") return false
  return /\p{Cc}|\p{Cf}/u.test(c)
}
const isWhitespace = (c: string): boolean => c === " " || c === "\t" || c === "\n" || c === "\r" || /\p{Zs}/u.test(c)
const isPunctuation = (c: string): boolean => {
  const cp = c.codePointAt(0)!
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true
  return /\p{P}/u.test(c)
}
const isCjk = (cp: number): boolean =>
  (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
  (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f)

/** The ids the post-processor puts before and after a single sequence, or what is wrong with it. */
const specialIds = (spec: TokenizerJson): { readonly prefix: ReadonlyArray<number>; readonly suffix: ReadonlyArray<number> } | string => {
  const post = spec.post_processor
  if (post === null) return { prefix: [], suffix: [] }
  if (post.type === "BertProcessing") return { prefix: [post.cls[1]], suffix: [post.sep[1]] }
  const seqAt = post.single.findIndex((p) => "Sequence" in p)
  if (seqAt < 0) return "post_processor.single has no Sequence"
  const idsOf = (pieces: ReadonlyArray<(typeof post.single)[number]>): Array<number> | string => {
    const out: Array<number> = []
    for (const p of pieces) {
      if (!("SpecialToken" in p)) return "post_processor.single has two sequences"
      const s = post.special_tokens[p.SpecialToken.id]
      if (s === undefined) return `special token ${p.SpecialToken.id} is not in post_processor.special_tokens`
      out.push(...s.ids)
    }
    return out
  }
  const prefix = idsOf(post.single.slice(0, seqAt))
  if (typeof prefix === "string") return prefix
  const suffix = idsOf(post.single.slice(seqAt + 1))
  if (typeof suffix === "string") return suffix
  return { prefix, suffix }
}

export class WordPieceTokenizer {
  readonly maxLength: number
  readonly padId: number
  private readonly vocab: ReadonlyMap<string, number>
  private readonly prefixIds: ReadonlyArray<number>
  private readonly suffixIds: ReadonlyArray<number>

  private constructor(
    private readonly spec: TokenizerJson,
    special: { readonly prefix: ReadonlyArray<number>; readonly suffix: ReadonlyArray<number> },
    maxLength: number | undefined,
  ) {
    this.vocab = new Map(Object.entries(spec.model.vocab))
    this.prefixIds = special.prefix
    this.suffixIds = special.suffix
    this.maxLength = maxLength ?? spec.truncation?.max_length ?? 512
    this.padId = spec.padding?.pad_id ?? this.vocab.get("[PAD]") ?? 0
  }

  /** A tokenizer from the text of a tokenizer.json (`what` names it in errors). */
  static fromJson(text: string, maxLength: number | undefined, what: string): Either.Either<WordPieceTokenizer, TokenizerError> {
    const fail = (message: string) => Either.left(new TokenizerError({ message: `${what}: ${message}` }))
    let raw: unknown
    try {
      raw = JSON.parse(text)
    } catch (cause) {
      return fail(`not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`)
    }
    const decoded = Schema.decodeUnknownEither(TokenizerJson)(raw)
    if (Either.isLeft(decoded)) {
      return fail(`unsupported tokenizer (mea reads BERT WordPiece tokenizers): ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`)
    }
    const spec = decoded.right
    if (!(spec.model.unk_token in spec.model.vocab)) return fail(`unk_token ${spec.model.unk_token} is not in the vocabulary`)
    const special = specialIds(spec)
    if (typeof special === "string") return fail(special)
    return Either.right(new WordPieceTokenizer(spec, special, maxLength))
  }

  normalize(text: string): string {
    const n = this.spec.normalizer
    if (n === null) return text
    let out = ""
    for (const c of text) {
      const cp = c.codePointAt(0)!
      if (n.clean_text && (cp === 0 || cp === 0xfffd || isControl(c))) continue
      if (n.clean_text && isWhitespace(c)) out += " "
      else if (n.handle_chinese_chars && isCjk(cp)) out += ` ${c} `
      else out += c
    }
    const strip = n.strip_accents ?? n.lowercase
    if (strip) out = out.normalize("NFD").replace(/\p{Mn}/gu, "")
    if (n.lowercase) out = out.toLowerCase()
    return out
  }

  preTokenize(text: string): ReadonlyArray<string> {
    const words: Array<string> = []
    const bert = this.spec.pre_tokenizer === null || this.spec.pre_tokenizer.type === "BertPreTokenizer"
    let cur = ""
    for (const c of text) {
      if (isWhitespace(c)) {
        if (cur) words.push(cur)
        cur = ""
      } else if (bert && isPunctuation(c)) {
        if (cur) words.push(cur)
        words.push(c)
        cur = ""
      } else cur += c
    }
    if (cur) words.push(cur)
    return words
  }

  wordPiece(word: string): ReadonlyArray<number> {
    const m = this.spec.model
    const unk = [this.vocab.get(m.unk_token)!]
    const chars = [...word]
    if (chars.length > m.max_input_chars_per_word) return unk
    const out: Array<number> = []
    let start = 0
    while (start < chars.length) {
      let end = chars.length
      let found: number | undefined
      while (start < end) {
        const piece = (start > 0 ? m.continuing_subword_prefix : "") + chars.slice(start, end).join("")
        found = this.vocab.get(piece)
        if (found !== undefined) break
        end--
      }
      if (found === undefined) return unk
      out.push(found)
      start = end
    }
    return out
  }

  encode(text: string): Encoded {
    const body = this.preTokenize(this.normalize(text)).flatMap((w) => this.wordPiece(w))
    const room = Math.max(0, this.maxLength - this.prefixIds.length - this.suffixIds.length)
    return { ids: [...this.prefixIds, ...body.slice(0, room), ...this.suffixIds] }
  }
}
