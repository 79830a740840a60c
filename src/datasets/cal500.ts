/**
 * CAL500, official distribution: `songNames.txt` (one `artist-title` per line), `vocab.txt` (174 entries, one per line,
 * emotions written `Emotion-Angry_/_Aggressive`), `hardAnnotations.txt` (one line per song, one comma-separated 0/1 per
 * vocab entry) and `mp3/<song name>.mp3`. Only the 17 emotion labels of the reference are kept (vocab.txt also has
 * `Emotion-Laid-back_/_Mellow`, which the reference does not use, and the `NOT-Emotion-...` negations).
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import type { StageError } from "../runtime/stage.ts"
import { CAL500_LABELS, cal500LabelOfVocabEntry } from "./vocabularies.ts"
import { dropDuplicates, type Parsed, type ParsedTrack, type Problem } from "./types.ts"
import { isBlank, numberedLines, readText } from "./text.ts"

export interface Cal500Options {
  readonly songNames: string
  readonly vocab: string
  readonly annotations: string
  readonly audioDir: string
}

export const CAL500_DEFAULTS: Cal500Options = {
  songNames: "songNames.txt",
  vocab: "vocab.txt",
  annotations: "hardAnnotations.txt",
  audioDir: "mp3",
}

export const parseCal500 = (
  files: { readonly songNames: string; readonly vocab: string; readonly annotations: string },
  options: Cal500Options = CAL500_DEFAULTS,
): Parsed => {
  const problems: Array<Problem> = []
  const songs = numberedLines(files.songNames).filter((l) => !isBlank(l.line))
  const vocab = numberedLines(files.vocab).filter((l) => !isBlank(l.line)).map((l) => l.line.trim())
  const rows = numberedLines(files.annotations)
  const known = new Set(CAL500_LABELS)
  // Column index -> reference label, for the emotion columns the reference keeps.
  const labelOfColumn = vocab.map((entry) => {
    const label = cal500LabelOfVocabEntry(entry)
    return label !== undefined && known.has(label) ? label : undefined
  })
  const found = new Set(labelOfColumn.filter((l): l is string => l !== undefined))
  const absent = CAL500_LABELS.filter((l) => !found.has(l))
  if (absent.length > 0) {
    problems.push({
      file: options.vocab,
      reason: `missing emotion entries for ${absent.map((l) => JSON.stringify(l)).join(", ")} (expected e.g. "Emotion-Angry_/_Aggressive")`,
      fatal: true,
    })
  }
  const dataRows = rows.filter((r) => !isBlank(r.line))
  if (dataRows.length !== songs.length) {
    problems.push({
      file: options.annotations,
      reason: `expected one line per song of ${options.songNames} (${songs.length}), found ${dataRows.length}`,
      fatal: true,
    })
  }
  if (problems.length > 0) return { tracks: [], problems }
  const tracks: Array<ParsedTrack> = []
  songs.forEach((song, i) => {
    const { n, line } = dataRows[i]
    const source = `${options.annotations}:${n}`
    const id = song.line.trim()
    const cells = line.split(",").map((c) => c.trim())
    if (cells.length !== vocab.length) {
      problems.push({
        id,
        file: source,
        reason: `expected ${vocab.length} comma-separated values (one per ${options.vocab} entry), found ${cells.length}`,
      })
      return
    }
    const bad = cells.findIndex((c) => c !== "0" && c !== "1")
    if (bad >= 0) {
      problems.push({ id, file: source, reason: `value ${bad + 1} (${vocab[bad]}) must be 0 or 1, found ${JSON.stringify(cells[bad])}` })
      return
    }
    const labels = CAL500_LABELS.filter((label) => labelOfColumn.some((l, c) => l === label && cells[c] === "1"))
    tracks.push({ id, path: `${options.audioDir}/${id}`, labels, source: `${options.songNames}:${song.n}` })
  })
  const deduped = dropDuplicates(tracks)
  return { tracks: deduped.tracks, problems: [...problems, ...deduped.problems] }
}

export const loadCal500 = (
  root: string,
  options: Cal500Options = CAL500_DEFAULTS,
): Effect.Effect<Parsed, StageError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const songNames = yield* readText(path.join(root, options.songNames))
    const vocab = yield* readText(path.join(root, options.vocab))
    const annotations = yield* readText(path.join(root, options.annotations))
    return parseCal500({ songNames, vocab, annotations }, options)
  })
