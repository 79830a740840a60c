/**
 * What a node's cache key is made of: stage name and version, canonical params, and the content hashes of its inputs
 * (upstream outputs, or files/folders on disk) and, for files/folders, their absolute path, since stages such as data
 * set loaders record paths in their outputs. Node ids are not part of the key: renaming a node reuses the cache.
 */
import { Data, Effect } from "effect"
import type { FileState } from "./file-state.ts"
import type { GraphNode } from "./graph.ts"
import { hashJson } from "./hash.ts"
import type { InputComponent, KeyComponents, LocalStoreService } from "./store.ts"

export type Upstream = (id: string) => string | undefined

export type ComponentsResult =
  | { readonly _tag: "Known"; readonly components: KeyComponents; readonly key: string }
  /** Some upstream output is not known yet (it has to run first). */
  | { readonly _tag: "Pending"; readonly waitingOn: ReadonlyArray<string>; readonly partial: KeyComponents }

/** A node's key cannot be computed: an input file or folder is missing or unreadable, or its listing cannot be kept. */
export class KeyUnavailable extends Data.TaggedError("KeyUnavailable")<{
  readonly node: string
  readonly input: string
  readonly message: string
}> {}

const hashInput = <A>(node: GraphNode, input: string, f: () => A): Effect.Effect<A, KeyUnavailable> =>
  Effect.try({ try: f, catch: (e) => new KeyUnavailable({ node: node.id, input, message: e instanceof Error ? e.message : String(e) }) })

/** Computes a node's key from its upstream outputs; hashes input files (trusting the stat cache). */
export const nodeComponents = (
  node: GraphNode,
  upstream: Upstream,
  files: FileState,
  store: LocalStoreService,
): Effect.Effect<ComponentsResult, KeyUnavailable> =>
  Effect.gen(function* () {
    const inputs: Record<string, InputComponent> = {}
    const waitingOn: Array<string> = []
    for (const [name, ref] of Object.entries(node.inputs)) {
      switch (ref.kind) {
        case "absent":
          inputs[name] = { kind: "absent", hashes: [] }
          break
        case "file":
          inputs[name] = { kind: "file", from: ref.display, path: ref.path, hashes: [yield* hashInput(node, name, () => files.hashFile(ref.path))] }
          break
        case "dir": {
          const listing = yield* hashInput(node, name, () => files.hashDir(ref.path, ref.glob))
          // The listing is what the stage is given as the folder's files: it must be kept, not only hashed.
          yield* store.putTree(listing.hash, listing.files).pipe(Effect.mapError((e) => new KeyUnavailable({ node: node.id, input: name, message: e.message })))
          inputs[name] = { kind: "dir", from: ref.display, path: ref.path, hashes: [listing.hash] }
          break
        }
        case "node": {
          const hashes = ref.ids.map((id) => upstream(id) ?? "")
          ref.ids.forEach((id, i) => {
            if (hashes[i] === "") waitingOn.push(id)
          })
          inputs[name] = { kind: "node", from: ref.ids, hashes }
          break
        }
      }
    }
    const components: KeyComponents = { stage: node.stage.name, version: node.stage.version, params: node.params, inputs }
    if (waitingOn.length > 0) return { _tag: "Pending", waitingOn: [...new Set(waitingOn)], partial: components } as const
    return { _tag: "Known", components, key: keyOf(components) } as const
  })

/** The key: `from` (node ids, paths as written) is left out on purpose. */
export const keyOf = (c: KeyComponents): string =>
  hashJson({
    stage: c.stage,
    version: c.version,
    params: c.params,
    inputs: Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, { kind: v.kind, path: v.path, hashes: v.hashes }])),
  })
