/**
 * End-to-end integrity of artifact files: no stage consumes a corrupt byte without noticing.
 *
 * The cheap check on a cache hit reads only each file's size and first 64 KiB, so a flipped byte further in would
 * reach the next stage. To close that gap without re-hashing everything up front:
 *
 * - At commit, every file is hashed in blocks of BLOCK_BYTES in the same pass that computes its content hash, and the
 *   block hashes go into the manifest (`blocks`).
 * - Readers of artifact files (npy rows, the PCM store, whole-file reads) go through `VerifiedReader` /
 *   `readVerifiedFile`: they read whole blocks, check each block against the manifest and only then hand out bytes
 *   from the buffer they checked, so a byte that changes between the check and its use cannot slip through.
 * - A mismatch throws `CorruptArtifactFile` (naming the file, the block and the byte range) and records the artifact
 *   in `detected`; the executor then quarantines that artifact, rebuilds the node that produced it and retries the
 *   consumer once (see `recoverCorruptInputs`).
 *
 * Files outside the cache's objects/ folder (a stage's own inputs, test fixtures) are read without checks.
 */
import { createHash } from "node:crypto"
import { createRequire } from "node:module"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

export const BLOCK_BYTES = 1 << 20
const HEAD_BYTES = 64 << 10
const MANIFEST = ".mea-manifest.json"
/**
 * Verified blocks kept in memory for the whole process (least recently used out), shared by all readers: stages open
 * the same file many times (a reader per track or per batch), and a block checked once is served from memory after,
 * never re-read from disk unchecked.
 */
const CACHE_BYTES = 48 << 20
const verifiedBlocks = new Map<string, Buffer>()
let cachedBytes = 0
const remember = (id: string, block: Buffer): void => {
  verifiedBlocks.set(id, block)
  cachedBytes += block.length
  while (cachedBytes > CACHE_BYTES) {
    const [oldest, buf] = verifiedBlocks.entries().next().value!
    verifiedBlocks.delete(oldest)
    cachedBytes -= buf.length
  }
}

/**
 * bench/integrity.ts only: MEA_INTEGRITY=off records no block hashes and checks nothing (the baseline of the cost
 * measurement); MEA_INTEGRITY_STATS=1 prints the time spent on block hashes when the process exits.
 */
const OFF = process.env.MEA_INTEGRITY === "off"
const stats = { ms: 0, bytes: 0 }
if (process.env.MEA_INTEGRITY_STATS === "1") {
  process.on("exit", () => process.stderr.write(`integrity: ${stats.ms.toFixed(1)} ms hashing ${(stats.bytes / 1e6).toFixed(1)} MB of blocks\n`))
}

/**
 * How block hashes are computed; the manifest says which (`blockHash`, absent in manifests written before there was a
 * choice: sha256-128). Blocks guard against accidental corruption (a flipped bit, a truncated write), not forgery; the
 * content hash that names an artifact stays SHA-256. xxh64 (@node-rs/xxhash) runs at ~12 GB/s here against SHA-256's
 * 1.5 GB/s with SHA-NI, which bench/integrity.ts showed to be most of integrity's cost; where its native binary is
 * missing (an unsupported platform), new artifacts get sha256-128.
 */
export type BlockHashName = "sha256-128" | "xxh64"
type Hasher = (bytes: Uint8Array) => string

const sha256_128: Hasher = (bytes) => createHash("sha256").update(bytes).digest("hex").slice(0, 32)
let xxh64: Hasher | null | undefined
const loadXxh64 = (): Hasher | null => {
  if (xxh64 !== undefined) return xxh64
  try {
    const lib = createRequire(import.meta.url)("@node-rs/xxhash") as { readonly xxh64: (input: Uint8Array) => bigint }
    xxh64 = (bytes) => lib.xxh64(bytes).toString(16).padStart(16, "0")
  } catch {
    xxh64 = null
  }
  return xxh64
}
const hasherOf = (name: BlockHashName): Hasher => {
  if (name === "sha256-128") return sha256_128
  const h = loadXxh64()
  // A manifest naming xxh64 on a platform without it: the slower reference implementation would be needed here.
  if (h === null) throw new Error("block hashes of this artifact are xxh64, and @node-rs/xxhash cannot be loaded on this platform (reinstall with npm ci)")
  return h
}
/** What new artifacts' blocks are hashed with. */
export const writerBlockHash = (): BlockHashName => (loadXxh64() !== null ? "xxh64" : "sha256-128")

const blockHash = (bytes: Uint8Array, name: BlockHashName): string => {
  const t = performance.now()
  const h = hasherOf(name)(bytes)
  stats.ms += performance.now() - t
  stats.bytes += bytes.length
  return h
}

