/**
 * The cache as a service: the object store and the input-file hash state of one cache folder, and the shared store
 * behind it (`--store`), if any.
 */
import { Context, Effect, Layer, Option } from "effect"
import * as path from "node:path"
import { FileState } from "./file-state.ts"
import type { RemoteStoreService } from "./remote.ts"
import { Store } from "./store.ts"

export interface CacheService {
  readonly store: Store
  readonly files: FileState
  /** The shared store: hits there are downloaded, outputs computed here are uploaded. */
  readonly remote: Option.Option<RemoteStoreService>
}

export class Cache extends Context.Tag("mea/Cache")<Cache, CacheService>() {}

/** The cache folder: `--cache DIR`, else $MEA_CACHE, else ./cache. */
export const resolveCacheDir = (flag: string | undefined): string =>
  path.resolve(flag ?? process.env.MEA_CACHE ?? "cache")

/** Opens a cache folder; the file-hash state is saved when the scope closes, whatever happened in between. */
export const cacheLayer = (dir: string, remote: Option.Option<RemoteStoreService> = Option.none()): Layer.Layer<Cache> =>
  Layer.scoped(
    Cache,
    Effect.acquireRelease(
      Effect.sync(() => {
        const store = new Store(dir)
        return { store, files: new FileState(path.join(dir, "state", "files.json")), remote }
      }),
      (c) =>
        Effect.sync(() => {
          try {
            c.files.save()
          } catch {
            // A read-only or full cache: the stat cache only saves re-hashing next time; losing it loses nothing.
          }
        }),
    ),
  )
