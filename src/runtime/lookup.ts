/**
 * The one "key + cached lookup" of a node, shared by the executor (which repairs and downloads) and by plan/status/
 * explain (which only look). A hit is a key record whose output passes the cheap check, in the local cache or, when a
 * shared store is configured, in the store.
 */
import { Effect, Either, Option } from "effect"
import type { CacheService } from "./cache.ts"
import type { GraphNode } from "./graph.ts"
import { nodeComponents, type Upstream } from "./keys.ts"
import type { KeyComponents, KeyRecord } from "./records.ts"
import type { RemoteStoreService } from "./remote.ts"

export type Lookup =
  /** The key cannot be computed (e.g. an input file is missing). */
  | { readonly _tag: "Error"; readonly message: string }
  /** Some upstream output is not known yet. */
  | { readonly _tag: "Pending"; readonly waitingOn: ReadonlyArray<string>; readonly partial: KeyComponents }
  | { readonly _tag: "Hit"; readonly key: string; readonly components: KeyComponents; readonly record: KeyRecord; readonly source: "local" | "store" }
  /** `problems`: why a record that existed was not used (corrupt record or output, unreachable store). */
  | { readonly _tag: "Miss"; readonly key: string; readonly components: KeyComponents; readonly problems: ReadonlyArray<string> }

export interface LookupMode {
  /** Quarantine corrupt outputs and drop corrupt or dangling key records (the executor); plan only reports them. */
  readonly repair: boolean
  /** Download a store hit into the local cache (the executor); plan only asks whether the store has it. */
  readonly fetch: boolean
  readonly warn: (message: string) => Effect.Effect<void>
}

export const lookupNode = (
  cache: CacheService,
  remote: Option.Option<RemoteStoreService>,
  node: GraphNode,
  upstream: Upstream,
  mode: LookupMode,
): Effect.Effect<Lookup> =>
  Effect.gen(function* () {
    let computed: ReturnType<typeof nodeComponents>
    try {
      computed = nodeComponents(node, upstream, cache.files, cache.store)
    } catch (e) {
      return { _tag: "Error", message: e instanceof Error ? e.message : String(e) } as const
    }
    if (computed._tag === "Pending") return { _tag: "Pending", waitingOn: computed.waitingOn, partial: computed.partial } as const
    const { key, components } = computed
    const problems: Array<string> = []
    const rebuild = mode.repair ? "; rebuilding it" : ""
    const problem = (m: string) => Effect.zipRight(Effect.sync(() => void problems.push(m)), mode.repair ? mode.warn(m) : Effect.void)

    const local = cache.store.getKey(key)
    if (Either.isLeft(local)) {
      yield* problem(`key record ${local.left.message}${rebuild}`)
      if (mode.repair) cache.store.deleteKey(key)
    } else if (local.right !== undefined) {
      const record = local.right
      const check = cache.store.check(record.output, false)
      if (check.ok) return { _tag: "Hit", key, components, record, source: "local" } as const
      yield* problem(`cached output ${record.output.slice(0, 12)} is corrupt (${check.problem})${rebuild}`)
      if (mode.repair) {
        cache.store.quarantine(record.output)
        cache.store.deleteKey(key)
      }
    }

    if (Option.isNone(remote)) return { _tag: "Miss", key, components, problems } as const
    const store = remote.value
    const found = yield* Effect.gen(function* () {
      const record = yield* store.getKey(key, (m) => problem(`${m}; ignored`))
      if (record === undefined) return undefined
      if (!mode.fetch) return (yield* store.hasObject(record.output)) ? record : undefined
      if (!cache.store.check(record.output, false).ok) yield* store.fetchObject(cache.store, record.output)
      cache.store.putKey(record)
      return record
    }).pipe(
      Effect.catchTag("StoreError", (e) => Effect.as(problem(`shared store: ${e.message}`), undefined)),
    )
    if (found !== undefined) return { _tag: "Hit", key, components, record: found, source: "store" } as const
    return { _tag: "Miss", key, components, problems } as const
  })
