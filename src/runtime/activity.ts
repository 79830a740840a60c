/**
 * Who is using a cache right now, so that `mea gc` never deletes what a live run needs, and so that what a killed run
 * left behind (staging folders, lock files, half-written temp records) is cleared by the next run.
 *
 *   active/<pid>-<rand>.json   one per run in progress (removed when it ends, however it ends short of kill -9)
 *   locks/gc.lock              held by `mea gc` while it deletes
 *
 * The two sides exclude each other Dekker-style: a run first registers, then looks for the gc lock (and if it is
 * held, unregisters and waits); gc first takes its lock, then waits until no live run is registered. Whichever order
 * the steps interleave in, one of the two sees the other, so gc never deletes during a run.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { UsageError } from "./errors.ts"
import { processAlive, withLock, type LockError } from "./lock.ts"

interface Registration {
  readonly pid: number
  readonly host: string
  readonly pipeline: string
  readonly since: string
}

const activeDir = (root: string) => path.join(root, "active")
const gcLockFile = (root: string) => path.join(root, "locks", "gc.lock")
const POLL = "150 millis"

const readJson = <A>(file: string): A | undefined => {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as A
  } catch {
    return undefined
  }
}

const alive = (r: { readonly pid: number; readonly host: string } | undefined): boolean =>
  r !== undefined && (r.host !== os.hostname() || processAlive(r.pid))

/** Live runs on this cache; records of dead ones are removed (and reported, so the caller can sweep after them). */
const liveRuns = (root: string): { readonly live: ReadonlyArray<Registration>; readonly crashed: number } => {
  const dir = activeDir(root)
  if (!fs.existsSync(dir)) return { live: [], crashed: 0 }
  const live: Array<Registration> = []
  let crashed = 0
  for (const f of fs.readdirSync(dir)) {
    const file = path.join(dir, f)
    const r = readJson<Registration>(file)
    if (alive(r)) live.push(r!)
    else if (f.endsWith(".tmp")) {
      // A registration being written; its writer's pid leads the name.
      if (!processAlive(Number.parseInt(f, 10))) fs.rmSync(file, { force: true })
    } else {
      fs.rmSync(file, { force: true })
      crashed++
    }
  }
  return { live, crashed }
}

const gcHolder = (root: string): { readonly pid: number; readonly host: string } | undefined => {
  const owner = readJson<{ readonly pid: number; readonly host: string }>(gcLockFile(root))
  return alive(owner) ? owner : undefined
}

/** `pid` encoded in a leftover's name by the writers of the store, lock.ts and file-state.ts. */
const deadWriter = (name: string): boolean => {
  const m = /^stage-(\d+)-|\.(\d+)\.[0-9a-z]+(?:\.tmp)?$|\.tmp-(\d+)$/.exec(name)
  const pid = Number(m?.[1] ?? m?.[2] ?? m?.[3] ?? NaN)
  return !Number.isNaN(pid) && pid !== process.pid && !processAlive(pid)
}

/**
 * Removes what killed processes left in a cache: staging folders and temp files of dead pids, and lock files whose
 * owner is dead. Live processes' files are never touched. Returns how many entries were removed.
 */
export const sweepLeftovers = (root: string): number => {
  let removed = 0
  const rm = (p: string) => {
    fs.rmSync(p, { recursive: true, force: true })
    removed++
  }
  const tmp = path.join(root, "tmp")
  if (fs.existsSync(tmp)) for (const d of fs.readdirSync(tmp)) if (deadWriter(d)) rm(path.join(tmp, d))
  const locks = path.join(root, "locks")
  if (fs.existsSync(locks)) {
    for (const f of fs.readdirSync(locks)) {
      const file = path.join(locks, f)
      if (f.endsWith(".lock")) {
        const owner = readJson<{ readonly pid: number; readonly host: string }>(file)
        if (owner !== undefined && owner.host === os.hostname() && !processAlive(owner.pid)) rm(file)
      } else if (deadWriter(f)) rm(file)
    }
  }
  const flat = ["nodes", "runs", "trees", "state", "active"].map((d) => path.join(root, d))
  const sharded = [path.join(root, "keys")]
  const dirs = [...flat]
  for (const s of sharded) if (fs.existsSync(s)) for (const d of fs.readdirSync(s)) dirs.push(path.join(s, d))
  for (const d of dirs) {
    if (!fs.existsSync(d)) continue
    for (const f of fs.readdirSync(d)) if (f.endsWith(".tmp") && deadWriter(f)) rm(path.join(d, f))
  }
  return removed
}

