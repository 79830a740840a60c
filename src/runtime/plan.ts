/**
 * What a run would do, without running anything: for each node, cached or not, and exactly what changed since the
 * node's last run in this pipeline (stage version, which param, which input file, which upstream output).
 */
import { Effect, Option } from "effect"
import * as path from "node:path"
import { Cache } from "./cache.ts"
import { canonicalJson } from "./hash.ts"
import type { Graph } from "./graph.ts"
import { lookupNode } from "./lookup.ts"
import type { InputComponent, KeyComponents, LocalStoreService, TreeRecord } from "./store.ts"

export type PlanEntry =
  | { readonly _tag: "Cached"; readonly id: string; readonly stage: string; readonly key: string; readonly output: string; readonly reasons: ReadonlyArray<string> }
  | { readonly _tag: "WillRun"; readonly id: string; readonly stage: string; readonly key: string; readonly reasons: ReadonlyArray<string> }
  | { readonly _tag: "Pending"; readonly id: string; readonly stage: string; readonly waitingOn: ReadonlyArray<string>; readonly reasons: ReadonlyArray<string> }
  | { readonly _tag: "Error"; readonly id: string; readonly stage: string; readonly reasons: ReadonlyArray<string> }

const show = (v: unknown): string => (v === undefined ? "(unset)" : JSON.stringify(v))

/** Paths whose values differ between two JSON values, as `a.b[2]: old -> new`. */
export const jsonDiff = (before: unknown, after: unknown, at = ""): Array<string> => {
  if (canonicalJson(before) === canonicalJson(after)) return []
  const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)
  if (isMap(before) && isMap(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    return keys.flatMap((k) => jsonDiff(before[k], after[k], at === "" ? k : `${at}.${k}`))
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => jsonDiff(b, after[i], `${at}[${i}]`))
  }
  return [`${at === "" ? "(value)" : at}: ${show(before)} -> ${show(after)}`]
}

/** Folder listings by hash, read ahead (explain's messages are plain functions of what is in the cache). */
export type Trees = (hash: string) => TreeRecord | undefined

const treeDiff = (trees: Trees, before: string, after: string): string => {
  const a = trees(before)
  const b = trees(after)
  if (a === undefined || b === undefined) return "content changed"
  const old = new Map(a)
  const now = new Map(b)
  const changes: Array<string> = []
  for (const [f, h] of now) {
    if (!old.has(f)) changes.push(`${f} (added)`)
    else if (old.get(f) !== h) changes.push(`${f} (content changed)`)
  }
  for (const f of old.keys()) if (!now.has(f)) changes.push(`${f} (removed)`)
  const shown = changes.slice(0, 8).join(", ")
  return `${changes.length} file${changes.length === 1 ? "" : "s"} changed: ${shown}${changes.length > 8 ? `, and ${changes.length - 8} more` : ""}`
}

const inputDiff = (trees: Trees, name: string, before: InputComponent | undefined, after: InputComponent, pending: ReadonlySet<string>): Array<string> => {
  const label = `input '${name}'`
  if (before === undefined) return [`${label} is new`]
  if (before.kind !== after.kind) return [`${label} changed from a ${before.kind} to a ${after.kind}`]
  switch (after.kind) {
    case "absent":
      return []
    case "file":
      if (before.path !== after.path) return [`${label}: path ${before.path} -> ${after.path}`]
      return before.hashes[0] === after.hashes[0] ? [] : [`${label} (file ${String(after.from)}): content changed`]
    case "dir":
      if (before.path !== after.path) return [`${label}: path ${before.path} -> ${after.path}`]
      return before.hashes[0] === after.hashes[0] ? [] : [`${label} (folder ${String(after.from)}): ${treeDiff(trees, before.hashes[0], after.hashes[0])}`]
    case "node": {
      const ids = (after.from ?? []) as ReadonlyArray<string>
      const was = (before.from ?? []) as ReadonlyArray<string>
      if (canonicalJson(was) !== canonicalJson(ids)) return [`${label}: nodes ${was.join(", ")} -> ${ids.join(", ")}`]
      return [...new Set(ids)].flatMap((id) => {
        const i = ids.indexOf(id)
        if (pending.has(id)) return [`${label}: upstream '${id}' will run first`]
        return before.hashes[i] === after.hashes[i] ? [] : [`${label}: output of '${id}' changed (${before.hashes[i].slice(0, 12)} -> ${after.hashes[i].slice(0, 12)})`]
      })
    }
  }
}

