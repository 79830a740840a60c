/**
 * MTG-Jamendo mood/theme, official form: `autotagging_moodtheme.tsv` and
 * `splits/split-0/autotagging_moodtheme-{train,validation,test}.tsv`, tab-separated
 * TRACK_ID, ARTIST_ID, ALBUM_ID, PATH, DURATION, TAG [TAG ...], tags written `mood/theme---happy`.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { StageError } from "../runtime/stage.ts"
import { dropDuplicates, SPLITS, type Parsed, type ParsedTrack, type Problem, type Split } from "./types.ts"
import { isBlank, numberedLines, readText } from "./text.ts"

export const MTG_HEADER = ["TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS"] as const
const TAG_PREFIX = "mood/theme---"

/** `track_0000948` -> `948`, the id the reference JSON files use; other ids are kept as written. */
export const mtgTrackId = (raw: string): string => {
  const m = /^track_0*(\d+)$/.exec(raw)
  return m === null ? raw : m[1] === "" ? "0" : m[1]
}

/** Parses one TSV. `split` is the split every row belongs to (a split file), or undefined (the full list). */
export const parseMtgTsv = (text: string, file: string, split?: Split): Parsed => {
  const lines = numberedLines(text)
  const tracks: Array<ParsedTrack> = []
  const problems: Array<Problem> = []
  const header = lines[0]?.line.split("\t") ?? []
  if (header.length < MTG_HEADER.length || MTG_HEADER.some((h, i) => header[i]?.trim() !== h)) {
    problems.push({
      file: `${file}:1`,
      reason: `expected the header ${MTG_HEADER.join("\\t")}, found ${JSON.stringify(lines[0]?.line ?? "")}`,
      fatal: true,
    })
    return { tracks, problems }
  }
  for (const { n, line } of lines.slice(1)) {
    if (isBlank(line)) continue
    const source = `${file}:${n}`
    const cols = line.split("\t")
    if (cols.length < MTG_HEADER.length) {
      problems.push({
        file: source,
        reason: `expected at least ${MTG_HEADER.length} tab-separated columns (${MTG_HEADER.join(", ")}), found ${cols.length}`,
      })
      continue
    }
    const id = mtgTrackId(cols[0].trim())
    const duration = Number(cols[4])
    if (cols[4].trim() === "" || !Number.isFinite(duration) || duration < 0) {
      problems.push({ id, file: source, reason: `DURATION must be a non-negative number, found ${JSON.stringify(cols[4])}` })
      continue
    }
    const labels = cols
      .slice(5)
      .map((t) => t.trim())
      .filter((t) => t.startsWith(TAG_PREFIX))
      .map((t) => t.slice(TAG_PREFIX.length))
    if (labels.length === 0) {
      problems.push({ id, file: source, reason: `no ${TAG_PREFIX}* tag among ${JSON.stringify(cols.slice(5))}` })
      continue
    }
    tracks.push({ id, path: cols[3].trim(), labels: [...new Set(labels)], duration, source, ...(split ? { split } : {}) })
  }
  return { tracks, problems }
}

export interface MtgOptions {
  /** The full list, used only when the split folder is absent (a seeded split is then drawn). */
  readonly metadata: string
  /** Folder (relative to the data set root) of the official split files. */
  readonly splitDir: string
}

export const MTG_DEFAULTS: MtgOptions = { metadata: "autotagging_moodtheme.tsv", splitDir: "splits/split-0" }

const splitFile = (options: MtgOptions, split: Split): string =>
  `${options.splitDir}/${options.metadata.replace(/\.tsv$/, "")}-${split}.tsv`

/** Reads the split files when all three exist, else the full list. */
export const loadMtg = (
  root: string,
  options: MtgOptions = MTG_DEFAULTS,
): Effect.Effect<Parsed, StageError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const splitPaths = SPLITS.map((s) => [s, splitFile(options, s)] as const)
    const exists = yield* Effect.forEach(splitPaths, ([, p]) => fs.exists(path.join(root, p)).pipe(Effect.orElseSucceed(() => false)))
    const parts: Array<Parsed> = []
    if (exists.every((e) => e)) {
      for (const [split, rel] of splitPaths) {
        const parsed = parseMtgTsv(yield* readText(path.join(root, rel)), rel, split)
        // An empty split would surface much later as a model with nothing to validate or test on.
        if (parsed.tracks.length === 0 && parsed.problems.length === 0) {
          return yield* Effect.fail(new StageError({ message: `${rel}: no track rows (expected the header, then one row per ${split} track)` }))
        }
        parts.push(parsed)
      }
    } else if (exists.some((e) => e)) {
      const missing = splitPaths.filter((_, i) => !exists[i]).map(([, p]) => p)
      return yield* Effect.fail(new StageError({ message: `mtg-jamendo: incomplete split folder in ${root}: missing ${missing.join(", ")}` }))
    } else {
      parts.push(parseMtgTsv(yield* readText(path.join(root, options.metadata)), options.metadata))
    }
    const deduped = dropDuplicates(parts.flatMap((p) => p.tracks))
    return { tracks: deduped.tracks, problems: [...parts.flatMap((p) => p.problems), ...deduped.problems] }
  })
