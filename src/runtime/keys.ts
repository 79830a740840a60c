/**
 * What a node's cache key is made of: stage name and version, canonical params, and the content hashes of its inputs
 * (upstream outputs, or files/folders on disk) and, for files/folders, their absolute path, since stages such as data
 * set loaders record paths in their outputs. Node ids are not part of the key: renaming a node reuses the cache.
 */
import type { FileState } from "./file-state.ts"
import type { GraphNode } from "./graph.ts"
import { hashJson } from "./hash.ts"
import type { InputComponent, KeyComponents, Store } from "./store.ts"

export type Upstream = (id: string) => string | undefined

export type ComponentsResult =
  | { readonly _tag: "Known"; readonly components: KeyComponents; readonly key: string }
  /** Some upstream output is not known yet (it has to run first). */
  | { readonly _tag: "Pending"; readonly waitingOn: ReadonlyArray<string>; readonly partial: KeyComponents }

/** Computes a node's key from its upstream outputs; hashes input files (trusting the stat cache). Throws on a missing path. */
export const nodeComponents = (node: GraphNode, upstream: Upstream, files: FileState, store: Store): ComponentsResult => {
  const inputs: Record<string, InputComponent> = {}
  const waitingOn: Array<string> = []
  for (const [name, ref] of Object.entries(node.inputs)) {
    switch (ref.kind) {
      case "absent":
        inputs[name] = { kind: "absent", hashes: [] }
        break
      case "file":
        inputs[name] = { kind: "file", from: ref.display, path: ref.path, hashes: [files.hashFile(ref.path)] }
        break
      case "dir": {
        const listing = files.hashDir(ref.path, ref.glob)
        store.putTree(listing.hash, listing.files)
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
  if (waitingOn.length > 0) return { _tag: "Pending", waitingOn: [...new Set(waitingOn)], partial: components }
  return { _tag: "Known", components, key: keyOf(components) }
}

/** The key: `from` (node ids, paths as written) is left out on purpose. */
export const keyOf = (c: KeyComponents): string =>
  hashJson({
    stage: c.stage,
    version: c.version,
    params: c.params,
    inputs: Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, { kind: v.kind, path: v.path, hashes: v.hashes }])),
  })
