/**
 * From a validated pipeline file to the typed DAG: foreach/matrix expansion into nodes with stable ids, interpolation,
 * stage lookup, params validation against each stage's Schema, input references, codec compatibility and cycles.
 */
import { Effect, Either, ParseResult } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { PipelineError, PipelineErrors, type SourceLocation } from "./errors.ts"
import { interpolate, interpolateString, type Scope } from "./interpolate.ts"
import type { LoadedPipeline } from "./pipeline-load.ts"
import { issuesToErrors } from "./pipeline-load.ts"
import type { StageEntry } from "./pipeline-schema.ts"
import type { InputSpec, RequiredInputSpec, Stage } from "./stage.ts"

export type ResolvedRef =
  | { readonly kind: "node"; readonly ids: ReadonlyArray<string>; readonly many: boolean }
  | { readonly kind: "file"; readonly path: string; readonly display: string }
  | { readonly kind: "dir"; readonly path: string; readonly display: string; readonly glob: string | undefined }
  | { readonly kind: "absent" }

export interface GraphNode {
  readonly id: string
  readonly stage: Stage
  /** Canonical params: decoded by the stage's Schema (defaults filled in) and encoded again. */
  readonly params: unknown
  readonly inputs: Readonly<Record<string, ResolvedRef>>
  readonly deps: ReadonlyArray<string>
  readonly location: SourceLocation | undefined
}

export interface Graph {
  readonly pipeline: LoadedPipeline
  /** Nodes in a topological order (dependencies first), stable across runs. */
  readonly nodes: ReadonlyArray<GraphNode>
  readonly byId: ReadonlyMap<string, GraphNode>
}

interface Expanded {
  readonly id: string
  readonly key: string
  readonly entry: StageEntry
  readonly scope: Scope
}

const ID_SUFFIX = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/

const loopValues = (
  raw: unknown,
  scope: Scope,
): Either.Either<ReadonlyArray<unknown>, string> => {
  // Items may themselves use params: foreach: [{ id: alignment, alpha: "${alpha}" }]
  const resolved = typeof raw === "string" ? interpolateString(raw, scope) : Either.mapLeft(interpolate(raw, scope), (e) => e.message)
  return Either.flatMap(resolved, (v) => {
    if (Array.isArray(v)) return Either.right(v)
    if (v !== null && typeof v === "object") {
      // A map expands over its entries; each item carries its key as `id`.
      return Either.right(
        Object.entries(v).map(([id, value]) =>
          value !== null && typeof value === "object" && !Array.isArray(value) ? { id, ...value } : { id, value },
        ),
      )
    }
    return Either.left(`expected a list (or a map) to expand over, found ${JSON.stringify(v)}`)
  })
}

const itemSuffix = (item: unknown): Either.Either<string, string> => {
  if (typeof item === "string" || typeof item === "number" || typeof item === "boolean") return Either.right(String(item))
  if (item !== null && typeof item === "object" && !Array.isArray(item)) {
    const id = (item as Record<string, unknown>).id ?? (item as Record<string, unknown>).name
    if (typeof id === "string" || typeof id === "number") return Either.right(String(id))
  }
  return Either.left(`cannot name a node after ${JSON.stringify(item)}: give list items an 'id' key, or the stage an 'id' template`)
}

const cartesian = (lists: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]>): Array<Record<string, unknown>> =>
  lists.reduce<Array<Record<string, unknown>>>(
    (acc, [name, values]) => acc.flatMap((partial) => values.map((v) => ({ ...partial, [name]: v }))),
    [{}],
  )

