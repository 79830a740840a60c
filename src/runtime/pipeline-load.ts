/**
 * Reading pipeline.yaml: YAML with source positions, schema validation, `-p` overrides. Every error carries the file,
 * line, column and key path of the offending value.
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as YAML from "yaml"
import { PipelineError, PipelineErrors, type SourceLocation } from "./errors.ts"
import { PipelineFile } from "./pipeline-schema.ts"

export interface LoadedPipeline {
  readonly file: string
  /** Folder that relative paths in the file are resolved against. */
  readonly dir: string
  readonly source: string
  readonly spec: PipelineFile
  /** Params after `-p` overrides. */
  readonly params: Readonly<Record<string, unknown>>
  readonly locate: (path: ReadonlyArray<string | number>) => SourceLocation | undefined
}

type YamlNode = YAML.Node | YAML.Pair | null | undefined

/** Source position of the value at `keyPath`, or of its nearest existing ancestor. */
const locator =
  (doc: YAML.Document, lines: YAML.LineCounter, file: string) =>
  (keyPath: ReadonlyArray<string | number>): SourceLocation | undefined => {
    let node: YamlNode = doc.contents
    let best: YamlNode = node
    for (const segment of keyPath) {
      if (YAML.isMap(node)) {
        const pair: YAML.Pair | undefined = node.items.find(
          (p) => (YAML.isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(segment),
        )
        if (pair === undefined) break
        best = (pair.key as YAML.Node) ?? best
        node = pair.value as YamlNode
        if (YAML.isNode(node)) best = node
      } else if (YAML.isSeq(node) && typeof segment === "number") {
        node = node.items[segment] as YamlNode
        if (YAML.isNode(node)) best = node
        else break
      } else break
    }
    const range = YAML.isNode(best) ? best.range : undefined
    if (range === undefined || range === null) return undefined
    const pos = lines.linePos(range[0])
    return { file, line: pos.line, column: pos.col }
  }

const syntaxError = (file: string, lines: YAML.LineCounter, e: YAML.YAMLError): PipelineError => {
  const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0])
  const message = e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")
  return new PipelineError({
    file,
    location: pos === undefined ? undefined : { file, line: pos.line, column: pos.col },
    path: [],
    message: `YAML syntax error: ${message}`,
  })
}

/** Turns Schema issues into located pipeline errors, one per issue. */
/** Schema's type names, in the words of a YAML author. */
const plainTypes = (message: string): string =>
  message
    .replace(/\{ readonly \[x: string\]: [^}]* \}/g, "a map")
    .replace(/ReadonlyArray<string>/g, "a list of strings")
    .replace(/ReadonlyArray<[^>]*>/g, "a list")

/**
 * Turns Schema issues into located pipeline errors. Union branches at one key merge into one message ("Expected a or b,
 * actual x"), and the "Expected undefined" branch of an optional key is dropped when the key's real problem is known.
 */
export const issuesToErrors = (
  e: ParseResult.ParseError,
  file: string,
  prefix: ReadonlyArray<string | number>,
  locate: (p: ReadonlyArray<string | number>) => SourceLocation | undefined,
): ReadonlyArray<PipelineError> => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(e).map((issue) => ({
    path: [...prefix, ...issue.path.map((s) => (typeof s === "symbol" ? String(s) : s))],
    message: plainTypes(issue.message),
  }))
  const key = (p: ReadonlyArray<string | number>) => p.join("\0")
  const isPrefix = (a: ReadonlyArray<string | number>, b: ReadonlyArray<string | number>) => a.length <= b.length && a.every((x, i) => b[i] === x)
  const kept = issues.filter(
    (i) => !(/^Expected undefined, actual/.test(i.message) && issues.some((o) => o !== i && !/^Expected undefined/.test(o.message) && isPrefix(i.path, o.path))),
  )
  const merged = new Map<string, { path: Array<string | number>; expected: Array<string>; actual?: string; other: Array<string> }>()
  for (const i of kept) {
    const entry = merged.get(key(i.path)) ?? { path: i.path, expected: [], other: [] }
    const m = /^Expected (.*), actual (.*)$/s.exec(i.message)
    if (m !== null) {
      entry.expected.push(m[1])
      entry.actual = m[2]
    } else entry.other.push(i.message)
    merged.set(key(i.path), entry)
  }
  return [...merged.values()].flatMap((m) => [
    ...(m.expected.length > 0 ? [`Expected ${m.expected.join(" or ")}, actual ${m.actual}`] : []),
    ...m.other,
  ].map((message) => new PipelineError({ file, location: locate(m.path), path: m.path, message })))
}

