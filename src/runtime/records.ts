/**
 * The shapes of everything the cache stores, as Effect Schemas: a record read back is decoded, so a truncated or
 * hand-edited file is a typed `CorruptRecord` (reported, then rebuilt), never a silent miss or a wrong value.
 * The same shapes are used by the local folder and by a remote store (S3), so both hold byte-identical records.
 */
import { Data, Either, ParseResult, Schema } from "effect"

export const ManifestFile = Schema.Struct({
  name: Schema.String,
  size: Schema.Number,
  hash: Schema.String,
  head: Schema.String,
  /** Hashes of consecutive blocks of `blockBytes` (integrity.ts: readers check what they read against them). */
  blocks: Schema.optional(Schema.Array(Schema.String)),
})
export type ManifestFile = typeof ManifestFile.Type

/**
 * An artifact's manifest. Fields a newer writer adds (e.g. per-block hashes) are kept in the file and ignored here:
 * readers decode what they know, and a manifest is always copied byte for byte, never re-encoded.
 */
export const Manifest = Schema.Struct({
  hash: Schema.String,
  /** How many leading bytes `head` hashes (absent in manifests written before it was recorded: 1 MiB). */
  headBytes: Schema.optional(Schema.Number),
  /** Block size of the files' `blocks` (absent in manifests written before block hashes were recorded). */
  blockBytes: Schema.optional(Schema.Number),
  /** How `blocks` were hashed (integrity.ts; absent in manifests written before there was a choice: sha256-128). */
  blockHash: Schema.optional(Schema.Literal("sha256-128", "xxh64")),
  files: Schema.Array(ManifestFile),
})
export type Manifest = typeof Manifest.Type

export const InputComponent = Schema.Struct({
  kind: Schema.Literal("node", "file", "dir", "absent"),
  /** Node ids or a path as written in the pipeline (for messages only; not part of the key). */
  from: Schema.optional(Schema.Union(Schema.Array(Schema.String), Schema.String)),
  /** Absolute path of a file/folder input (part of the key). */
  path: Schema.optional(Schema.String),
  hashes: Schema.Array(Schema.String),
})
export type InputComponent = typeof InputComponent.Type

export const KeyComponents = Schema.Struct({
  stage: Schema.String,
  version: Schema.Number,
  params: Schema.Unknown,
  inputs: Schema.Record({ key: Schema.String, value: InputComponent }),
})
export type KeyComponents = typeof KeyComponents.Type

/** key -> output hash, with what the key was computed from. */
export const KeyRecord = Schema.Struct({
  key: Schema.String,
  /** A record that decodes but names no output hash is as garbled as one that does not parse. */
  output: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)),
  node: Schema.String,
  stage: Schema.String,
  components: KeyComponents,
  ms: Schema.Number,
  at: Schema.String,
})
export type KeyRecord = typeof KeyRecord.Type

export const NodeRecord = Schema.Struct({
  pipeline: Schema.String,
  node: Schema.String,
  key: Schema.String,
  output: Schema.UndefinedOr(Schema.String),
  components: KeyComponents,
  at: Schema.String,
})
export type NodeRecord = typeof NodeRecord.Type

export const RunRecord = Schema.Struct({
  pipeline: Schema.String,
  params: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  at: Schema.String,
  nodes: Schema.Array(
    Schema.Struct({ id: Schema.String, stage: Schema.String, key: Schema.String, output: Schema.String, status: Schema.String, ms: Schema.Number }),
  ),
})
export type RunRecord = typeof RunRecord.Type

/** A hashed input folder's listing: [relative path, content hash] pairs. */
export const TreeRecord = Schema.Array(Schema.Tuple(Schema.String, Schema.String))
export type TreeRecord = typeof TreeRecord.Type

/** A record that exists but does not decode: named by where it lives and what was wrong with it. */
export class CorruptRecord extends Data.TaggedError("CorruptRecord")<{
  readonly where: string
  readonly problem: string
}> {
  override get message(): string {
    return `${this.where} is unreadable (${this.problem})`
  }
}

/** Parses and decodes a record's text; `where` names it in the error (a file path or a store URL). */
export const decodeRecord = <A, I>(schema: Schema.Schema<A, I>, text: string, where: string): Either.Either<A, CorruptRecord> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return Either.left(new CorruptRecord({ where, problem: `not JSON: ${e instanceof Error ? e.message : String(e)}` }))
  }
  return Schema.decodeUnknownEither(schema)(json).pipe(
    Either.mapLeft((e) => new CorruptRecord({ where, problem: ParseResult.TreeFormatter.formatErrorSync(e).split("\n").slice(0, 4).join(" ") })),
  )
}