export interface FileHashes {
  readonly size: number
  readonly hash: string
  readonly head: string
  /** Absent under MEA_INTEGRITY=off (readers then treat the file as written before block hashes existed). */
  readonly blocks: ReadonlyArray<string> | undefined
}

let scratch: Buffer | undefined

/** Content hash, 64 KiB head hash and block hashes (with `algorithm`) of a file, in one read. */
export const hashFileBlocks = (file: string, algorithm: BlockHashName = writerBlockHash()): FileHashes => {
  const whole = createHash("sha256")
  const blocks: Array<string> = []
  let head = ""
  let size = 0
  const buf = (scratch ??= Buffer.allocUnsafe(BLOCK_BYTES))
  const fd = fs.openSync(file, "r")
  try {
    for (;;) {
      const n = readFull(fd, buf, BLOCK_BYTES, size)
      if (n === 0) break
      const block = buf.subarray(0, n)
      if (size === 0) head = createHash("sha256").update(block.subarray(0, Math.min(n, HEAD_BYTES))).digest("hex")
      whole.update(block)
      if (!OFF) blocks.push(blockHash(block, algorithm))
      size += n
      if (n < BLOCK_BYTES) break
    }
  } finally {
    fs.closeSync(fd)
  }
  if (size === 0) head = createHash("sha256").digest("hex")
  return { size, hash: whole.digest("hex"), head, blocks: OFF ? undefined : blocks }
}

/** Reads up to `length` bytes at `position`, looping over short reads; returns how many were read (less only at EOF). */
const readFull = (fd: number, buf: Uint8Array, length: number, position: number): number => {
  let done = 0
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done)
    if (n === 0) break
    done += n
  }
  return done
}

// ------------------------------------------------------------------------------------------------ detection

export class CorruptArtifactFile extends Error {
  constructor(
    /** Absolute path of the file. */
    readonly file: string,
    /** Hash of the artifact it belongs to. */
    readonly artifact: string,
    readonly problem: string,
  ) {
    super(`${file} is corrupt: ${problem} (cached artifact ${artifact.slice(0, 12)})`)
    this.name = "CorruptArtifactFile"
  }
}

/**
 * Artifacts found corrupt by a reader in this process, with what was wrong (read by the executor after a failure).
 * Kept on globalThis: a plugin bundle (MEA_PLUGINS) carries its own copy of this module, and its readers must report
 * to the same place as mea's.
 */
const detected: Map<string, string> = ((globalThis as { [k: symbol]: unknown })[Symbol.for("mea/integrity/detected")] ??= new Map<string, string>()) as Map<string, string>

const corrupt = (file: string, artifact: string, problem: string): never => {
  detected.set(artifact, `file ${path.basename(file)}: ${problem}`)
  throw new CorruptArtifactFile(file, artifact, problem)
}

/** Forgets what is known about an artifact (after it was quarantined, so its rebuilt copy is read afresh). */
export const forgetArtifact = (hash: string): void => {
  detected.delete(hash)
  for (const [id, buf] of verifiedBlocks) {
    if (id.startsWith(`${hash}/`)) {
      verifiedBlocks.delete(id)
      cachedBytes -= buf.length
    }
  }
  for (const dir of manifests.keys()) if (dir.endsWith(hash)) manifests.delete(dir)
}

/** Takes (and forgets) what readers found wrong with any of `hashes`. */
export const takeDetected = (hashes: Iterable<string>): Map<string, string> => {
  const out = new Map<string, string>()
  for (const h of hashes) {
    const problem = detected.get(h)
    if (problem !== undefined) {
      out.set(h, problem)
      detected.delete(h)
    }
  }
  return out
}

// ------------------------------------------------------------------------------------------------ manifests

interface ManifestEntry {
  readonly name: string
  readonly size: number
  readonly hash: string
  readonly blocks?: ReadonlyArray<string>
}
interface Located {
  readonly artifact: string
  readonly entry: ManifestEntry
  readonly blockBytes: number
  readonly blockHash: BlockHashName
}

const OBJECT_DIR = /^(.*[\\/]objects[\\/][0-9a-f]{2}[\\/])([0-9a-f]{64})$/
/** Manifests are immutable (content-addressed), so one read per artifact and process is enough. */
const manifests = new Map<
  string,
  { readonly blockBytes: number; readonly blockHash: BlockHashName; readonly files: ReadonlyMap<string, ManifestEntry> } | string
>()