const expandEntry = (
  pipeline: LoadedPipeline,
  key: string,
  entry: StageEntry,
  base: Scope,
): Either.Either<ReadonlyArray<Expanded>, PipelineError> => {
  const err = (p: ReadonlyArray<string | number>, message: string) =>
    new PipelineError({ file: pipeline.file, location: pipeline.locate(p), path: p, message })
  if (entry.foreach !== undefined && entry.matrix !== undefined) {
    return Either.left(err(["stages", key], "use either 'foreach' or 'matrix', not both"))
  }
  let combos: Array<Record<string, unknown>> | undefined
  if (entry.foreach !== undefined) {
    const values = loopValues(entry.foreach, base)
    if (Either.isLeft(values)) return Either.left(err(["stages", key, "foreach"], values.left))
    combos = values.right.map((item) => ({ item }))
  } else if (entry.matrix !== undefined) {
    const lists: Array<readonly [string, ReadonlyArray<unknown>]> = []
    for (const [name, raw] of Object.entries(entry.matrix)) {
      const values = loopValues(raw, base)
      if (Either.isLeft(values)) return Either.left(err(["stages", key, "matrix", name], values.left))
      lists.push([name, values.right])
    }
    combos = cartesian(lists)
  }
  if (!ID_SUFFIX.test(key)) {
    // Node ids name things in messages and records; one like "../../x" is refused outright.
    return Either.left(err(["stages", key], `node id '${key}' has characters other than letters, digits, '_', '-', '.'`))
  }
  if (combos === undefined) {
    if (entry.id !== undefined) return Either.left(err(["stages", key, "id"], "'id' applies only with 'foreach' or 'matrix'"))
    return Either.right([{ id: key, key, entry, scope: base }])
  }
  const out: Array<Expanded> = []
  for (const vars of combos) {
    const scope: Scope = { ...base, vars }
    let suffix: Either.Either<string, string>
    if (entry.id !== undefined) {
      suffix = Either.map(interpolateString(entry.id, scope), String)
    } else {
      const parts = Object.values(vars).map(itemSuffix)
      const bad = parts.find(Either.isLeft)
      suffix = bad !== undefined ? bad : Either.right(parts.map((p) => (Either.isRight(p) ? p.right : "")).join("."))
    }
    if (Either.isLeft(suffix)) {
      return Either.left(err(["stages", key, entry.id !== undefined ? "id" : entry.foreach !== undefined ? "foreach" : "matrix"], suffix.left))
    }
    if (!ID_SUFFIX.test(suffix.right)) {
      return Either.left(err(["stages", key], `node id '${key}.${suffix.right}' has characters other than letters, digits, '_', '-', '.'`))
    }
    out.push({ id: `${key}.${suffix.right}`, key, entry, scope })
  }
  return Either.right(out)
}

const globToRegExp = (glob: string): RegExp =>
  new RegExp(`^${glob.replace(/[.+^$()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`)

const closest = (name: string, candidates: ReadonlyArray<string>): string | undefined => {
  const distance = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
    for (let j = 1; j <= b.length; j++) d[0][j] = j
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    return d[a.length][b.length]
  }
  const best = candidates.map((c) => [c, distance(name, c)] as const).sort((x, y) => x[1] - y[1])[0]
  return best !== undefined && best[1] <= Math.max(2, Math.floor(name.length / 3)) ? best[0] : undefined
}

const describeSpec = (spec: RequiredInputSpec): string => {
  switch (spec._tag) {
    case "Node":
      return `a node id of a '${spec.codec}' output`
    case "Nodes":
      return `a list of node ids of '${spec.codec}' outputs`
    case "File":
      return "a file path"
    case "Dir":
      return "a folder path"
  }
}

