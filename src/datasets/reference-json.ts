/**
 * The original implementation's one-JSON-per-data-set form: `{ "<track id>": { "path": "...", "mood/theme": [labels],
 * "duration"?: seconds, ... } }`. MTG comes as three files (train/validation/test), CAL500 and Emotify as one (split
 * here at random, seeded). Paths are rewritten against a configurable audio root: the reference's paths are absolute
 * paths of its authors' machine, so `pathComponents` keeps only the last N components of each path.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect, ParseResult, Schema } from "effect"
import type { StageError } from "../runtime/stage.ts"
import { dropDuplicates, type Parsed, type ParsedTrack, type Problem, type Split } from "./types.ts"
import { readText } from "./text.ts"

const Entry = Schema.Struct({
  path: Schema.String,
  "mood/theme": Schema.Array(Schema.String),
  duration: Schema.optional(Schema.Number),
})
const decodeEntry = Schema.decodeUnknownEither(Entry)

/** Keeps the last `n` components of a path (POSIX or Windows separators); all of it when n is undefined. */
export const lastComponents = (p: string, n: number | undefined): string => {
  if (n === undefined) return p
  const parts = p.split(/[\\/]+/).filter((c) => c !== "")
  return parts.slice(Math.max(0, parts.length - n)).join("/")
}

export const parseReferenceJson = (
  text: string,
  file: string,
  options: { readonly split?: Split; readonly pathComponents?: number } = {},
): Parsed => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return { tracks: [], problems: [{ file, reason: `not valid JSON: ${e instanceof Error ? e.message : String(e)}`, fatal: true }] }
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { tracks: [], problems: [{ file, reason: `expected an object keyed by track id, found ${Array.isArray(json) ? "an array" : typeof json}`, fatal: true }] }
  }
  const tracks: Array<ParsedTrack> = []
  const problems: Array<Problem> = []
  for (const [id, raw] of Object.entries(json)) {
    const source = `${file}: key ${JSON.stringify(id)}`
    const entry = decodeEntry(raw)
    if (entry._tag === "Left") {
      problems.push({ id, file: source, reason: ParseResult.TreeFormatter.formatErrorSync(entry.left).replace(/\n\s*/g, " ") })
      continue
    }
    const e = entry.right
    tracks.push({
      id,
      path: lastComponents(e.path, options.pathComponents),
      labels: [...new Set(e["mood/theme"])],
      source,
      ...(options.split ? { split: options.split } : {}),
      ...(e.duration !== undefined ? { duration: e.duration } : {}),
    })
  }
  return { tracks, problems }
}

export interface ReferenceJsonFiles {
  /** One file, split at random; or one file per official split. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly split?: Split }>
  readonly pathComponents?: number
}

export const loadReferenceJson = (
  options: ReferenceJsonFiles,
): Effect.Effect<Parsed, StageError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const parts: Array<Parsed> = []
    for (const f of options.files) {
      parts.push(
        parseReferenceJson(yield* readText(f.path), path.basename(f.path), {
          ...(f.split ? { split: f.split } : {}),
          ...(options.pathComponents !== undefined ? { pathComponents: options.pathComponents } : {}),
        }),
      )
    }
    const deduped = dropDuplicates(parts.flatMap((p) => p.tracks))
    return { tracks: deduped.tracks, problems: [...parts.flatMap((p) => p.problems), ...deduped.problems] }
  })