/** The manifest entry of a file inside an artifact; undefined for a file outside the object store. */
const locate = (file: string): Located | undefined => {
  if (OFF) return undefined
  const abs = path.resolve(file)
  let dir = path.dirname(abs)
  for (let depth = 0; depth < 8; depth++) {
    const m = OBJECT_DIR.exec(dir)
    if (m !== null) {
      const artifact = m[2]
      let cached = manifests.get(dir)
      if (cached === undefined) {
        try {
          const raw = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), "utf8")) as {
            readonly hash?: unknown
            readonly blockBytes?: unknown
            readonly blockHash?: unknown
            readonly files?: ReadonlyArray<ManifestEntry>
          }
          if (raw.hash !== artifact || !Array.isArray(raw.files)) throw new Error("it names another artifact")
          const algorithm = raw.blockHash ?? "sha256-128"
          if (algorithm !== "sha256-128" && algorithm !== "xxh64") throw new Error(`its blockHash ${JSON.stringify(algorithm)} is not sha256-128 or xxh64`)
          cached = {
            blockBytes: typeof raw.blockBytes === "number" ? raw.blockBytes : BLOCK_BYTES,
            blockHash: algorithm,
            files: new Map(raw.files.map((f) => [f.name, f])),
          }
        } catch (e) {
          cached = `its manifest ${path.join(dir, MANIFEST)} is missing or garbled (${e instanceof Error ? e.message : String(e)})`
        }
        manifests.set(dir, cached)
      }
      if (typeof cached === "string") return corrupt(abs, artifact, cached)
      const rel = path.relative(dir, abs).split(path.sep).join("/")
      const entry = cached.files.get(rel)
      if (entry === undefined) return corrupt(abs, artifact, `the artifact's manifest does not list ${rel}`)
      return { artifact, entry, blockBytes: cached.blockBytes, blockHash: cached.blockHash }
    }
    const up = path.dirname(dir)
    if (up === dir) break
    dir = up
  }
  return undefined
}

// ------------------------------------------------------------------------------------------------ readers

/** Opens a file for reading; a file its artifact's manifest lists but that is gone is corruption, not a stage bug. */
const openOrMissing = (file: string, loc: Located | undefined): number => {
  try {
    return fs.openSync(file, "r")
  } catch (e) {
    if (loc !== undefined && (e as NodeJS.ErrnoException).code === "ENOENT") return corrupt(file, loc.artifact, "it is missing")
    throw e
  }
}

/**
 * Random access to a file, handing out only bytes from blocks that matched their recorded hash. For a file outside
 * the object store it is a plain reader. Synchronous, like the readers built on it (feature extraction pulls segment
 * after segment in a tight loop).
 */
export class VerifiedReader {
  readonly size: number
  private fd: number | undefined
  private readonly located: Located | undefined

  constructor(readonly file: string) {
    this.located = locate(file)
    this.fd = openOrMissing(file, this.located)
    this.size = fs.fstatSync(this.fd).size
    const loc = this.located
    if (loc !== undefined) {
      if (this.size !== loc.entry.size) {
        this.close()
        corrupt(this.file, loc.artifact, `it has ${this.size} bytes, its manifest records ${loc.entry.size}`)
      }
      if (loc.entry.blocks === undefined) {
        // Written before block hashes were recorded: check the whole file once, then read it plainly.
        const whole = hashFileBlocks(file)
        if (whole.hash !== loc.entry.hash) {
          this.close()
          corrupt(this.file, loc.artifact, "its content does not match the hash recorded when it was written")
        }
      }
    }
  }

  /** Fills `target` with the bytes at [position, position + target.length); throws if that runs past the end. */
  read(target: Uint8Array, position: number): void {
    if (this.fd === undefined) throw new Error(`${this.file}: reader is closed`)
    if (position < 0 || position + target.length > this.size) {
      throw new RangeError(`${this.file}: bytes [${position}, ${position + target.length}) outside the file's ${this.size} bytes`)
    }
    const loc = this.located
    if (loc === undefined || loc.entry.blocks === undefined) {
      if (readFull(this.fd, target, target.length, position) !== target.length) throw new Error(`${this.file}: shorter than expected`)
      return
    }
    const bs = loc.blockBytes
    let done = 0
    while (done < target.length) {
      const at = position + done
      const index = Math.floor(at / bs)
      const block = this.block(index, loc)
      const from = at - index * bs
      const n = Math.min(block.length - from, target.length - done)
      target.set(block.subarray(from, from + n), done)
      done += n
    }
  }