/** Builds and checks the DAG; all problems found are reported together. */
export const buildGraph = (
  pipeline: LoadedPipeline,
  registry: ReadonlyMap<string, Stage>,
): Effect.Effect<Graph, PipelineErrors> =>
  Effect.gen(function* () {
    const file = pipeline.file
    const errors: Array<PipelineError> = []
    const err = (p: ReadonlyArray<string | number>, message: string) =>
      new PipelineError({ file, location: pipeline.locate(p), path: p, message })

    // Datasets may use params: ${data_root}/mtg
    const datasetsRaw = pipeline.spec.datasets ?? {}
    const datasetsResolved = interpolate(datasetsRaw, { vars: {}, params: pipeline.params, datasets: {} }, ["datasets"])
    if (Either.isLeft(datasetsResolved)) {
      return yield* Effect.fail(new PipelineErrors({ errors: [err(datasetsResolved.left.path, datasetsResolved.left.message)] }))
    }
    // Vars may use params and datasets: splits: [{ id: emo, alpha: "${alpha}", test: "${datasets.emotify.format}" }]
    const datasets = datasetsResolved.right as Record<string, unknown>
    const tablesResolved = interpolate(pipeline.spec.vars ?? {}, { vars: {}, params: pipeline.params, datasets }, ["vars"])
    if (Either.isLeft(tablesResolved)) {
      return yield* Effect.fail(new PipelineErrors({ errors: [err(tablesResolved.left.path, tablesResolved.left.message)] }))
    }
    const base: Scope = {
      vars: {},
      params: pipeline.params,
      datasets,
      tables: tablesResolved.right as Record<string, unknown>,
    }

    const expanded: Array<Expanded> = []
    const seen = new Map<string, string>()
    for (const [key, entry] of Object.entries(pipeline.spec.stages)) {
      const r = expandEntry(pipeline, key, entry, base)
      if (Either.isLeft(r)) {
        errors.push(r.left)
        continue
      }
      for (const x of r.right) {
        const other = seen.get(x.id)
        if (other !== undefined) {
          errors.push(err(["stages", key], `duplicate node id '${x.id}' (also produced by stage entry '${other}')`))
        } else {
          seen.set(x.id, key)
          expanded.push(x)
        }
      }
    }
    const ids = expanded.map((x) => x.id)
    const stageOf = new Map<string, Stage>()
    for (const x of expanded) {
      const stage = registry.get(x.entry.uses)
      if (stage === undefined) {
        const hint = closest(x.entry.uses, [...registry.keys()])
        errors.push(
          err(
            ["stages", x.key, "uses"],
            `unknown stage '${x.entry.uses}'${hint !== undefined ? ` (did you mean '${hint}'?)` : ""}; registered stages: ${[...registry.keys()].join(", ")}`,
          ),
        )
      } else stageOf.set(x.id, stage)
    }

    const nodes: Array<GraphNode> = []
    for (const x of expanded) {
      const stage = stageOf.get(x.id)
      if (stage === undefined) continue
      const at = (...p: Array<string | number>) => ["stages", x.key, ...p]
      const location = pipeline.locate(["stages", x.key])

      // params
      const withRaw = interpolate(x.entry.with ?? {}, x.scope, at("with"))
      let params: unknown = undefined
      if (Either.isLeft(withRaw)) errors.push(err(withRaw.left.path, withRaw.left.message))
      else {
        const decoded = yield* Effect.either(stage.canonicalParams(withRaw.right))
        if (Either.isLeft(decoded)) {
          const located = issuesToErrors(decoded.left, file, at("with"), pipeline.locate)
          errors.push(
            ...located.map(
              (e) =>
                new PipelineError({
                  ...e,
                  message: `${e.message} (node '${x.id}', stage '${stage.name}')`,
                }),
            ),
          )
        } else params = decoded.right
      }

      // inputs
      const given = x.entry.inputs ?? {}
      for (const name of Object.keys(given)) {
        if (!(name in stage.inputs)) {
          errors.push(
            err(at("inputs", name), `unknown input '${name}' for stage '${stage.name}' (its inputs: ${Object.keys(stage.inputs).join(", ") || "none"})`),
          )
        }
      }
      const inputs: Record<string, ResolvedRef> = {}
      const deps = new Set<string>()
      for (const [name, declared] of Object.entries(stage.inputs) as Array<[string, InputSpec]>) {
        const optional = declared._tag === "Optional"
        const spec: RequiredInputSpec = declared._tag === "Optional" ? declared.spec : declared
        const raw = given[name]
        if (raw === undefined) {
          if (optional) inputs[name] = { kind: "absent" }
          else errors.push(err(at("inputs"), `missing input '${name}' of stage '${stage.name}' (node '${x.id}'): expected ${describeSpec(spec)}`))
          continue
        }
        const interpolated = interpolate(raw, x.scope, at("inputs", name))
        if (Either.isLeft(interpolated)) {
          errors.push(err(interpolated.left.path, interpolated.left.message))
          continue
        }
        const value = interpolated.right
        const list = Array.isArray(value) ? value : [value]
        if (list.some((v) => typeof v !== "string")) {
          errors.push(err(at("inputs", name), `expected ${describeSpec(spec)}, found ${JSON.stringify(value)}`))
          continue
        }
        const strings = list as Array<string>
        if (spec._tag === "File" || spec._tag === "Dir") {
          if (strings.length !== 1) {
            errors.push(err(at("inputs", name), `expected ${describeSpec(spec)}, found a list`))
            continue
          }
          const resolved = path.resolve(pipeline.dir, strings[0])
          // Checked before anything runs, so a wrong data path fails in a second, not after an hour of features.
          const st = fs.statSync(resolved, { throwIfNoEntry: false })
          const want = spec._tag === "File" ? "file" : "folder"
          if (st === undefined || (spec._tag === "File" ? !st.isFile() : !st.isDirectory())) {
            const found = st === undefined ? "nothing there" : st.isDirectory() ? "a folder" : "a file"
            errors.push(err(at("inputs", name), `input '${name}' of node '${x.id}': expected a ${want} at ${strings[0]} (${resolved}), found ${found}`))
            continue
          }
          inputs[name] =
            spec._tag === "File"
              ? { kind: "file", path: resolved, display: strings[0] }
              : { kind: "dir", path: resolved, display: strings[0], glob: spec.glob }
          continue
        }
        if (spec._tag === "Node" && (Array.isArray(value) || strings[0].includes("*"))) {
          errors.push(err(at("inputs", name), `expected ${describeSpec(spec)}, found ${JSON.stringify(value)} (this input takes exactly one node)`))
          continue
        }
        const refs: Array<string> = []
        for (const ref of strings) {
          if (ref.includes("*")) {
            const re = globToRegExp(ref)
            const matched = ids.filter((id) => re.test(id))
            if (matched.length === 0) errors.push(err(at("inputs", name), `'${ref}' matches no node`))
            refs.push(...matched)
            continue
          }
          if (!seen.has(ref)) {
            const hint = closest(ref, ids)
            errors.push(
              err(at("inputs", name), `unknown reference '${ref}' in input '${name}' of node '${x.id}'${hint !== undefined ? ` (did you mean '${hint}'?)` : ""}`),
            )
            continue
          }
          const producer = stageOf.get(ref)
          if (producer !== undefined && producer.output.name !== spec.codec) {
            errors.push(
              err(
                at("inputs", name),
                `input '${name}' of node '${x.id}' expects a '${spec.codec}' output, but '${ref}' (stage '${producer.name}') produces '${producer.output.name}'`,
              ),
            )
            continue
          }
          refs.push(ref)
        }
        refs.forEach((r) => deps.add(r))
        inputs[name] = { kind: "node", ids: refs, many: spec._tag === "Nodes" }
      }
      nodes.push({ id: x.id, stage, params, inputs, deps: [...deps], location })
    }
    if (errors.length > 0) return yield* Effect.fail(new PipelineErrors({ errors }))

    // Topological order (DFS, in declaration order so it is stable), reporting a cycle as a path.
    const byId = new Map(nodes.map((n) => [n.id, n]))
    const state = new Map<string, "visiting" | "done">()
    const order: Array<GraphNode> = []
    const stack: Array<string> = []
    const visit = (id: string): PipelineError | undefined => {
      const s = state.get(id)
      if (s === "done") return undefined
      if (s === "visiting") {
        const cycle = [...stack.slice(stack.indexOf(id)), id]
        return err(["stages", seen.get(id) ?? id], `cycle: ${cycle.join(" -> ")}`)
      }
      state.set(id, "visiting")
      stack.push(id)
      const node = byId.get(id)!
      for (const d of node.deps) {
        const e = visit(d)
        if (e !== undefined) return e
      }
      stack.pop()
      state.set(id, "done")
      order.push(node)
      return undefined
    }
    for (const n of nodes) {
      const e = visit(n.id)
      if (e !== undefined) return yield* Effect.fail(new PipelineErrors({ errors: [e] }))
    }
    return { pipeline, nodes: order, byId }
  })

export const formatParseError = (e: ParseResult.ParseError): string => ParseResult.TreeFormatter.formatErrorSync(e)
