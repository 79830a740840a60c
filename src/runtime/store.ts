/**
 * The content-addressed cache on disk.
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
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Either } from "effect"
import { hashFile, hashHead, sha256 } from "./hash.ts"
import { BLOCK_BYTES, hashFileBlocks } from "./integrity.ts"
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

export type { InputComponent, KeyComponents, KeyRecord, Manifest, ManifestFile, NodeRecord, RunRecord } from "./records.ts"

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
 * survive a power cut (key records); advisory records (explain, run history) skip it.
 */
export const writeJsonAtomic = (file: string, value: unknown, durable = true): void => {
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

/** A record file: undefined when absent, a CorruptRecord when present but not of the expected shape. */
export const readRecord = <A, I>(schema: import("effect").Schema.Schema<A, I>, file: string): Either.Either<A | undefined, CorruptRecord> => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === "ENOENT" || code === "ENOTDIR") return Either.right(undefined)
    return Either.left(new CorruptRecord({ where: file, problem: String(e) }))
  }
  return decodeRecord(schema, text, file)
}

/** Listings read the records that decode; the others are left for `mea verify` and for the node that needs them. */
const readOrSkip = <A, I>(schema: import("effect").Schema.Schema<A, I>, file: string): A | undefined =>
  Either.getOrUndefined(readRecord(schema, file))

const walkFiles = (dir: string, prefix = ""): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const rel = prefix === "" ? e.name : `${prefix}/${e.name}`
    if (e.isDirectory()) return walkFiles(path.join(dir, e.name), rel)
    return e.isFile() && rel !== MANIFEST ? [rel] : []
  })

export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly problem: string }

export class Store {
  readonly objects: string
  readonly keys: string
  readonly nodesDir: string
  readonly runs: string
  readonly trees: string
  readonly tmp: string
  readonly locks: string
  readonly corrupt: string

  constructor(readonly root: string) {
    this.objects = path.join(root, "objects")
    this.keys = path.join(root, "keys")
    this.nodesDir = path.join(root, "nodes")
    this.runs = path.join(root, "runs")
    this.trees = path.join(root, "trees")
    this.tmp = path.join(root, "tmp")
    this.locks = path.join(root, "locks")
    this.corrupt = path.join(root, "corrupt")
  }

  objectDir(hash: string): string {
    return path.join(this.objects, hash.slice(0, 2), hash)
  }

  /** A fresh private folder for a stage to write its output into. */
  newStaging(): string {
    fs.mkdirSync(this.tmp, { recursive: true })
    return fs.mkdtempSync(path.join(this.tmp, `stage-${process.pid}-`))
  }

  /** Hashes a staged output, makes it durable and publishes it under its hash. Returns the hash. */
  commit(staging: string): Manifest {
    const files = walkFiles(staging)
      .sort()
      .map((name): ManifestFile => {
        const full = path.join(staging, name)
        fsyncFile(full)
        // One read gives the content hash, the head hash and the block hashes (integrity.ts).
        const h = hashFileBlocks(full)
        return { name, size: h.size, hash: h.hash, head: h.head, blocks: h.blocks }
      })
    const hash = sha256(files.map((f) => `${f.name}\0${f.size}\0${f.hash}\n`).join(""))
    const manifest: Manifest = { hash, headBytes: HEAD_BYTES, blockBytes: BLOCK_BYTES, files }
    writeJsonAtomic(path.join(staging, MANIFEST), manifest)
    fsyncDir(staging)
    const target = this.objectDir(hash)
    if (fs.existsSync(target) && this.check(hash, false).ok) {
      // Early cutoff's common case: the same output again. Keep the published copy.
      fs.rmSync(staging, { recursive: true, force: true })
      return manifest
    }
    fs.mkdirSync(path.dirname(target), { recursive: true })
    if (fs.existsSync(target)) this.quarantine(hash)
    fs.renameSync(staging, target)
    fsyncDir(path.dirname(target))
    return manifest
  }

  manifestFile(hash: string): string {
    return path.join(this.objectDir(hash), MANIFEST)
  }
  /** The manifest, if the object exists and its manifest decodes. */
  manifest(hash: string): Manifest | undefined {
    return readOrSkip(Manifest, this.manifestFile(hash))
  }

  /**
   * Verifies an artifact. Cheap (every cache read): manifest present, same file set and sizes, small files fully
   * re-hashed, large ones by their first 64 KiB. Full (`mea verify`): every byte.
   */
  check(hash: string, full: boolean): CheckResult {
    const dir = this.objectDir(hash)
    const read = readRecord(Manifest, this.manifestFile(hash))
    if (Either.isLeft(read)) return { ok: false, problem: `its manifest is unreadable (${read.left.problem})` }
    const manifest = read.right
    if (manifest === undefined) return { ok: false, problem: "its manifest is missing" }
    if (manifest.hash !== hash) return { ok: false, problem: `its manifest names hash ${manifest.hash}` }
    const recomputed = sha256(manifest.files.map((f) => `${f.name}\0${f.size}\0${f.hash}\n`).join(""))
    if (recomputed !== hash) return { ok: false, problem: "its manifest was altered" }
    const present = new Set(walkFiles(dir))
    for (const f of manifest.files) {
      const full_ = path.join(dir, f.name)
      if (!present.has(f.name)) return { ok: false, problem: `file ${f.name} is missing` }
      present.delete(f.name)
      const size = fs.statSync(full_).size
      if (size !== f.size) return { ok: false, problem: `file ${f.name} has ${size} bytes, expected ${f.size}` }
      if (full || f.size <= FULL_CHECK_BYTES) {
        if (hashFile(full_) !== f.hash) return { ok: false, problem: `file ${f.name} does not match its hash` }
      } else if (hashHead(full_, manifest.headBytes ?? OLD_HEAD_BYTES) !== f.head) {
        return { ok: false, problem: `file ${f.name} does not match its hash in its first ${manifest.headBytes ?? OLD_HEAD_BYTES} bytes` }
      }
    }
    if (present.size > 0) return { ok: false, problem: `unexpected file ${[...present][0]}` }
    return { ok: true }
  }

