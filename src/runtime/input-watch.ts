/**
 * Files and folders on disk that a node's result depends on, its own file/folder inputs and its ancestors', must not
 * change while it computes. Its key names their content as hashed when the run reached the node, but stages read them
 * by path later (decode reads a data set's audio long after the loader listed it; imported features are read by
 * reference). So before an output is kept, every watched input is hashed again (the stat cache makes that one stat per
 * file unless something changed), and a difference fails the node, naming the file: nothing is ever cached under a key
 * that does not describe what was read.
 */
import { Effect, Option } from "effect"
import type { FileState } from "./file-state.ts"
import type { Graph } from "./graph.ts"
import type { KeyComponents } from "./records.ts"
import type { LocalStoreService } from "./store.ts"

export interface WatchedInput {
  readonly node: string
  readonly input: string
  readonly kind: "file" | "dir"
  readonly path: string
  readonly glob?: string
  /** Content hash of the file, or of the folder's listing, that entered the node's key. */
  readonly hash: string
}

/** The file and folder inputs of `ids`, with the hashes their keys were computed from (nodes without one are left out). */
export const watchedInputs = (
  graph: Graph,
  ids: Iterable<string>,
  componentsOf: (id: string) => KeyComponents | undefined,
): ReadonlyArray<WatchedInput> => {
  const out: Array<WatchedInput> = []
  for (const id of ids) {
    const node = graph.byId.get(id)
    const components = componentsOf(id)
    if (node === undefined || components === undefined) continue
    for (const [input, ref] of Object.entries(node.inputs)) {
      const hash = components.inputs[input]?.hashes[0]
      if (hash === undefined) continue
      if (ref.kind === "file") out.push({ node: id, input, kind: "file", path: ref.path, hash })
      else if (ref.kind === "dir") out.push({ node: id, input, kind: "dir", path: ref.path, ...(ref.glob !== undefined ? { glob: ref.glob } : {}), hash })
    }
  }
  return out
}

/** What differs between two listings of a folder, for the message: the first changed, added or removed file. */
const listingDifference = (before: ReadonlyArray<readonly [string, string]>, after: ReadonlyArray<readonly [string, string]>): string => {
  const old = new Map(before)
  const now = new Map(after)
  for (const [rel, hash] of after) {
    const was = old.get(rel)
    if (was === undefined) return `${rel} was added`
    if (was !== hash) return `${rel} was modified`
  }
  for (const [rel] of before) if (!now.has(rel)) return `${rel} was removed`
  return "its listing differs"
}

/**
 * The first watched input whose content is no longer what its key was computed from, described for the user; none
 * when all are unchanged. A file that cannot be read any more counts as changed.
 */
export const changedInput = (
  files: FileState,
  store: LocalStoreService,
  watched: ReadonlyArray<WatchedInput>,
): Effect.Effect<Option.Option<string>> =>
  Effect.gen(function* () {
    for (const w of watched) {
      const owner = `input '${w.input}' of node '${w.node}'`
      if (w.kind === "file") {
        const now = yield* Effect.either(Effect.try(() => files.hashFile(w.path)))
        if (now._tag === "Left") return Option.some(`${owner}: ${messageOf(now.left.error)}`)
        if (now.right !== w.hash) return Option.some(`${owner}: ${w.path} was modified`)
        continue
      }
      const now = yield* Effect.either(Effect.try(() => files.hashDir(w.path, w.glob)))
      if (now._tag === "Left") return Option.some(`${owner}: ${messageOf(now.left.error)}`)
      if (now.right.hash === w.hash) continue
      const before = yield* store.getTree(w.hash).pipe(Effect.option, Effect.map(Option.flatten))
      const detail = Option.match(before, { onNone: () => "its listing differs", onSome: (b) => listingDifference(b, now.right.files) })
      return Option.some(`${owner}: in folder ${w.path}, ${detail}`)
    }
    return Option.none()
  })

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))
