/**
 * Emotify, official form: `data.csv` with one row per listener rating (track id, genre, one 0/1 column per GEMS label,
 * then mood, liked, disliked, age, gender, mother tongue), and audio in genre folders, `<genre>/<n>.mp3` where n counts
 * from 1 within the genre (track ids 1-100 classical, 101-200 rock, 201-300 electronic, 301-400 pop).
 * A track's labels are the `top` GEMS labels chosen by most listeners (ties: vocabulary order; never a label no one chose).
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import type { StageError } from "../runtime/stage.ts"
import { EMOTIFY_LABELS } from "./vocabularies.ts"
import type { Parsed, ParsedTrack, Problem } from "./types.ts"
import { isBlank, numberedLines, readText } from "./text.ts"

export interface EmotifyOptions {
  readonly metadata: string
  readonly top: number
  /** Tracks per genre in the id numbering (the file number is ((id - 1) mod perGenre) + 1). */
  readonly perGenre: number
}

export const EMOTIFY_DEFAULTS: EmotifyOptions = { metadata: "data.csv", top: 3, perGenre: 100 }

const normalise = (h: string): string => h.trim().toLowerCase().replace(/[\s_]+/g, "_")

export const parseEmotifyCsv = (text: string, options: EmotifyOptions = EMOTIFY_DEFAULTS): Parsed => {
  const file = options.metadata
  const lines = numberedLines(text)
  const problems: Array<Problem> = []
  const header = (lines[0]?.line ?? "").split(",").map(normalise)
  const idCol = header.indexOf("track_id")
  const genreCol = header.indexOf("genre")
  const labelCols = EMOTIFY_LABELS.map((l) => header.indexOf(normalise(l)))
  const missing = [
    ...(idCol < 0 ? ["track id"] : []),
    ...(genreCol < 0 ? ["genre"] : []),
    ...EMOTIFY_LABELS.filter((_, i) => labelCols[i] < 0),
  ]
  if (missing.length > 0) {
    return { tracks: [], problems: [{ file: `${file}:1`, reason: `header lacks the column(s) ${missing.join(", ")}`, fatal: true }] }
  }
  interface Tally {
    genre: string
    firstLine: number
    readonly counts: Array<number>
    raters: number
  }
  const tallies = new Map<string, Tally>()
  for (const { n, line } of lines.slice(1)) {
    if (isBlank(line)) continue
    const source = `${file}:${n}`
    const cells = line.split(",").map((c) => c.trim())
    if (cells.length !== header.length) {
      problems.push({ file: source, reason: `expected ${header.length} comma-separated columns, found ${cells.length}` })
      continue
    }
    const id = cells[idCol]
    if (!/^\d+$/.test(id)) {
      problems.push({ file: source, reason: `track id must be a positive integer, found ${JSON.stringify(id)}` })
      continue
    }
    const genre = cells[genreCol].toLowerCase()
    const votes = labelCols.map((c) => cells[c])
    const bad = votes.findIndex((v) => v !== "0" && v !== "1")
    if (bad >= 0) {
      problems.push({ id, file: source, reason: `${EMOTIFY_LABELS[bad]} must be 0 or 1, found ${JSON.stringify(votes[bad])}` })
      continue
    }
    let tally = tallies.get(id)
    if (tally === undefined) {
      tally = { genre, firstLine: n, counts: EMOTIFY_LABELS.map(() => 0), raters: 0 }
      tallies.set(id, tally)
    } else if (tally.genre !== genre) {
      problems.push({ id, file: source, reason: `genre ${JSON.stringify(genre)} differs from ${JSON.stringify(tally.genre)} at line ${tally.firstLine}` })
      continue
    }
    tally.raters += 1
    votes.forEach((v, i) => void (tally.counts[i] += v === "1" ? 1 : 0))
  }
  const tracks: Array<ParsedTrack> = []
  for (const [id, t] of [...tallies].sort((a, b) => Number(a[0]) - Number(b[0]))) {
    const ranked = EMOTIFY_LABELS.map((label, i) => ({ label, i, count: t.counts[i] }))
      .filter((r) => r.count > 0)
      .sort((a, b) => b.count - a.count || a.i - b.i)
      .slice(0, options.top)
    const source = `${file}:${t.firstLine}`
    if (ranked.length === 0) {
      problems.push({ id, file: source, reason: `no listener chose any GEMS label for track ${id} (${t.raters} ratings)` })
      continue
    }
    const number = ((Number(id) - 1) % options.perGenre) + 1
    tracks.push({ id, path: `${t.genre}/${number}`, labels: ranked.map((r) => r.label), source })
  }
  return { tracks, problems }
}

export const loadEmotify = (
  root: string,
  options: EmotifyOptions = EMOTIFY_DEFAULTS,
): Effect.Effect<Parsed, StageError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    return parseEmotifyCsv(yield* readText(path.join(root, options.metadata)), options)
  })