const writeRegistration = (root: string, pipeline: string): string => {
  const dir = activeDir(root)
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`)
  const tmp = `${file}.tmp`
  const r: Registration = { pid: process.pid, host: os.hostname(), pipeline, since: new Date().toISOString() }
  fs.writeFileSync(tmp, JSON.stringify(r))
  fs.renameSync(tmp, file)
  return file
}

/**
 * Runs `use` registered as a live run of `pipeline` on the cache at `root`: waits while `mea gc` holds the cache, and
 * first clears what crashed runs left behind.
 */
export const whileRegistered = <A, E, R>(
  root: string,
  pipeline: string,
  onWait: (message: string) => Effect.Effect<void>,
  use: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> => {
  const register = Effect.gen(function* () {
    let told = false
    for (;;) {
      const file = writeRegistration(root, pipeline)
      const gc = gcHolder(root)
      if (gc === undefined) {
        // A registration without a live owner means a run died: clear what it left.
        if (liveRuns(root).crashed > 0) sweepLeftovers(root)
        return file
      }
      fs.rmSync(file, { force: true })
      if (!told) {
        told = true
        yield* onWait(`waiting  mea gc (pid ${gc.pid}) is cleaning this cache; the run starts when it is done`)
      }
      yield* Effect.sleep(POLL)
    }
  })
  return Effect.acquireUseRelease(
    Effect.orDie(register),
    () => use,
    (file) => Effect.sync(() => fs.rmSync(file, { force: true })),
  )
}

/** Runs `use` (gc's deletions) holding the cache's gc lock, once no run is in progress. */
export const exclusiveForGc = <A, E, R>(
  root: string,
  onWait: (message: string) => Effect.Effect<void>,
  use: Effect.Effect<A, E, R>,
): Effect.Effect<A, E | LockError, R> =>
  withLock(
    path.join(root, "locks"),
    "gc",
    "gc",
    (owner) => onWait(`waiting  another mea gc (pid ${owner.pid}) is cleaning this cache`),
    Effect.gen(function* () {
      let told = false
      for (;;) {
        const { live } = liveRuns(root)
        if (live.length === 0) break
        if (!told) {
          told = true
          const who = live.map((r) => `pid ${r.pid} (${r.pipeline})`).join(", ")
          yield* onWait(`waiting  ${live.length === 1 ? "a run is" : `${live.length} runs are`} in progress on this cache: ${who}; gc starts when ${live.length === 1 ? "it ends" : "they end"}`)
        }
        yield* Effect.sleep(POLL)
      }
      return yield* use
    }),
  )

/** A run needs to write its cache: say so up front (exit 2), rather than fail node by node or at the end. */
export const ensureWritable = (root: string): Effect.Effect<void, UsageError> =>
  Effect.try({
    try: () => {
      fs.mkdirSync(root, { recursive: true })
      const probe = path.join(root, `.write-probe.${process.pid}.tmp`)
      fs.writeFileSync(probe, "")
      fs.rmSync(probe)
    },
    catch: (e) => {
      const code = (e as NodeJS.ErrnoException).code
      const why = code === "EROFS" ? "it is on a read-only file system" : code === "EACCES" || code === "EPERM" ? "permission denied" : code === "ENOSPC" ? "the disk is full" : String(e)
      return new UsageError({ message: `cannot write to the cache folder ${root}: ${why}; give a writable one with --cache DIR or $MEA_CACHE` })
    },
  })
