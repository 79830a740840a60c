/**
 * The content-addressed cache on disk, as the `LocalStore` service.
 *
 *   objects/ab/<hash>/       an artifact: value.json, the stage's files, and .mea-manifest.json (sizes and hashes)
 *   keys/ab/<key>.json       node key -> output hash (with what the key was computed from)
 *   nodes/<scope>.json       the last key components of a node id in a pipeline (for `explain`)
 *   runs/<time>-<pid>.json   one record per run: which outputs it used (for `gc`)
 *   trees/<hash>.json        listings of hashed input folders (for `explain` to name changed files)
 *   tmp/                     staging; anything here is invisible and may be deleted
 *   locks/                   per-key lock files
 *
 * Every write is temp file + fsync + rename, so a crash at any moment leaves either the old state or the new one.
 * Every record read back is Schema-decoded (records.ts): a garbled one is a `CorruptRecord`, an artifact that fails
 * its check a `CorruptObject`, a file system refusal a `StoreIoError`; nothing here throws.
 *
 * The file system calls are synchronous on purpose: a no-op rerun is a few hundred small reads and stats, and a
 * thread-pool round trip per call would cost more than the calls themselves.
 */
import { Context, Data, Effect, Either, Layer, Option, type Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { hashFile, hashHead, sha256 } from "./hash.ts"
import { BLOCK_BYTES, hashFileBlocks, writerBlockHash } from "./integrity.ts"
import { withLock, type LockError } from "./lock.ts"
import {
  CorruptRecord,
  decodeRecord,
  KeyRecord,
  Manifest,
  NodeRecord,
  RunRecord,
  TreeRecord,
  type ManifestFile,
} from "./records.ts"

export const MANIFEST = ".mea-manifest.json"
/** Files up to this size are fully re-hashed on every cache read; larger ones by size and their first 64 KiB. */
const FULL_CHECK_BYTES = 64 << 10
const HEAD_BYTES = 64 << 10

const OLD_HEAD_BYTES = 1 << 20

export type { InputComponent, KeyComponents, KeyRecord, Manifest, ManifestFile, NodeRecord, RunRecord, TreeRecord } from "./records.ts"
export { CorruptRecord } from "./records.ts"

// ------------------------------------------------------------------------------------------------ errors

/** The file system refused a cache operation (read-only, full, permissions). `reason` is the system's own words. */
export class StoreIoError extends Data.TaggedError("StoreIoError")<{
  readonly op: string
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot ${this.op} ${this.path}: ${this.reason}`
  }
}

/** An artifact that fails its check: it must be rebuilt, never used. */
export class CorruptObject extends Data.TaggedError("CorruptObject")<{
  readonly hash: string
  readonly problem: string
}> {
  override get message(): string {
    return `artifact ${this.hash.slice(0, 12)} is corrupt (${this.problem})`
  }
}

const reasonOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const io = <A>(op: string, where: string, f: () => A): Effect.Effect<A, StoreIoError> =>
  Effect.try({ try: f, catch: (e) => new StoreIoError({ op, path: where, reason: reasonOf(e) }) })

// ------------------------------------------------------------------------------------------------ plain file helpers

const fsyncFile = (file: string): void => {
  const fd = fs.openSync(file, "r")
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}
const fsyncDir = (dir: string): void => {
  try {
    fsyncFile(dir)
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  }
}

/**
 * Writes JSON atomically: temp file, rename. `durable` adds fsync of the file and its folder, for records that must
 * survive a power cut (key records); advisory records (explain, run history) skip it. Throws (callers wrap it).
 */
const writeJsonAtomicSync = (file: string, value: unknown, durable: boolean): void => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  const fd = fs.openSync(tmp, "w")
  try {
    fs.writeSync(fd, JSON.stringify(value))
    if (durable) fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
  if (durable) fsyncDir(path.dirname(file))
}

export const writeJsonAtomic = (file: string, value: unknown, durable = true): Effect.Effect<void, StoreIoError> =>
  io("write", file, () => writeJsonAtomicSync(file, value, durable))

/** A record file: none when absent, a CorruptRecord when present but not of the expected shape. */
export const readRecord = <A, I>(schema: Schema.Schema<A, I>, file: string): Either.Either<Option.Option<A>, CorruptRecord> => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === "ENOENT" || code === "ENOTDIR") return Either.right(Option.none())
    return Either.left(new CorruptRecord({ where: file, problem: String(e) }))
  }
  return Either.map(decodeRecord(schema, text, file), Option.some)
}

/** Listings and advisory reads take the records that decode; the others are left for `mea verify` and for the node that needs them. */
const readOrSkip = <A, I>(schema: Schema.Schema<A, I>, file: string): Option.Option<A> =>
  Either.getOrElse(readRecord(schema, file), () => Option.none())

const walkFiles = (dir: string, prefix = ""): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const rel = prefix === "" ? e.name : `${prefix}/${e.name}`
    if (e.isDirectory()) return walkFiles(path.join(dir, e.name), rel)
    return e.isFile() && rel !== MANIFEST ? [rel] : []
  })

const readdirOrEmpty = (dir: string): Array<string> => {
  try {
    return fs.readdirSync(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return []
    throw e
  }
}

const manifestHash = (files: ReadonlyArray<ManifestFile>): string => sha256(files.map((f) => `${f.name}\0${f.size}\0${f.hash}\n`).join(""))

// ------------------------------------------------------------------------------------------------ the service

/**
 * What any artifact store does with key records and objects: the local folder below, and the shared store
 * (remote.ts) in the same shape, so the one lookup (lookup.ts) reads both the same way. `E` is the store's I/O error.
 */
export interface KeyedStore<E> {
  /** Where the store is, safe to print. */
  readonly describe: string
  /** The key's record: none when there is none, a CorruptRecord when it does not decode. */
  readonly getKey: (key: string) => Effect.Effect<Option.Option<KeyRecord>, CorruptRecord | E>
  /** Publishes a key record; only after its output object is complete in this store. */
  readonly putKey: (record: KeyRecord) => Effect.Effect<void, E>
  /** Whether the store holds the complete object `hash`. */
  readonly hasObject: (hash: string) => Effect.Effect<boolean, E>
}

export interface LocalStoreService extends KeyedStore<StoreIoError> {
  /** A key record is a local file: reading it fails only as a CorruptRecord (an unreadable file is one too). */
  readonly getKey: (key: string) => Effect.Effect<Option.Option<KeyRecord>, CorruptRecord>
  /** Whether the object passes the cheap check (see `check`). */
  readonly hasObject: (hash: string) => Effect.Effect<boolean>
  readonly root: string
  /** Staging, quarantine and lock folders (swept by activity.ts and gc). */
  readonly tmp: string
  readonly corrupt: string
  readonly locks: string
  readonly objectDir: (hash: string) => string
  readonly manifestFile: (hash: string) => string
  /** Where a key record lives (for messages). */
  readonly keyFile: (key: string) => string

  /** A fresh private folder for a stage to write its output into. */
  readonly newStaging: Effect.Effect<string, StoreIoError>
  /** Hashes a staged output, makes it durable and publishes it under its hash. */
  readonly commit: (staging: string) => Effect.Effect<Manifest, StoreIoError>
  /** The manifest, if the object exists; a CorruptRecord when it does not decode. */
  readonly manifest: (hash: string) => Effect.Effect<Option.Option<Manifest>, CorruptRecord>
  /** The manifest's bytes, for a copy that keeps fields this version does not know. */
  readonly manifestText: (hash: string) => Effect.Effect<string, StoreIoError>
  /**
   * Verifies an artifact. Cheap (every cache read): manifest present, same file set and sizes, small files fully
   * re-hashed, large ones by their first 64 KiB. Full (`mea verify`): every byte.
   */
  readonly check: (hash: string, full: boolean) => Effect.Effect<void, CorruptObject>
  /** Moves a bad artifact out of the way (kept for inspection under corrupt/), so it is rebuilt, never used. */
  readonly quarantine: (hash: string) => Effect.Effect<void, StoreIoError>
  readonly deleteObject: (hash: string) => Effect.Effect<void, StoreIoError>
  readonly objects: Effect.Effect<ReadonlyArray<string>, StoreIoError>
  /** Object hashes starting with a hex prefix (of at least 2 digits). */
  readonly resolvePrefix: (prefix: string) => Effect.Effect<ReadonlyArray<string>, StoreIoError>
  /** Bytes of an object by its manifest (0 when it has none). */
  readonly sizeOf: (hash: string) => Effect.Effect<number>

  readonly deleteKey: (key: string) => Effect.Effect<void, StoreIoError>
  /** Every key record that decodes. */
  readonly keys: Effect.Effect<ReadonlyArray<KeyRecord>, StoreIoError>

  /** A node's last components in a pipeline (advisory: a garbled record reads as none). */
  readonly getNode: (pipeline: string, node: string) => Effect.Effect<Option.Option<NodeRecord>>
  /** Records a node's last components; skipped when nothing changed, so a no-op rerun writes nothing per node. */
  readonly putNode: (record: NodeRecord) => Effect.Effect<void, StoreIoError>
  readonly nodes: Effect.Effect<ReadonlyArray<NodeRecord>, StoreIoError>

  /** A hashed input folder's listing (written once per content hash). */
  readonly putTree: (hash: string, files: TreeRecord) => Effect.Effect<void, StoreIoError>
  readonly getTree: (hash: string) => Effect.Effect<Option.Option<TreeRecord>, CorruptRecord>

  readonly putRun: (run: RunRecord) => Effect.Effect<void, StoreIoError>
  readonly runs: Effect.Effect<ReadonlyArray<{ readonly file: string; readonly run: RunRecord }>, StoreIoError>
  readonly deleteRun: (file: string) => Effect.Effect<void, StoreIoError>

  /** Runs `use` holding the lock of `key`, so two processes never compute the same output at once (lock.ts). */
  readonly withLock: <A, E, R>(
    key: string,
    node: string,
    onWait: (owner: { readonly pid: number; readonly node: string }) => Effect.Effect<void>,
    use: Effect.Effect<A, E, R>,
  ) => Effect.Effect<A, E | LockError, R>
}

export class LocalStore extends Context.Tag("mea/LocalStore")<LocalStore, LocalStoreService>() {}

/** The store of a cache folder. Opening it touches nothing: folders are made when something is written. */
export const makeLocalStore = (root: string): LocalStoreService => {
  const objectsDir = path.join(root, "objects")
  const keysDir = path.join(root, "keys")
  const nodesDir = path.join(root, "nodes")
  const runsDir = path.join(root, "runs")
  const treesDir = path.join(root, "trees")
  const tmp = path.join(root, "tmp")
  const locks = path.join(root, "locks")
  const corrupt = path.join(root, "corrupt")

  const objectDir = (hash: string) => path.join(objectsDir, hash.slice(0, 2), hash)
  const manifestFile = (hash: string) => path.join(objectDir(hash), MANIFEST)
  const keyFile = (key: string) => path.join(keysDir, key.slice(0, 2), `${key}.json`)
  const nodeFile = (pipeline: string, node: string) => path.join(nodesDir, `${sha256(`${pipeline}\0${node}`).slice(0, 32)}.json`)
  const treeFile = (hash: string) => path.join(treesDir, `${hash}.json`)

  /** The check itself; any surprise from the file system (a file vanishing mid-check) is a problem with the object. */
  const checkSync = (hash: string, full: boolean): string | undefined => {
    const dir = objectDir(hash)
    const read = readRecord(Manifest, manifestFile(hash))
    if (Either.isLeft(read)) return `its manifest is unreadable (${read.left.problem})`
    if (Option.isNone(read.right)) return "its manifest is missing"
    const manifest = read.right.value
    if (manifest.hash !== hash) return `its manifest names hash ${manifest.hash}`
    if (manifestHash(manifest.files) !== hash) return "its manifest was altered"
    const present = new Set(walkFiles(dir))
    for (const f of manifest.files) {
      const file = path.join(dir, f.name)
      if (!present.has(f.name)) return `file ${f.name} is missing`
      present.delete(f.name)
      const size = fs.statSync(file).size
      if (size !== f.size) return `file ${f.name} has ${size} bytes, expected ${f.size}`
      if (full || f.size <= FULL_CHECK_BYTES) {
        if (hashFile(file) !== f.hash) return `file ${f.name} does not match its hash`
      } else if (hashHead(file, manifest.headBytes ?? OLD_HEAD_BYTES) !== f.head) {
        return `file ${f.name} does not match its hash in its first ${manifest.headBytes ?? OLD_HEAD_BYTES} bytes`
      }
    }
    if (present.size > 0) return `unexpected file ${[...present][0]}`
    return undefined
  }
  const check = (hash: string, full: boolean): Effect.Effect<void, CorruptObject> =>
    Effect.suspend(() => {
      let problem: string | undefined
      try {
        problem = checkSync(hash, full)
      } catch (e) {
        problem = reasonOf(e)
      }
      return problem === undefined ? Effect.void : Effect.fail(new CorruptObject({ hash, problem }))
    })

  const quarantine = (hash: string) =>
    io("quarantine", objectDir(hash), () => {
      const dir = objectDir(hash)
      if (!fs.existsSync(dir)) return
      fs.mkdirSync(corrupt, { recursive: true })
      fs.renameSync(dir, path.join(corrupt, `${hash}-${Date.now()}`))
    })

  const commitSync = (staging: string): Manifest => {
    const blockHash = writerBlockHash()
    const files = walkFiles(staging)
      .sort()
      .map((name): ManifestFile => {
        const file = path.join(staging, name)
        fsyncFile(file)
        // One read gives the content hash, the head hash and the block hashes (integrity.ts).
        const h = hashFileBlocks(file, blockHash)
        return { name, size: h.size, hash: h.hash, head: h.head, blocks: h.blocks }
      })
    const hash = manifestHash(files)
    const manifest: Manifest = { hash, headBytes: HEAD_BYTES, blockBytes: BLOCK_BYTES, blockHash, files }
    writeJsonAtomicSync(path.join(staging, MANIFEST), manifest, true)
    fsyncDir(staging)
    const target = objectDir(hash)
    if (fs.existsSync(target) && checkSync(hash, false) === undefined) {
      // Early cutoff's common case: the same output again. Keep the published copy.
      fs.rmSync(staging, { recursive: true, force: true })
      return manifest
    }
    fs.mkdirSync(path.dirname(target), { recursive: true })
    if (fs.existsSync(target)) {
      // A published copy that fails its check: kept for inspection, replaced by this one.
      fs.mkdirSync(corrupt, { recursive: true })
      fs.renameSync(target, path.join(corrupt, `${hash}-${Date.now()}`))
    }
    fs.renameSync(staging, target)
    fsyncDir(path.dirname(target))
    return manifest
  }

  const getNode = (pipeline: string, node: string) => Effect.sync(() => readOrSkip(NodeRecord, nodeFile(pipeline, node)))

  return {
    describe: root,
    root,
    tmp,
    corrupt,
    locks,
    objectDir,
    manifestFile,
    keyFile,

    newStaging: io("make a staging folder in", tmp, () => {
      fs.mkdirSync(tmp, { recursive: true })
      return fs.mkdtempSync(path.join(tmp, `stage-${process.pid}-`))
    }),
    commit: (staging) => io("store", staging, () => commitSync(staging)),
    manifest: (hash) => Effect.suspend(() => readRecord(Manifest, manifestFile(hash))),
    manifestText: (hash) => io("read", manifestFile(hash), () => fs.readFileSync(manifestFile(hash), "utf8")),
    check,
    hasObject: (hash) => Effect.isSuccess(check(hash, false)),
    quarantine,
    deleteObject: (hash) => io("remove", objectDir(hash), () => fs.rmSync(objectDir(hash), { recursive: true, force: true })),
    objects: io("list", objectsDir, () => readdirOrEmpty(objectsDir).flatMap((d) => fs.readdirSync(path.join(objectsDir, d)))),
    resolvePrefix: (prefix) =>
      prefix.length < 2 || !/^[0-9a-f]+$/.test(prefix)
        ? Effect.succeed([])
        : io("list", path.join(objectsDir, prefix.slice(0, 2)), () => readdirOrEmpty(path.join(objectsDir, prefix.slice(0, 2))).filter((h) => h.startsWith(prefix))),
    sizeOf: (hash) =>
      Effect.sync(() => Option.match(readOrSkip(Manifest, manifestFile(hash)), { onNone: () => 0, onSome: (m) => m.files.reduce((a, f) => a + f.size, 0) })),

    getKey: (key) => Effect.suspend(() => readRecord(KeyRecord, keyFile(key))),
    putKey: (record) => writeJsonAtomic(keyFile(record.key), record),
    deleteKey: (key) => io("remove", keyFile(key), () => fs.rmSync(keyFile(key), { force: true })),
    keys: io("list", keysDir, () =>
      readdirOrEmpty(keysDir).flatMap((d) => fs.readdirSync(path.join(keysDir, d)).flatMap((f) => Option.toArray(readOrSkip(KeyRecord, path.join(keysDir, d, f))))),
    ),

    getNode,
    putNode: (record) =>
      Effect.flatMap(getNode(record.pipeline, record.node), (prev) =>
        Option.isSome(prev) && prev.value.key === record.key && prev.value.output === record.output
          ? Effect.void
          : writeJsonAtomic(nodeFile(record.pipeline, record.node), record, false),
      ),
    nodes: io("list", nodesDir, () => readdirOrEmpty(nodesDir).flatMap((f) => Option.toArray(readOrSkip(NodeRecord, path.join(nodesDir, f))))),

    putTree: (hash, files) => Effect.suspend(() => (fs.existsSync(treeFile(hash)) ? Effect.void : writeJsonAtomic(treeFile(hash), files, false))),
    getTree: (hash) => Effect.suspend(() => readRecord(TreeRecord, treeFile(hash))),

    putRun: (run) => {
      const stamp = run.at.replace(/[:.]/g, "-")
      return writeJsonAtomic(path.join(runsDir, `${stamp}-${process.pid}-${Math.random().toString(36).slice(2, 6)}.json`), run, false)
    },
    runs: io("list", runsDir, () =>
      readdirOrEmpty(runsDir)
        .filter((f) => f.endsWith(".json"))
        .sort()
        .flatMap((f) => Option.toArray(Option.map(readOrSkip(RunRecord, path.join(runsDir, f)), (run) => ({ file: path.join(runsDir, f), run })))),
    ),
    deleteRun: (file) => io("remove", file, () => fs.rmSync(file, { force: true })),

    withLock: (key, node, onWait, use) => withLock(locks, key, node, onWait, use),
  }
}

export const localStoreLayer = (root: string): Layer.Layer<LocalStore> => Layer.sync(LocalStore, () => makeLocalStore(root))
