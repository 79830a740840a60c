/** The engine's errors. Every message is written for the user: where, what was expected, what was found. */
import { Data } from "effect"

export interface SourceLocation {
  readonly file: string
  readonly line: number
  readonly column: number
}

export const formatLocation = (loc: SourceLocation | undefined, file: string): string =>
  loc === undefined ? file : `${loc.file}:${loc.line}:${loc.column}`

/** A problem in pipeline.yaml or its params: reported with file, line, column and key path. */
export class PipelineError extends Data.TaggedError("PipelineError")<{
  readonly file: string
  readonly location?: SourceLocation
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}> {}

/** Several pipeline problems found in one pass (all are reported, not only the first). */
export class PipelineErrors extends Data.TaggedError("PipelineErrors")<{
  readonly errors: ReadonlyArray<PipelineError>
}> {}

export class CacheError extends Data.TaggedError("CacheError")<{ readonly message: string }> {}

/**
 * A node failed; `message` comes from the stage. Earlier finished nodes stay cached. `cause` is the stage's own typed
 * error (a StageError, whose cause may be a library's tagged error), kept so callers can tell failures apart by tag.
 */
export class NodeFailed extends Data.TaggedError("NodeFailed")<{
  readonly node: string
  readonly stage: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** The `_tag`s along an error's cause chain, outermost first: e.g. ["StageError", "MeanShiftError"]. */
export const errorTags = (e: unknown): ReadonlyArray<string> => {
  const tags: Array<string> = []
  let at: unknown = e
  for (let depth = 0; depth < 8 && at !== null && typeof at === "object"; depth++) {
    const tag = (at as { _tag?: unknown })._tag
    if (typeof tag === "string") tags.push(tag)
    at = (at as { cause?: unknown }).cause
  }
  return tags
}

export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

export const formatPath = (path: ReadonlyArray<string | number>): string =>
  path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc === "" ? p : `${acc}.${p}`), "")

export const renderPipelineError = (e: PipelineError): string => {
  const where = formatLocation(e.location, e.file)
  const key = e.path.length > 0 ? ` ${formatPath(e.path)}:` : ""
  return `${where}:${key} ${e.message}`
}
