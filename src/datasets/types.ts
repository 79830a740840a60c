/**
 * What every data set loader produces before the audio is looked at: tracks with paths relative to the data set's
 * audio root, and the row-level problems found (each with its file and line), which the `on_error` policy then turns
 * into a failure or a list of skips.
 */
import { Schema } from "effect"

export const Split = Schema.Literal("train", "validation", "test")
export type Split = typeof Split.Type

export const SPLITS: ReadonlyArray<Split> = ["train", "validation", "test"]

export interface ParsedTrack {
  readonly id: string
  /** Relative to the audio root, or absolute. For formats that do not name the file's extension, without it. */
  readonly path: string
  readonly labels: ReadonlyArray<string>
  /** Absent when the data set has no official split: a seeded 80/10/10 split is drawn. */
  readonly split?: Split
  readonly duration?: number
  /** `file:line` (or `file: key`) of the metadata this track came from, for error messages. */
  readonly source: string
}

export interface Problem {
  readonly id?: string
  /** The metadata or audio file the problem is in, with its line where there is one. */
  readonly file: string
  readonly reason: string
  /** The metadata as a whole is unusable (wrong header, counts that disagree): fails whatever the on_error policy. */
  readonly fatal?: boolean
}

export interface Parsed {
  readonly tracks: ReadonlyArray<ParsedTrack>
  readonly problems: ReadonlyArray<Problem>
}

/** Tracks whose labels are all known; an unknown label is a problem naming the label and the vocabulary. */
export const checkLabels = (
  track: ParsedTrack,
  vocabulary: ReadonlyArray<string>,
  vocabularyName: string,
): Problem | undefined => {
  const known = new Set(vocabulary)
  const unknown = track.labels.filter((l) => !known.has(l))
  if (unknown.length === 0) return undefined
  return {
    id: track.id,
    file: track.source,
    reason: `unknown label${unknown.length > 1 ? "s" : ""} ${unknown.map((l) => JSON.stringify(l)).join(", ")} (not in the ${vocabularyName} vocabulary)`,
  }
}

/** Drops later tracks that repeat an id, reporting where the id was first seen. */
export const dropDuplicates = (tracks: ReadonlyArray<ParsedTrack>): Parsed => {
  const first = new Map<string, ParsedTrack>()
  const kept: Array<ParsedTrack> = []
  const problems: Array<Problem> = []
  for (const t of tracks) {
    const seen = first.get(t.id)
    if (seen !== undefined) {
      problems.push({ id: t.id, file: t.source, reason: `duplicate track id ${JSON.stringify(t.id)} (first at ${seen.source})` })
      continue
    }
    first.set(t.id, t)
    kept.push(t)
  }
  return { tracks: kept, problems }
}