  /** Moves a bad artifact out of the way (kept for inspection under corrupt/), so it is rebuilt, never used. */
  quarantine(hash: string): void {
    const dir = this.objectDir(hash)
    if (!fs.existsSync(dir)) return
    fs.mkdirSync(this.corrupt, { recursive: true })
    fs.renameSync(dir, path.join(this.corrupt, `${hash}-${Date.now()}`))
  }

  keyFile(key: string): string {
    return path.join(this.keys, key.slice(0, 2), `${key}.json`)
  }
  /** Where a key record lives (for messages). */
  keyRecordPath(key: string): string {
    return this.keyFile(key)
  }
  /** A key record that exists but cannot be read as one (integrity: the user is told, then it is recomputed). */
  keyRecordGarbled(key: string): boolean {
    return Either.isLeft(this.getKey(key))
  }
  /** A key's record: undefined when there is none, a CorruptRecord when its file does not decode. */
  getKey(key: string): Either.Either<KeyRecord | undefined, CorruptRecord> {
    return readRecord(KeyRecord, this.keyFile(key))
  }
  putKey(record: KeyRecord): void {
    writeJsonAtomic(this.keyFile(record.key), record)
  }
  allKeys(): Array<KeyRecord> {
    if (!fs.existsSync(this.keys)) return []
    return fs
      .readdirSync(this.keys)
      .flatMap((d) => fs.readdirSync(path.join(this.keys, d)).map((f) => readOrSkip(KeyRecord, path.join(this.keys, d, f))))
      .filter((r): r is KeyRecord => r !== undefined)
  }
  deleteKey(key: string): void {
    fs.rmSync(this.keyFile(key), { force: true })
  }

  private nodeFile(pipeline: string, node: string): string {
    return path.join(this.nodesDir, `${sha256(`${pipeline}\0${node}`).slice(0, 32)}.json`)
  }
  getNode(pipeline: string, node: string): NodeRecord | undefined {
    return readOrSkip(NodeRecord, this.nodeFile(pipeline, node))
  }
  /** Records a node's last components; skipped when nothing changed, so a no-op rerun writes nothing per node. */
  putNode(record: NodeRecord): void {
    const prev = this.getNode(record.pipeline, record.node)
    if (prev !== undefined && prev.key === record.key && prev.output === record.output) return
    writeJsonAtomic(this.nodeFile(record.pipeline, record.node), record, false)
  }
  allNodes(): Array<NodeRecord> {
    if (!fs.existsSync(this.nodesDir)) return []
    return fs
      .readdirSync(this.nodesDir)
      .map((f) => readOrSkip(NodeRecord, path.join(this.nodesDir, f)))
      .filter((r): r is NodeRecord => r !== undefined)
  }

  putTree(hash: string, files: ReadonlyArray<readonly [string, string]>): void {
    const file = path.join(this.trees, `${hash}.json`)
    if (!fs.existsSync(file)) writeJsonAtomic(file, files, false)
  }
  getTree(hash: string): ReadonlyArray<readonly [string, string]> | undefined {
    return readOrSkip(TreeRecord, path.join(this.trees, `${hash}.json`))
  }

  putRun(run: RunRecord): void {
    const stamp = run.at.replace(/[:.]/g, "-")
    writeJsonAtomic(path.join(this.runs, `${stamp}-${process.pid}-${Math.random().toString(36).slice(2, 6)}.json`), run, false)
  }
  allRuns(): Array<{ readonly file: string; readonly run: RunRecord }> {
    if (!fs.existsSync(this.runs)) return []
    return fs
      .readdirSync(this.runs)
      .filter((f) => f.endsWith(".json"))
      .sort()
      .flatMap((f) => {
        const run = readOrSkip(RunRecord, path.join(this.runs, f))
        return run === undefined ? [] : [{ file: path.join(this.runs, f), run }]
      })
  }

  allObjects(): Array<string> {
    if (!fs.existsSync(this.objects)) return []
    return fs.readdirSync(this.objects).flatMap((d) => fs.readdirSync(path.join(this.objects, d)))
  }

  /** Resolves a hash prefix to one object hash. */
  resolvePrefix(prefix: string): ReadonlyArray<string> {
    if (prefix.length < 2 || !/^[0-9a-f]+$/.test(prefix)) return []
    const d = path.join(this.objects, prefix.slice(0, 2))
    if (!fs.existsSync(d)) return []
    return fs.readdirSync(d).filter((h) => h.startsWith(prefix))
  }

  sizeOf(hash: string): number {
    return (this.manifest(hash)?.files ?? []).reduce((a, f) => a + f.size, 0)
  }
}
