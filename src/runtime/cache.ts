/**
 * The cache as a service: the object store of one cache folder (the LocalStore service, store.ts), its input-file
 * hash state, and the shared store behind it (`--store`), if any.
 */
import { Context, Effect, Layer, Option } from "effect"
import * as path from "node:path"
import { FileState } from "./file-state.ts"
import type { RemoteStoreService } from "./remote.ts"
import { LocalStore, localStoreLayer, type LocalStoreService } from "./store.ts"

export interface CacheService {
  readonly store: LocalStoreService
  readonly files: FileState
  /** The shared store: hits there are downloaded, outputs computed here are uploaded. */
  readonly remote: Option.Option<RemoteStoreService>
}

export class Cache extends Context.Tag("mea/Cache")<Cache, CacheService>() {}

/** The cache folder: `--cache DIR`, else $MEA_CACHE, else ./cache. */
export const resolveCacheDir = (flag: string | undefined): string =>
  path.resolve(flag ?? process.env.MEA_CACHE ?? "cache")

/**
 * A cache over a LocalStore; the file-hash state is saved when the scope closes, whatever happened in between.
 * Provides the LocalStore too, for code that needs only the store.
 */
export const cacheOverStore = (remote: Option.Option<RemoteStoreService> = Option.none()): Layer.Layer<Cache, never, LocalStore> =>
  Layer.scoped(
    Cache,
    Effect.acquireRelease(
      Effect.map(LocalStore, (store) => ({ store, files: new FileState(path.join(store.root, "state", "files.json")), remote })),
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

/** Opens a cache folder (LocalStore and Cache). */
export const cacheLayer = (dir: string, remote: Option.Option<RemoteStoreService> = Option.none()): Layer.Layer<Cache | LocalStore> =>
  cacheOverStore(remote).pipe(Layer.provideMerge(localStoreLayer(dir)))