  private block(index: number, loc: Located): Buffer {
    // Keyed by artifact and name: the content is immutable for that pair (a quarantined copy is forgotten).
    const id = `${loc.artifact}/${loc.entry.name}#${index}`
    const hit = verifiedBlocks.get(id)
    if (hit !== undefined) {
      verifiedBlocks.delete(id)
      verifiedBlocks.set(id, hit)
      return hit
    }
    const bs = loc.blockBytes
    const length = Math.min(bs, this.size - index * bs)
    const buf = Buffer.allocUnsafe(length)
    const n = readFull(this.fd!, buf, length, index * bs)
    const expected = loc.entry.blocks![index]
    if (n !== length || expected === undefined || blockHash(buf, loc.blockHash) !== expected) {
      corrupt(this.file, loc.artifact, `bytes ${index * bs}-${index * bs + length - 1} (block ${index + 1} of ${loc.entry.blocks!.length}) do not match the hash recorded when it was written`)
    }
    remember(id, buf)
    return buf
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd)
    this.fd = undefined
  }
}

/** Whether a path lies inside an artifact of an object store (and so has recorded block hashes to check). */
export const isArtifactFile = (file: string): boolean => {
  let dir = path.dirname(path.resolve(file))
  for (let depth = 0; depth < 8; depth++) {
    if (OBJECT_DIR.test(dir)) return true
    const up = path.dirname(dir)
    if (up === dir) return false
    dir = up
  }
  return false
}

/** A whole file, every block checked (plain read outside the object store). Drop-in for fs.readFileSync(file). */
export function readVerifiedFile(file: string): Buffer
export function readVerifiedFile(file: string, encoding: "utf8"): string
export function readVerifiedFile(file: string, encoding?: "utf8"): Buffer | string {
  const loc = locate(file)
  const fd = openOrMissing(file, loc)
  let buf: Buffer
  try {
    buf = fs.readFileSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  if (loc !== undefined) {
    if (buf.length !== loc.entry.size) corrupt(file, loc.artifact, `it has ${buf.length} bytes, its manifest records ${loc.entry.size}`)
    if (loc.entry.blocks === undefined) {
      if (createHash("sha256").update(buf).digest("hex") !== loc.entry.hash) corrupt(file, loc.artifact, "its content does not match the hash recorded when it was written")
    } else {
      const bs = loc.blockBytes
      const count = Math.ceil(buf.length / bs)
      if (count !== loc.entry.blocks.length) corrupt(file, loc.artifact, `it has ${count} blocks, its manifest records ${loc.entry.blocks.length}`)
      for (let i = 0; i < count; i++) {
        if (blockHash(buf.subarray(i * bs, Math.min(buf.length, (i + 1) * bs)), loc.blockHash) !== loc.entry.blocks[i]) {
          corrupt(file, loc.artifact, `bytes ${i * bs}-${Math.min(buf.length, (i + 1) * bs) - 1} (block ${i + 1} of ${count}) do not match the hash recorded when it was written`)
        }
      }
    }
  }
  return encoding === undefined ? buf : buf.toString(encoding)
}

// ------------------------------------------------------------------------------------------------ recovery

export interface UpstreamArtifact {
  /** The input name of the consuming node. */
  readonly input: string
  /** The producing node. */
  readonly node: string
  readonly hash: string
}

/**
 * Runs `attempt` (a node's stage); if it fails after a reader found one of its upstream artifacts corrupt, each such
 * artifact is quarantined, its producer rebuilt (`rebuild`, which must publish a fresh copy), and `attempt` retried
 * once. The user is told which node and which file. A failure with nothing detected is passed on unchanged.
 */
export const recoverCorruptInputs = <A, E, R>(options: {
  readonly upstream: ReadonlyArray<UpstreamArtifact>
  readonly attempt: Effect.Effect<A, E, R>
  readonly quarantine: (hash: string) => Effect.Effect<void>
  readonly rebuild: (node: string) => Effect.Effect<string, E, R>
  readonly warn: (message: string) => Effect.Effect<void>
  readonly changed: (node: string, before: string, after: string) => E
}): Effect.Effect<A, E, R> =>
  Effect.catchAll(options.attempt, (error) =>
    Effect.gen(function* () {
      const found = takeDetected(options.upstream.map((u) => u.hash))
      if (found.size === 0) return yield* Effect.fail(error)
      for (const [hash, problem] of found) {
        const producers = options.upstream.filter((u) => u.hash === hash)
        const names = [...new Set(producers.map((u) => `'${u.node}'`))].join(", ")
        yield* options.warn(`output ${hash.slice(0, 12)} of node ${names} is corrupt (${problem}); quarantined it and rebuilding it`)
        yield* options.quarantine(hash)
        forgetArtifact(hash)
        for (const node of new Set(producers.map((u) => u.node))) {
          const fresh = yield* options.rebuild(node)
          if (fresh !== hash) return yield* Effect.fail(options.changed(node, hash, fresh))
        }
      }
      return yield* options.attempt
    }),
  )
