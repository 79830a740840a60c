/**
 * The one "key + cached lookup" of a node, shared by the executor (which repairs and downloads), by plan/status/
 * explain (which only look) and by cluster workers. A hit is a key record whose output passes the cheap check, in the
 * local cache or, when a shared store is configured, in the store: both are read through the same KeyedStore shape.
 */
import { Effect, Option } from "effect"
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
    const computed = yield* Effect.either(nodeComponents(node, upstream, cache.files, cache.store))
    if (computed._tag === "Left") return { _tag: "Error", message: computed.left.message } as const
    if (computed.right._tag === "Pending") return { _tag: "Pending", waitingOn: computed.right.waitingOn, partial: computed.right.partial } as const
    const { key, components } = computed.right
    const { store } = cache
    const problems: Array<string> = []
    const rebuild = mode.repair ? "; rebuilding it" : ""
    const problem = (m: string) => Effect.zipRight(Effect.sync(() => void problems.push(m)), mode.repair ? mode.warn(m) : Effect.void)
    /** Repairs are best effort: a cache that refuses them only misses again next time. */
    const repair = (fix: Effect.Effect<void, unknown>) => (mode.repair ? Effect.ignore(fix) : Effect.void)

    const local = yield* Effect.either(store.getKey(key))
    if (local._tag === "Left") {
      yield* problem(`key record ${local.left.message}${rebuild}`)
      yield* repair(store.deleteKey(key))
    } else if (Option.isSome(local.right)) {
      const record = local.right.value
      const check = yield* Effect.either(store.check(record.output, false))
      if (check._tag === "Right") return { _tag: "Hit", key, components, record, source: "local" } as const
      yield* problem(`cached output ${record.output.slice(0, 12)} is corrupt (${check.left.problem})${rebuild}`)
      yield* repair(Effect.zipRight(store.quarantine(record.output), store.deleteKey(key)))
    }

    if (Option.isNone(remote)) return { _tag: "Miss", key, components, problems } as const
    const shared = remote.value
    const found = yield* Effect.gen(function* () {
      const record = yield* shared.getKey(key).pipe(
        Effect.catchTag("CorruptRecord", (e) => Effect.as(problem(`${e.message}; ignored`), Option.none<KeyRecord>())),
      )
      if (Option.isNone(record)) return undefined
      const output = record.value.output
      if (!mode.fetch) return (yield* shared.hasObject(output)) ? record.value : undefined
      if (!(yield* store.hasObject(output))) yield* shared.fetchObject(store, output)
      yield* store.putKey(record.value).pipe(Effect.catchAll((e) => problem(`cannot record the key locally: ${e.message}`)))
      return record.value
    }).pipe(Effect.catchTag("StoreError", (e) => Effect.as(problem(`shared store: ${e.message}`), undefined)))
    if (found !== undefined) return { _tag: "Hit", key, components, record: found, source: "store" } as const
    return { _tag: "Miss", key, components, problems } as const
  })
