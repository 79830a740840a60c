/**
 * Per-key lock files, so two `mea run` on one cache never compute (or publish) the same node at once. A lock holds the
 * owner's pid; a lock whose owner is dead (kill -9) is stale and taken over.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

interface Owner {
  readonly pid: number
  readonly host: string
  readonly node: string
  readonly since: string
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

const readOwner = (file: string): Owner | undefined => {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Owner
  } catch {
    return undefined
  }
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
): Effect.Effect<A, E, R> => {
  const file = path.join(lockDir, `${key}.lock`)
  const acquire = Effect.gen(function* () {
    fs.mkdirSync(lockDir, { recursive: true })
    let told = false
    for (;;) {
      const r = tryAcquire(file, node)
      if (r === "acquired") return
      if (!told) {
        told = true
        yield* onWait({ pid: r.pid, node: r.node })
      }
      yield* Effect.sleep("150 millis")
    }
  })
  const release = Effect.sync(() => {
    const owner = readOwner(file)
    if (owner?.pid === process.pid) fs.rmSync(file, { force: true })
  })
  return Effect.acquireUseRelease(Effect.orDie(acquire), () => use, () => release)
}
