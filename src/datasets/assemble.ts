/**
 * Turns a loader's parsed tracks into the data set value: checks labels against the vocabulary and that each audio
 * file exists and is not empty, applies the `on_error` policy to every problem, and draws the seeded split where the
 * data set has none. Under `fail` the first problem fails the stage before anything is written.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { StageError } from "../runtime/stage.ts"
import { checkLabels, type Parsed, type ParsedTrack, type Problem, type Split } from "./types.ts"
import { seededSplit } from "./split.ts"

export type OnError = "fail" | "skip"

/** Tried in this order when the metadata names a file without its extension (CAL500, Emotify). */
export const AUDIO_EXTENSIONS: ReadonlyArray<string> = ["mp3", "wav", "flac", "ogg", "opus", "m4a", "aac"]

export interface Track {
  readonly id: string
  readonly audio: string
  readonly labels: ReadonlyArray<string>
  readonly split: Split
  readonly duration?: number
}

export interface Assembled {
  readonly tracks: ReadonlyArray<Track>
  readonly skipped: ReadonlyArray<Problem>
}

export interface AssembleOptions {
  readonly vocabulary: ReadonlyArray<string>
  readonly vocabularyName: string
  /** Folder that relative track paths are resolved against. */
  readonly audioRoot: string
  /** Extensions to try when paths lack one; undefined when the paths name their files exactly. */
  readonly extensions?: ReadonlyArray<string>
  readonly seed: number
  readonly onError: OnError
  /** false: the audio is not looked at (features come without it); each track records its path as resolved. */
  readonly checkAudio?: boolean
}

export const describeProblem = (p: Problem): string => `${p.file}: ${p.reason}`

const failWith = (problems: ReadonlyArray<Problem>, hint: boolean): StageError => {
  const more = problems.length - 1
  const tail = more > 0 ? ` (and ${more} more problem${more > 1 ? "s" : ""}${hint ? "; on_error: skip would skip them" : ""})` : ""
  return new StageError({ message: describeProblem(problems[0]) + tail })
}

export const assemble = (
  parsed: Parsed,
  options: AssembleOptions,
): Effect.Effect<Assembled, StageError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const fatal = parsed.problems.filter((p) => p.fatal)
    if (fatal.length > 0) return yield* Effect.fail(failWith(fatal, false))
    const problems: Array<Problem> = [...parsed.problems]
    const size = (file: string) =>
      fs.stat(file).pipe(
        Effect.map((s) => (s.type === "File" ? Number(s.size) : undefined)),
        Effect.orElseSucceed(() => undefined),
      )
    type Located = { readonly _tag: "Found"; readonly track: ParsedTrack; readonly audio: string } | { readonly _tag: "Problem"; readonly problem: Problem }
    const problem = (p: Problem): Located => ({ _tag: "Problem", problem: p })
    const located = yield* Effect.forEach(
      parsed.tracks,
      (t) =>
        Effect.gen(function* () {
          const labelProblem = checkLabels(t, options.vocabulary, options.vocabularyName)
          if (labelProblem !== undefined) return problem(labelProblem)
          const base = path.isAbsolute(t.path) ? t.path : path.join(options.audioRoot, t.path)
          if (options.checkAudio === false) return { _tag: "Found", track: t, audio: base } satisfies Located
          const candidates = options.extensions === undefined ? [base] : options.extensions.map((e) => `${base}.${e}`)
          for (const c of candidates) {
            const bytes = yield* size(c)
            if (bytes === undefined) continue
            if (bytes === 0) return problem({ id: t.id, file: c, reason: `empty audio file (0 bytes) for track ${JSON.stringify(t.id)} from ${t.source}` })
            return { _tag: "Found", track: t, audio: c } satisfies Located
          }
          const shown = options.extensions === undefined ? base : `${base}.{${options.extensions.join(",")}}`
          return problem({ id: t.id, file: shown, reason: `missing audio file for track ${JSON.stringify(t.id)} from ${t.source}` })
        }),
      { concurrency: 16 },
    )
    const ok: Array<{ readonly track: ParsedTrack; readonly audio: string }> = []
    for (const l of located) {
      if (l._tag === "Problem") problems.push(l.problem)
      else ok.push(l)
    }
    if (problems.length > 0 && options.onError === "fail") return yield* Effect.fail(failWith(problems, true))
    const unsplit = ok.filter((o) => o.track.split === undefined).map((o) => o.track.id)
    const drawn = seededSplit(unsplit, options.seed)
    const tracks: Array<Track> = ok.map(({ track, audio }) => ({
      id: track.id,
      audio,
      labels: track.labels,
      split: track.split ?? drawn.get(track.id) ?? "train",
      ...(track.duration !== undefined ? { duration: track.duration } : {}),
    }))
    return { tracks, skipped: problems.map(({ fatal: _fatal, ...p }) => p) }
  })
