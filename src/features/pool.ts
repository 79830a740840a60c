/**
 * A fixed pool of worker threads running one TypeScript module. Tasks are queued and handed to the first idle worker;
 * results come back as promises in any order, so callers keep their own order.
 *
 * Workers start on plain JavaScript: the module is bundled once with esbuild into node_modules/.cache/mea-workers/
 * (rebuilt when one of its sources changes), because registering tsx in every worker costs about a second per start.
 * If bundling is impossible, workers fall back to worker-entry.mjs, which registers tsx.
 *
 * A worker module answers each `{ id, payload }` with `{ id, ok: true, result }` or `{ id, ok: false, error }`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"
import type * as Esbuild from "esbuild"
import { createRequire } from "node:module"
import { projectRoot } from "../util/project-root.ts"

export interface TaskMessage<T> {
  readonly id: number
  readonly payload: T
}
export type ReplyMessage<R> = { readonly id: number; readonly ok: true; readonly result: R } | { readonly id: number; readonly ok: false; readonly error: string }

interface BundleMeta {
  readonly inputs: ReadonlyArray<string>
}

/** The worker module as one ESM file, rebuilt when missing or older than any of its inputs; undefined if bundling fails. */
export const bundledWorker = (root: string, module: string): string | undefined => {
  const dir = path.join(root, "node_modules", ".cache", "mea-workers")
  const out = path.join(dir, `${module.replace(/[\\/]/g, "__").replace(/\.ts$/, "")}.mjs`)
  const metaFile = `${out}.json`
  try {
    const built = fs.statSync(out).mtimeMs
    const meta = JSON.parse(fs.readFileSync(metaFile, "utf8")) as BundleMeta
    if (meta.inputs.every((f) => fs.statSync(path.join(root, f)).mtimeMs <= built)) return out
  } catch {
    // Missing or unreadable: build it.
  }
  try {
    fs.mkdirSync(dir, { recursive: true })
    const tmp = `${out}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    // Loaded on first use only: most mea runs (warm reruns) start no worker at all.
    const esbuild = createRequire(import.meta.url)("esbuild") as typeof Esbuild
    const result = esbuild.buildSync({
      entryPoints: [path.join(root, module)],
      outfile: tmp,
      absWorkingDir: root,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      metafile: true,
      logLevel: "silent",
    })
    const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith("node_modules"))
    // The bundle is renamed into place last, so a concurrent reader sees an old or a complete new one, never a half.
    fs.writeFileSync(metaFile, JSON.stringify({ inputs } satisfies BundleMeta))
    fs.renameSync(tmp, out)
    return out
  } catch {
    return undefined
  }
}

interface Pending<R> {
  readonly resolve: (r: R) => void
  readonly reject: (e: Error) => void
}
interface Slot<R> {
  readonly worker: Worker
  busy: Pending<R> | undefined
  busyId: number
}

export class WorkerPool<T, R> {
  private readonly slots: Array<Slot<R>> = []
  private readonly queue: Array<{ readonly msg: TaskMessage<T>; readonly transfer: ReadonlyArray<ArrayBuffer>; readonly pending: Pending<R> }> = []
  private nextId = 0
  private failure: Error | undefined
  private closed = false

  /** `module`: path of the worker's TypeScript module relative to the project root, e.g. "src/features/builtin-worker.ts". */
  /** `bundle: false` starts workers through tsx instead of a bundle (slower to start; the fallback path). */
  constructor(module: string, size: number, options: { readonly bundle?: boolean } = {}) {
    const root = projectRoot()
    const bundle = options.bundle === false ? undefined : bundledWorker(root, module)
    const entry = bundle ?? path.join(root, "src", "features", "worker-entry.mjs")
    const workerData = { module: pathToFileURL(path.join(root, module)).href }
    for (let i = 0; i < Math.max(1, size); i++) {
      // execArgv [] : the worker must not inherit a parent's loader flags (tsx's CLI adds its own); the entry registers tsx.
      const worker = new Worker(entry, { workerData, execArgv: [] })
      const slot: Slot<R> = { worker, busy: undefined, busyId: -1 }
      worker.on("message", (reply: ReplyMessage<R>) => this.onReply(slot, reply))
      worker.on("error", (e) => this.fail(new Error(`worker thread (${module}) crashed: ${e.message}`)))
      worker.on("exit", (code) => {
        if (!this.closed) this.fail(new Error(`worker thread (${module}) exited with code ${code}`))
      })
      this.slots.push(slot)
    }
  }

  get size(): number {
    return this.slots.length
  }

  run(payload: T, transfer: ReadonlyArray<ArrayBuffer> = []): Promise<R> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (this.closed) return Promise.reject(new Error("worker pool is closed"))
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ msg: { id: this.nextId++, payload }, transfer, pending: { resolve, reject } })
      this.dispatch()
    })
  }

  async close(): Promise<void> {
    this.closed = true
    this.fail(new Error("worker pool is closed"))
    await Promise.all(this.slots.map((s) => s.worker.terminate()))
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.busy !== undefined) continue
      const task = this.queue.shift()
      if (task === undefined) return
      slot.busy = task.pending
      slot.busyId = task.msg.id
      slot.worker.postMessage(task.msg, [...task.transfer])
    }
  }

  private onReply(slot: Slot<R>, reply: ReplyMessage<R>): void {
    const pending = slot.busy
    if (pending === undefined || reply.id !== slot.busyId) return
    slot.busy = undefined
    if (reply.ok) pending.resolve(reply.result)
    else pending.reject(new Error(reply.error))
    this.dispatch()
  }

  /** A crashed worker fails every task, queued or running: a pool with a hole would silently lose rows. */
  private fail(error: Error): void {
    if (this.failure === undefined) this.failure = error
    for (const slot of this.slots) {
      slot.busy?.reject(error)
      slot.busy = undefined
    }
    for (const task of this.queue.splice(0)) task.pending.reject(error)
  }
}
