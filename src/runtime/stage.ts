/**
 * The stage contract. A stage is one typed value; the engine knows only this shape, and a stage never sees the cache.
 *
 * A stage declares its params (an Effect Schema), its named inputs (other nodes' outputs, or files/folders on disk), an
 * output codec, and `run`. `run` returns the output value; large binary outputs are written by the stage into
 * `ctx.outDir` and referenced from the value by file name. The engine then encodes the value with the codec's schema
 * into `value.json` next to those files and stores the whole folder content-addressed.
 */
import type { CommandExecutor, FileSystem, Path } from "@effect/platform"
import { Data, Effect, ParseResult, Schema } from "effect"
import type { Publication } from "./publish.ts"

/** A stage's failure. `message` is shown to the user as is: say which file/line/key and what was expected. */
export class StageError extends Data.TaggedError("StageError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** The services the engine provides to every stage. Anything else a stage needs it provides itself with a Layer. */
export type StageEnv = FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor

// ---------------------------------------------------------------------------------------------------------------
// Codecs

/**
 * How a stage's output value is stored. `schema` encodes the value to JSON (value.json); binary payloads live beside it
 * in files the value names. `toJson` is the artifact's public JSON form (`mea show --json`), by default the encoded value.
 */
export interface Codec<A, I = A> {
  readonly name: string
  readonly schema: Schema.Schema<A, I>
  readonly summarize?: (value: A) => string
  readonly toJson?: (artifact: Artifact<A>) => Effect.Effect<unknown, StageError, StageEnv>
}

export const codec = <A, I>(
  name: string,
  schema: Schema.Schema<A, I>,
  extra: { readonly summarize?: (value: A) => string; readonly toJson?: Codec<A, I>["toJson"] } = {},
): Codec<A, I> => ({ name, schema, ...extra })

/** A stored output as a downstream stage sees it. */
export interface Artifact<A> {
  readonly value: A
  /** Content hash of the whole artifact (value.json and every file). */
  readonly hash: string
  /** Absolute folder holding value.json and the stage's files. Read-only. */
  readonly dir: string
  /** The node that produced it. */
  readonly node: string
  /** Absolute path of one of the artifact's files. */
  readonly file: (name: string) => string
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs

/** `codec` is the expected producer codec's name (checked when the graph is built); `_A` only carries the type. */
export interface NodeInput<A> {
  readonly _tag: "Node"
  readonly codec: string
  readonly _A?: A
}
export interface NodesInput<A> {
  readonly _tag: "Nodes"
  readonly codec: string
  readonly _A?: A
}
export interface FileInput {
  readonly _tag: "File"
}
export interface DirInput {
  readonly _tag: "Dir"
  /** Only files whose relative path matches enter the hash and `files` (a glob with *, ** and {a,b}). */
  readonly glob?: string
}
export interface OptionalInput<S extends RequiredInputSpec> {
  readonly _tag: "Optional"
  readonly spec: S
}

export type RequiredInputSpec = NodeInput<unknown> | NodesInput<unknown> | FileInput | DirInput
export type InputSpec = RequiredInputSpec | OptionalInput<RequiredInputSpec>

export interface FileValue {
  readonly path: string
  readonly hash: string
}
export interface DirValue {
  readonly path: string
  readonly hash: string
  /** Relative paths (POSIX separators) of the files that matched, sorted. */
  readonly files: ReadonlyArray<string>
}

export const Input = {
  /** Another node's output, referenced by node id in pipeline.yaml. */
  node: <A, I>(c: Codec<A, I>): NodeInput<A> => ({ _tag: "Node", codec: c.name }),
  /** A list of node ids (possibly empty), all with the same codec. */
  nodes: <A, I>(c: Codec<A, I>): NodesInput<A> => ({ _tag: "Nodes", codec: c.name }),
  /** A file on disk, hashed by content. */
  file: (): FileInput => ({ _tag: "File" }),
  /** A folder on disk, hashed by the content of every matching file. */
  dir: (options: { readonly glob?: string } = {}): DirInput => ({ _tag: "Dir", ...options }),
  optional: <S extends RequiredInputSpec>(spec: S): OptionalInput<S> => ({ _tag: "Optional", spec }),
} as const

type ResolvedRequired<S> = S extends NodeInput<infer A>
  ? Artifact<A>
  : S extends NodesInput<infer A>
    ? ReadonlyArray<Artifact<A>>
    : S extends FileInput
      ? FileValue
      : S extends DirInput
        ? DirValue
        : never

export type ResolvedInput<S> = S extends OptionalInput<infer R> ? ResolvedRequired<R> | undefined : ResolvedRequired<S>

export type ResolvedInputs<Ins extends Record<string, InputSpec>> = {
  readonly [K in keyof Ins]: ResolvedInput<Ins[K]>
}

// ---------------------------------------------------------------------------------------------------------------
// Progress, reported through the engine (stages never print)

export interface Progress {
  /** Announce `total` units of work (e.g. 400 files); the engine shows a bar with items/s and ETA. */
  readonly start: (total: number, unit?: string) => Effect.Effect<void>
  readonly advance: (n?: number) => Effect.Effect<void>
  /** A line for the log. */
  readonly note: (message: string) => Effect.Effect<void>
  /** A problem that did not stop the stage (e.g. a file skipped under `on_error: skip`); listed in the run summary. */
  readonly warn: (message: string) => Effect.Effect<void>
}

export interface StageContext<P, Ins extends Record<string, InputSpec>> {
  readonly nodeId: string
  readonly params: P
  readonly inputs: ResolvedInputs<Ins>
  /** An empty private folder; files written here become part of the output artifact. */
  readonly outDir: string
  readonly progress: Progress
  /** How many threads a stage may use (from `-j`); a stage with its own worker pool should respect it. */
  readonly threads: number
}

// ---------------------------------------------------------------------------------------------------------------
// Stages

export interface StageSpec<P, PI, Ins extends Record<string, InputSpec>, O, OI> {
  readonly name: string
  /** Bump when the meaning of the stage's code changes: every cached output of the stage is then stale. */
  readonly version: number
  readonly description: string
  readonly params: Schema.Schema<P, PI>
  readonly inputs: Ins
  readonly output: Codec<O, OI>
  readonly run: (ctx: StageContext<P, Ins>) => Effect.Effect<O, StageError, StageEnv>
  /**
   * Files of the output to check out into a folder of the project after every run of the node, cached or not (see
   * src/runtime/publish.ts); undefined: none this time.
   */
  readonly publish?: (params: P, value: O) => Publication | undefined
}

/** The type-erased view of a stage that the engine works with. */
export interface Stage {
  readonly name: string
  readonly version: number
  readonly description: string
  readonly inputs: Readonly<Record<string, InputSpec>>
  readonly output: Codec<unknown, unknown>
  readonly paramsSchema: Schema.Schema<unknown, unknown>
  /** Decodes `with` params and re-encodes them, so defaults are filled in and the form is canonical. */
  readonly canonicalParams: (raw: unknown) => Effect.Effect<unknown, ParseResult.ParseError>
  readonly run: (ctx: StageContext<unknown, Record<string, InputSpec>>) => Effect.Effect<unknown, StageError, StageEnv>
  /** `publish` of the spec over the node's canonical params and its output value. */
  readonly publish?: (params: unknown, value: unknown) => Effect.Effect<Publication | undefined, StageError>
}

export const defineStage = <P, PI, Ins extends Record<string, InputSpec>, O, OI>(
  spec: StageSpec<P, PI, Ins, O, OI>,
): Stage => {
  const decode = Schema.decodeUnknown(spec.params, { onExcessProperty: "error", errors: "all" })
  const encode = Schema.encode(spec.params)
  return {
    name: spec.name,
    version: spec.version,
    description: spec.description,
    inputs: spec.inputs,
    output: spec.output as unknown as Codec<unknown, unknown>,
    paramsSchema: spec.params as unknown as Schema.Schema<unknown, unknown>,
    canonicalParams: (raw) => Effect.flatMap(decode(raw ?? {}), encode),
    run: (ctx) =>
      Effect.flatMap(decode(ctx.params), (params) =>
        spec.run({ ...ctx, params, inputs: ctx.inputs as ResolvedInputs<Ins> }),
      ).pipe(
        Effect.catchTag("ParseError", (e) =>
          Effect.fail(new StageError({ message: `invalid params: ${ParseResult.TreeFormatter.formatErrorSync(e)}` })),
        ),
      ),
    ...(spec.publish === undefined
      ? {}
      : {
          publish: (params: unknown, value: unknown) =>
            Effect.map(decode(params), (p) => spec.publish!(p, value as O)).pipe(
              Effect.mapError((e) => new StageError({ message: `invalid params: ${ParseResult.TreeFormatter.formatErrorSync(e)}` })),
            ),
        }),
  }
}

/** A library's typed error as the stage's error, with context; the library error stays its cause (and keeps its tag). */
export const stageError =
  (what: string) =>
  (e: { readonly message: string }): StageError =>
    new StageError({ message: `${what}: ${e.message}`, cause: e })

/** Wraps a thrown error or rejected promise from library code into a StageError with context. */
export const attempt = <A>(what: string, f: () => A): Effect.Effect<A, StageError> =>
  Effect.try({ try: f, catch: (cause) => new StageError({ message: `${what}: ${describe(cause)}`, cause }) })

export const attemptPromise = <A>(what: string, f: () => Promise<A>): Effect.Effect<A, StageError> =>
  Effect.tryPromise({ try: f, catch: (cause) => new StageError({ message: `${what}: ${describe(cause)}`, cause }) })

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))
