/**
 * A shared artifact store behind the local cache (`--store`): content-addressed objects and key records in the same
 * layout as the local cache folder, on a backend that only moves bytes (a folder, or S3 in src/distributed/s3.ts).
 *
 *   objects/ab/<hash>/<file>                every file of an artifact
 *   objects/ab/<hash>/.mea-manifest.json    written after every file is uploaded and verified: the object is complete
 *   keys/ab/<key>.json                      written after the object's manifest: a key never names a missing object
 *
 * That order is Bazel's rule against cache poisoning: a reader that finds a key finds a complete object, and every
 * download is re-hashed against the manifest before the local cache adopts it.
 */
import { Context, Data, Effect, Either, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { hashFile } from "./hash.ts"
import { CorruptRecord, decodeRecord, KeyRecord, Manifest } from "./records.ts"
import { MANIFEST, type KeyedStore, type LocalStoreService } from "./store.ts"

/** A remote store failed (unreachable, refused, or a download that does not match its hash). */
export class StoreError extends Data.TaggedError("StoreError")<{ readonly message: string }> {}

/** What a backend must do: move whole files and small texts by relative path. Uploads are verified by the backend. */
export interface Blobs {
  /** Where the store is, safe to print: never holds a credential. */
  readonly describe: string
  readonly readText: (rel: string) => Effect.Effect<string | undefined, StoreError>
  readonly writeText: (rel: string, text: string) => Effect.Effect<void, StoreError>
  /** Streams a local file up; fails unless the stored copy is verified to have `size` bytes and hash `sha256`. */
  readonly upload: (rel: string, file: string, expected: { readonly size: number; readonly sha256: string }) => Effect.Effect<void, StoreError>
  /** Streams an object down into `file`; returns its size and sha256 as received. */
  readonly download: (rel: string, file: string) => Effect.Effect<{ readonly size: number; readonly sha256: string }, StoreError>
}

/** Up to this size, an object is uploaded without first asking whether the store already has it. */
export const SMALL_OBJECT_BYTES = 1 << 20

export const objectPath = (hash: string, name: string): string => `objects/${hash.slice(0, 2)}/${hash}/${name}`
export const keyPath = (key: string): string => `keys/${key.slice(0, 2)}/${key}.json`

/**
 * The shared store: the same key/object shape as the local folder (store.ts's KeyedStore), plus moving objects
 * between it and a local store. A corrupt remote key record is a `CorruptRecord` (the lookup treats it as a miss).
 */
export interface RemoteStoreService extends KeyedStore<StoreError> {
  /** Uploads a local object (skipped when the store has it), files first, manifest last. */
  readonly pushObject: (local: LocalStoreService, hash: string) => Effect.Effect<void, StoreError>
  /** Downloads an object into the local cache, verifying every file against its manifest. */
  readonly fetchObject: (local: LocalStoreService, hash: string) => Effect.Effect<void, StoreError>
}

/** The shared store of this run, if `--store` (or MEA_STORE, or the pipeline's `cluster:` block) named one. */
export class RemoteStore extends Context.Tag("mea/RemoteStore")<RemoteStore, Option.Option<RemoteStoreService>>() {}

const readManifest = (blobs: Blobs, hash: string) =>
  Effect.gen(function* () {
    const text = yield* blobs.readText(objectPath(hash, MANIFEST))
    if (text === undefined) return undefined
    const decoded = decodeRecord(Manifest, text, `${blobs.describe}/${objectPath(hash, MANIFEST)}`)
    if (Either.isLeft(decoded)) return yield* Effect.fail(new StoreError({ message: decoded.left.message }))
    if (decoded.right.hash !== hash) return yield* Effect.fail(new StoreError({ message: `${blobs.describe}/${objectPath(hash, MANIFEST)} names hash ${decoded.right.hash}` }))
    return decoded.right
  })

export const makeRemoteStore = (blobs: Blobs): RemoteStoreService => ({
  describe: blobs.describe,
  getKey: (key) =>
    Effect.gen(function* () {
      const where = `${blobs.describe}/${keyPath(key)}`
      const text = yield* blobs.readText(keyPath(key))
      if (text === undefined) return Option.none()
      const decoded = decodeRecord(KeyRecord, text, where)
      if (Either.isLeft(decoded)) return yield* Effect.fail(decoded.left)
      if (decoded.right.key !== key) return yield* Effect.fail(new CorruptRecord({ where, problem: `it names key ${decoded.right.key}` }))
      return Option.some(decoded.right)
    }),
  hasObject: (hash) => Effect.map(readManifest(blobs, hash), (m) => m !== undefined),
  pushObject: (local, hash) =>
    Effect.gen(function* () {
      const manifest = yield* local.manifest(hash).pipe(
        Effect.flatten,
        Effect.mapError(() => new StoreError({ message: `local object ${hash.slice(0, 12)} has no readable manifest` })),
      )
      // Asking whether the store has the object costs a round trip; for a small object, uploading it again costs about
      // the same, and is harmless: objects are content-addressed, so the same bytes land under the same names.
      const bytes = manifest.files.reduce((n, f) => n + f.size, 0)
      if (bytes > SMALL_OBJECT_BYTES && (yield* readManifest(blobs, hash).pipe(Effect.orElseSucceed(() => undefined))) !== undefined) return
      for (const f of manifest.files) {
        yield* blobs.upload(objectPath(hash, f.name), path.join(local.objectDir(hash), f.name), { size: f.size, sha256: f.hash })
      }
      // The manifest is copied byte for byte (a newer writer's extra fields survive), and last.
      const text = yield* local.manifestText(hash).pipe(Effect.mapError((e) => new StoreError({ message: e.message })))
      yield* blobs.writeText(objectPath(hash, MANIFEST), text)
    }),
  fetchObject: (local, hash) =>
    Effect.gen(function* () {
      const manifest = yield* readManifest(blobs, hash)
      if (manifest === undefined) return yield* Effect.fail(new StoreError({ message: `${blobs.describe} has no object ${hash.slice(0, 12)}` }))
      const staging = yield* local.newStaging.pipe(Effect.mapError((e) => new StoreError({ message: `cannot store ${hash.slice(0, 12)} locally: ${e.reason}` })))
      const cleanup = Effect.sync(() => fs.rmSync(staging, { recursive: true, force: true }))
      yield* Effect.gen(function* () {
        for (const f of manifest.files) {
          const target = path.join(staging, f.name)
          yield* Effect.try({
            try: () => fs.mkdirSync(path.dirname(target), { recursive: true }),
            catch: (e) => new StoreError({ message: `cannot store ${hash.slice(0, 12)} locally: ${e instanceof Error ? e.message : String(e)}` }),
          })
          const got = yield* blobs.download(objectPath(hash, f.name), target)
          if (got.size !== f.size || got.sha256 !== f.hash) {
            return yield* Effect.fail(
              new StoreError({ message: `${blobs.describe}/${objectPath(hash, f.name)} does not match its manifest (${got.size} bytes, expected ${f.size}); not used` }),
            )
          }
        }
        const committed = yield* local.commit(staging).pipe(
          Effect.mapError((e) => new StoreError({ message: `cannot store ${hash.slice(0, 12)} locally: ${e.reason}` })),
          // Another process (a worker sharing this cache) may have published the same object first.
          Effect.catchAll((e) => Effect.flatMap(local.hasObject(hash), (ok) => (ok ? Effect.succeed({ hash }) : Effect.fail(e)))),
        )
        if (committed.hash !== hash) {
          return yield* Effect.fail(new StoreError({ message: `${blobs.describe} object ${hash.slice(0, 12)} hashes to ${committed.hash.slice(0, 12)}; not used` }))
        }
      }).pipe(Effect.onError(() => cleanup))
    }),
  putKey: (record) => blobs.writeText(keyPath(record.key), JSON.stringify(record)),
})

// ------------------------------------------------------------------------------------------------ a folder backend

const storeFail = (what: string) => (e: unknown) => new StoreError({ message: `${what}: ${e instanceof Error ? e.message : String(e)}` })

/** A store in a folder (a shared mount, or a second disk): atomic renames, copies re-hashed before they count. */
export const folderBlobs = (root: string): Blobs => {
  const full = (rel: string) => path.join(root, ...rel.split("/"))
  const tmpName = (file: string) => `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  return {
    describe: root,
    readText: (rel) =>
      Effect.try({
        try: () => {
          try {
            return fs.readFileSync(full(rel), "utf8")
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
            throw e
          }
        },
        catch: storeFail(`cannot read ${full(rel)}`),
      }),
    writeText: (rel, text) =>
      Effect.try({
        try: () => {
          const file = full(rel)
          fs.mkdirSync(path.dirname(file), { recursive: true })
          const tmp = tmpName(file)
          fs.writeFileSync(tmp, text)
          fs.renameSync(tmp, file)
        },
        catch: storeFail(`cannot write ${full(rel)}`),
      }),
    upload: (rel, file, expected) =>
      Effect.try({
        try: () => {
          const target = full(rel)
          fs.mkdirSync(path.dirname(target), { recursive: true })
          const tmp = tmpName(target)
          fs.copyFileSync(file, tmp)
          const size = fs.statSync(tmp).size
          if (size !== expected.size || hashFile(tmp) !== expected.sha256) {
            fs.rmSync(tmp, { force: true })
            throw new Error(`the copy does not match ${file}`)
          }
          fs.renameSync(tmp, target)
        },
        catch: storeFail(`cannot upload ${full(rel)}`),
      }),
    download: (rel, file) =>
      Effect.try({
        try: () => {
          fs.copyFileSync(full(rel), file)
          return { size: fs.statSync(file).size, sha256: hashFile(file) }
        },
        catch: storeFail(`cannot download ${full(rel)}`),
      }),
  }
}
