/**
 * Per-key lock files, so two `mea run` on one cache never compute (or publish) the same node at once. A lock holds the
 * owner's pid; a lock whose owner is dead (kill -9) is stale and taken over.
 */
import { Data, Effect, Either, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const Owner = Schema.Struct({ pid: Schema.Number, host: Schema.String, node: Schema.String, since: Schema.String })
type Owner = typeof Owner.Type
const decodeOwner = Schema.decodeUnknownEither(Schema.parseJson(Owner))

/** A lock file could not be taken (the locks folder is not writable). */
export class LockError extends Data.TaggedError("LockError")<{ readonly file: string; readonly reason: string }> {
  override get message(): string {
    return `cannot take the lock ${this.file}: ${this.reason}`
  }
}

/** Whether a process of this machine is still running (EPERM: it is, under another user). */
export const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The lock's owner; undefined when the lock is gone or garbled (a garbled lock is treated as stale). */
const readOwner = (file: string): Owner | undefined => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch {
    return undefined
  }
  return Either.getOrUndefined(decodeOwner(text))
}

const tryAcquire = (file: string, node: string): "acquired" | Owner => {
  const owner: Owner = { pid: process.pid, host: os.hostname(), node, since: new Date().toISOString() }
  try {
    // Write the owner to a temp file and hard-link it into place: the lock appears with its content, never empty.
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`
    fs.writeFileSync(tmp, JSON.stringify(owner))
    try {
      fs.linkSync(tmp, file)
    } finally {
      fs.unlinkSync(tmp)
    }
    return "acquired"
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
    const current = readOwner(file)
    if (current === undefined || (current.host === os.hostname() && !processAlive(current.pid))) {
      // Stale: its owner died. Remove it only if it is still the same lock we judged stale.
      try {
        const again = readOwner(file)
        if (again === undefined || again.pid === current?.pid) fs.unlinkSync(file)
      } catch {
        // Someone else removed it first.
      }
      return tryAcquire(file, node)
    }
    return current
  }
}

/**
 * Holds the lock for `key` while `use` runs. `onWait` is called once when another live process holds it.
 */
export const withLock = <A, E, R>(
  lockDir: string,
  key: string,
  node: string,
  onWait: (owner: { pid: number; node: string }) => Effect.Effect<void>,
  use: Effect.Effect<A, E, R>,
): Effect.Effect<A, E | LockError, R> => {
  const file = path.join(lockDir, `${key}.lock`)
  const attempt = <B>(f: () => B) =>
    Effect.try({ try: f, catch: (e) => new LockError({ file, reason: e instanceof Error ? e.message : String(e) }) })
  const acquire = Effect.gen(function* () {
    yield* attempt(() => fs.mkdirSync(lockDir, { recursive: true }))
    let told = false
    for (;;) {
      const r = yield* attempt(() => tryAcquire(file, node))
      if (r === "acquired") return
      if (!told) {
        told = true
        yield* onWait({ pid: r.pid, node: r.node })
      }
      yield* Effect.sleep("150 millis")
    }
  })
  // A lock left behind (the folder became unwritable) is stale once this process ends: the next run takes it over.
  const release = Effect.ignore(
    Effect.try(() => {
      const owner = readOwner(file)
      if (owner?.pid === process.pid) fs.rmSync(file, { force: true })
    }),
  )
  return Effect.acquireUseRelease(acquire, () => use, () => release)
}