const decodeFile = Schema.decodeUnknownEither(PipelineFile, { errors: "all", onExcessProperty: "error" })

/** Parses `key=value` overrides; values are read as YAML scalars (so `alpha=2.5` is a number). */
export const parseOverrides = (
  file: string,
  overrides: ReadonlyArray<string>,
): Either.Either<ReadonlyArray<readonly [string, unknown]>, PipelineError> => {
  const out: Array<readonly [string, unknown]> = []
  for (const o of overrides) {
    const eq = o.indexOf("=")
    if (eq <= 0) {
      return Either.left(new PipelineError({ file, path: [], message: `-p ${o}: expected key=value` }))
    }
    const raw = o.slice(eq + 1)
    let value: unknown = raw
    try {
      value = raw === "" ? "" : YAML.parse(raw)
    } catch {
      value = raw
    }
    out.push([o.slice(0, eq), value])
  }
  return Either.right(out)
}

const typeName = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "list" : typeof v)

/** Applies overrides to the declared params: unknown keys and type changes are errors. */
export const applyOverrides = (
  file: string,
  declared: Readonly<Record<string, unknown>>,
  overrides: ReadonlyArray<readonly [string, unknown]>,
): Either.Either<Record<string, unknown>, PipelineError> => {
  const params: Record<string, unknown> = { ...declared }
  for (const [key, value] of overrides) {
    if (!(key in declared)) {
      const known = Object.keys(declared)
      return Either.left(
        new PipelineError({
          file,
          path: ["params", key],
          message: `unknown param '${key}' (declared params: ${known.length > 0 ? known.join(", ") : "none"})`,
        }),
      )
    }
    const before = declared[key]
    if (before !== null && typeName(before) !== typeName(value)) {
      return Either.left(
        new PipelineError({
          file,
          path: ["params", key],
          message: `expected a ${typeName(before)} for param '${key}' (like its default ${JSON.stringify(before)}), found ${typeName(value)} ${JSON.stringify(value)}`,
        }),
      )
    }
    params[key] = value
  }
  return Either.right(params)
}

/** Parses and validates pipeline source text. */
export const parsePipeline = (
  file: string,
  source: string,
  overrides: ReadonlyArray<string> = [],
): Either.Either<LoadedPipeline, PipelineErrors> => {
  const lines = new YAML.LineCounter()
  const doc = YAML.parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) return Either.left(new PipelineErrors({ errors: doc.errors.map((e) => syntaxError(file, lines, e)) }))
  const locate = locator(doc, lines, file)
  let raw: unknown
  try {
    raw = doc.toJS({ maxAliasCount: 1000 })
  } catch (e) {
    // yaml refuses documents whose aliases expand past maxAliasCount ("billion laughs"): bad input, not a crash.
    const why = e instanceof Error ? e.message : String(e)
    return Either.left(
      new PipelineErrors({
        errors: [new PipelineError({ file, location: { file, line: 1, column: 1 }, path: [], message: `YAML aliases expand too far (${why}); expected at most 1000 alias uses` })],
      }),
    )
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return Either.left(
      new PipelineErrors({
        errors: [new PipelineError({ file, location: locate([]) ?? { file, line: 1, column: 1 }, path: [], message: `expected a map with 'stages', found ${raw === null ? "an empty document" : typeName(raw)}` })],
      }),
    )
  }
  const decoded = decodeFile(raw)
  if (Either.isLeft(decoded)) return Either.left(new PipelineErrors({ errors: issuesToErrors(decoded.left, file, [], locate) }))
  const spec = decoded.right
  const parsed = parseOverrides(file, overrides)
  if (Either.isLeft(parsed)) return Either.left(new PipelineErrors({ errors: [parsed.left] }))
  const params = applyOverrides(file, spec.params ?? {}, parsed.right)
  if (Either.isLeft(params)) return Either.left(new PipelineErrors({ errors: [params.left] }))
  return Either.right({ file, dir: path.dirname(path.resolve(file)), source, spec, params: params.right, locate })
}

/** Reads and validates a pipeline file. */
export const loadPipeline = (file: string, overrides: ReadonlyArray<string> = []): Effect.Effect<LoadedPipeline, PipelineErrors> =>
  Effect.suspend(() => {
    let source: string
    try {
      source = fs.readFileSync(file, "utf8")
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, expected a YAML file" : String(e)
      return Effect.fail(new PipelineErrors({ errors: [new PipelineError({ file, path: [], message: `cannot read pipeline: ${why}` })] }))
    }
    return Either.match(parsePipeline(file, source, overrides), { onLeft: Effect.fail, onRight: Effect.succeed })
  })