/** Why `current` differs from the node's last recorded components. */
export const explainChange = (trees: Trees, before: KeyComponents | undefined, current: KeyComponents, pending: ReadonlySet<string>): Array<string> => {
  if (before === undefined) return ["never run in this pipeline"]
  const reasons: Array<string> = []
  if (before.stage !== current.stage) reasons.push(`stage ${before.stage} -> ${current.stage}`)
  if (before.version !== current.version) reasons.push(`stage '${current.stage}' version ${before.version} -> ${current.version}`)
  reasons.push(...jsonDiff(before.params, current.params).map((d) => `param ${d}`))
  for (const [name, c] of Object.entries(current.inputs)) reasons.push(...inputDiff(trees, name, before.inputs[name], c, pending))
  for (const name of Object.keys(before.inputs)) if (!(name in current.inputs)) reasons.push(`input '${name}' was removed`)
  return reasons
}

/** The listings of the folder inputs of some key components (a garbled one reads as absent: "content changed"). */
export const treesOf = (store: LocalStoreService, ...of: ReadonlyArray<KeyComponents | undefined>): Effect.Effect<Trees> =>
  Effect.gen(function* () {
    const trees = new Map<string, TreeRecord>()
    for (const c of of) {
      for (const input of Object.values(c?.inputs ?? {})) {
        const hash = input.kind === "dir" ? input.hashes[0] : undefined
        if (hash === undefined || trees.has(hash)) continue
        const tree = yield* Effect.orElseSucceed(store.getTree(hash), () => Option.none<TreeRecord>())
        if (Option.isSome(tree)) trees.set(hash, tree.value)
      }
    }
    return (hash: string) => trees.get(hash)
  })

export const planGraph = (graph: Graph): Effect.Effect<ReadonlyArray<PlanEntry>, never, Cache> =>
  Effect.gen(function* () {
    const cache = yield* Cache
    const { store } = cache
    const pipelineFile = path.resolve(graph.pipeline.file)
    const outputs = new Map<string, string>()
    const pending = new Set<string>()
    const entries: Array<PlanEntry> = []
    for (const node of graph.nodes) {
      const base = { id: node.id, stage: node.stage.name }
      const found = yield* lookupNode(cache, cache.remote, node, (id) => outputs.get(id), { repair: false, fetch: false, warn: () => Effect.void })
      if (found._tag === "Error") {
        pending.add(node.id)
        entries.push({ _tag: "Error", ...base, reasons: [found.message] })
        continue
      }
      const last = Option.getOrUndefined(yield* store.getNode(pipelineFile, node.id))
      const trees = yield* treesOf(store, last?.components, found._tag === "Pending" ? found.partial : found.components)
      if (found._tag === "Pending") {
        pending.add(node.id)
        entries.push({ _tag: "Pending", ...base, waitingOn: found.waitingOn, reasons: explainChange(trees, last?.components, found.partial, pending) })
        continue
      }
      if (found._tag === "Hit") {
        const { record } = found
        outputs.set(node.id, record.output)
        const fromStore = found.source === "store" ? [`in the shared store ${cache.remote.pipe(Option.map((r) => r.describe), Option.getOrElse(() => ""))} (downloaded on run)`] : []
        const changed = last?.key === found.key ? [] : [`computed before as '${record.node}'`, ...explainChange(trees, last?.components, found.components, pending)]
        entries.push({ _tag: "Cached", ...base, key: found.key, output: record.output, reasons: [...fromStore, ...changed] })
        continue
      }
      pending.add(node.id)
      const reasons = explainChange(trees, last?.components, found.components, pending)
      reasons.push(...found.problems)
      if (reasons.length === 0) reasons.push("no cached output for this key (removed by gc or a cache reset)")
      entries.push({ _tag: "WillRun", ...base, key: found.key, reasons })
    }
    return entries
  })
