/** Looking into the cache: list, show, diff, garbage-collect and verify artifacts. */
import { Effect, Option, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Cache, type CacheService } from "./cache.ts"
import { CacheError, UsageError } from "./errors.ts"
import { canonicalJson } from "./hash.ts"
import { exclusiveForGc, sweepLeftovers } from "./activity.ts"
import { processAlive } from "./lock.ts"
import { jsonDiff } from "./plan.ts"
import type { Stage, StageEnv } from "./stage.ts"
import type { LockError } from "./lock.ts"
import { StoreIoError, type KeyRecord } from "./store.ts"

export interface ArtifactInfo {
  readonly hash: string
  readonly record: KeyRecord | undefined
  readonly bytes: number
  readonly files: ReadonlyArray<{ readonly name: string; readonly size: number }>
}

/** Every object with its newest key record; an object whose manifest is garbled is listed with no files. */
export const listArtifacts = (cache: CacheService): Effect.Effect<ReadonlyArray<ArtifactInfo>, StoreIoError> =>
  Effect.gen(function* () {
    const byOutput = new Map<string, KeyRecord>()
    for (const r of yield* cache.store.keys) {
      const prev = byOutput.get(r.output)
      if (prev === undefined || prev.at < r.at) byOutput.set(r.output, r)
    }
    const infos = yield* Effect.forEach(yield* cache.store.objects, (hash) =>
      Effect.map(Effect.orElseSucceed(cache.store.manifest(hash), () => Option.none()), (manifest) => {
        const files = Option.match(manifest, { onNone: () => [], onSome: (m) => m.files.map((f) => ({ name: f.name, size: f.size })) })
        return { hash, record: byOutput.get(hash), bytes: files.reduce((a, f) => a + f.size, 0), files }
      }),
    )
    return infos.sort((a, b) => (a.record?.at ?? "").localeCompare(b.record?.at ?? ""))
  })

/**
 * Finds an artifact by node id (its most recent output in any pipeline, or in `pipeline` when given), by output hash
 * prefix, or by key prefix.
 */
export const resolveRef = (cache: CacheService, ref: string, pipeline?: string): Effect.Effect<ArtifactInfo, UsageError | StoreIoError> =>
  Effect.gen(function* () {
    const all = yield* listArtifacts(cache)
    const wanted = pipeline === undefined ? undefined : path.resolve(pipeline)
    const nodes = (yield* cache.store.nodes)
      .filter((n) => n.node === ref && n.output !== undefined && (wanted === undefined || n.pipeline === wanted))
      .sort((a, b) => b.at.localeCompare(a.at))
    if (nodes.length > 0) {
      const found = all.find((a) => a.hash === nodes[0].output)
      if (found !== undefined) return found
      return yield* Effect.fail(new UsageError({ message: `node '${ref}' was last computed as ${nodes[0].output!.slice(0, 12)}, which is no longer in the cache (gc?)` }))
    }
    const byHash = yield* cache.store.resolvePrefix(ref)
    if (byHash.length === 1) return all.find((a) => a.hash === byHash[0])!
    if (byHash.length > 1) return yield* Effect.fail(new UsageError({ message: `hash prefix '${ref}' is ambiguous: ${byHash.map((h) => h.slice(0, 12)).join(", ")}` }))
    const byKey = (yield* cache.store.keys).filter((k) => /^[0-9a-f]{4,}$/.test(ref) && k.key.startsWith(ref))
    if (byKey.length === 1) {
      const found = all.find((a) => a.hash === byKey[0].output)
      if (found !== undefined) return found
    }
    return yield* Effect.fail(new UsageError({ message: `'${ref}' is neither a node id with a cached output nor a hash prefix in ${cache.store.root}` }))
  })

/** The artifact's public JSON form: the codec's `toJson`, else its stored value. */
export const artifactJson = (
  cache: CacheService,
  registry: ReadonlyMap<string, Stage>,
  info: ArtifactInfo,
): Effect.Effect<unknown, CacheError, StageEnv> =>
  Effect.gen(function* () {
    const dir = cache.store.objectDir(info.hash)
    const raw = yield* Effect.try({
      try: () => JSON.parse(fs.readFileSync(path.join(dir, "value.json"), "utf8")) as unknown,
      catch: (e) => new CacheError({ message: `cannot read ${info.hash.slice(0, 12)}/value.json: ${String(e)}` }),
    })
    const stage = info.record === undefined ? undefined : registry.get(info.record.stage)
    if (stage?.output.toJson === undefined) return raw
    const value = yield* Schema.decodeUnknown(stage.output.schema)(raw).pipe(
      Effect.mapError((e) => new CacheError({ message: `stored value no longer matches codec '${stage.output.name}': ${e.message}` })),
    )
    return yield* stage.output
      .toJson({ value, hash: info.hash, dir, node: info.record?.node ?? "", file: (n) => path.join(dir, n) })
      .pipe(Effect.mapError((e) => new CacheError({ message: e.message })))
  })

export const formatBytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KB` : n < 1 << 30 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${(n / (1 << 30)).toFixed(2)} GB`

/** A human summary: provenance, params, files, and the codec's own summary. */
export const describeArtifact = (
  cache: CacheService,
  registry: ReadonlyMap<string, Stage>,
  info: ArtifactInfo,
): Effect.Effect<string, CacheError> =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const r = info.record
    lines.push(`artifact ${info.hash}`)
    if (r !== undefined) {
      lines.push(`node     ${r.node}`, `stage    ${r.stage} v${r.components.version}`, `key      ${r.key}`, `made     ${r.at} in ${r.ms} ms`)
      lines.push(`params   ${canonicalJson(r.components.params)}`)
      for (const [name, c] of Object.entries(r.components.inputs)) {
        if (c.kind === "absent") continue
        const from = Array.isArray(c.from) ? c.from.join(", ") : String(c.from ?? "")
        lines.push(`input    ${name}: ${c.kind} ${from} (${c.hashes.map((h) => h.slice(0, 12)).join(", ")})`)
      }
    }
    lines.push(`files    ${info.files.length}, ${formatBytes(info.bytes)}`)
    for (const f of info.files) lines.push(`         ${f.name} ${formatBytes(f.size)}`)
    const stage = r === undefined ? undefined : registry.get(r.stage)
    if (stage?.output.summarize !== undefined) {
      const raw = yield* Effect.try({
        try: () => JSON.parse(fs.readFileSync(path.join(cache.store.objectDir(info.hash), "value.json"), "utf8")) as unknown,
        catch: (e) => new CacheError({ message: String(e) }),
      })
      const decoded = Schema.decodeUnknownEither(stage.output.schema)(raw)
      if (decoded._tag === "Right") lines.push("", stage.output.summarize(decoded.right))
    }
    return lines.join("\n")
  })

/** Differences between two artifacts: provenance (stage, params, inputs) and content (their JSON forms). */
export const diffArtifacts = (
  cache: CacheService,
  registry: ReadonlyMap<string, Stage>,
  a: ArtifactInfo,
  b: ArtifactInfo,
): Effect.Effect<ReadonlyArray<string>, CacheError, StageEnv> =>
  Effect.gen(function* () {
    if (a.hash === b.hash) return ["identical content"]
    const out: Array<string> = []
    if (a.record !== undefined && b.record !== undefined) {
      const prov = jsonDiff(
        { stage: a.record.stage, version: a.record.components.version, params: a.record.components.params, inputs: a.record.components.inputs },
        { stage: b.record.stage, version: b.record.components.version, params: b.record.components.params, inputs: b.record.components.inputs },
      )
      out.push(...prov.map((d) => `made with: ${d}`))
    }
    const ja = yield* artifactJson(cache, registry, a)
    const jb = yield* artifactJson(cache, registry, b)
    const content = jsonDiff(ja, jb)
    const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 197)}...` : s)
    out.push(...content.slice(0, 50).map((d) => `content: ${clip(d)}`))
    if (content.length > 50) out.push(`content: and ${content.length - 50} more differences`)
    const fa = new Map(a.files.map((f) => [f.name, f.size]))
    for (const f of b.files) {
      if (!fa.has(f.name)) out.push(`file ${f.name}: only in ${b.hash.slice(0, 12)}`)
      else if (fa.get(f.name) !== f.size) out.push(`file ${f.name}: ${fa.get(f.name)} -> ${f.size} bytes`)
      fa.delete(f.name)
    }
    for (const name of fa.keys()) out.push(`file ${name}: only in ${a.hash.slice(0, 12)}`)
    return out
  })

export interface GcReport {
  readonly kept: number
  readonly removed: ReadonlyArray<string>
  readonly freedBytes: number
  readonly runsRemoved: number
  readonly tmpRemoved: number
}

/**
 * Keeps what the most recent run of each (pipeline, params) reached; drops every other artifact, its key records,
 * superseded run records, and staging folders of dead processes.
 */
/** Drops what no latest run reaches; waits while a run is in progress on the cache (activity.ts), so it never deletes what a live run needs. */
export const gc = (dryRun: boolean, onWait: (message: string) => Effect.Effect<void> = () => Effect.void): Effect.Effect<GcReport, StoreIoError | LockError, Cache> =>
  Effect.flatMap(Cache, ({ store }) => (dryRun ? collect(true) : exclusiveForGc(store.root, onWait, collect(false))))

const collect = (dryRun: boolean): Effect.Effect<GcReport, StoreIoError, Cache> =>
  Effect.gen(function* () {
    const { store } = yield* Cache
    const runs = yield* store.runs
    const latest = new Map<string, (typeof runs)[number]>()
    for (const r of runs) latest.set(`${r.run.pipeline}\0${canonicalJson(r.run.params)}`, r)
    const keepRuns = new Set([...latest.values()].map((r) => r.file))
    const reachable = new Set([...latest.values()].flatMap((r) => r.run.nodes.map((n) => n.output)))
    const objects = yield* store.objects
    const removed = objects.filter((h) => !reachable.has(h))
    let freedBytes = 0
    for (const h of removed) freedBytes += yield* store.sizeOf(h)
    const staleTmp = fs.existsSync(store.tmp)
      ? fs.readdirSync(store.tmp).filter((d) => {
          const pid = Number(/^stage-(\d+)-/.exec(d)?.[1] ?? NaN)
          return Number.isNaN(pid) || !processAlive(pid)
        })
      : []
    const oldRuns = runs.filter((r) => !keepRuns.has(r.file))
    if (!dryRun) {
      const gone = new Set(removed)
      for (const k of yield* store.keys) if (gone.has(k.output)) yield* store.deleteKey(k.key)
      for (const h of removed) yield* store.deleteObject(h)
      for (const r of oldRuns) yield* store.deleteRun(r.file)
      yield* Effect.try({
        try: () => {
          for (const d of staleTmp) fs.rmSync(path.join(store.tmp, d), { recursive: true, force: true })
          fs.rmSync(store.corrupt, { recursive: true, force: true })
          sweepLeftovers(store.root)
        },
        catch: (e) => new StoreIoError({ op: "clean", path: store.root, reason: e instanceof Error ? e.message : String(e) }),
      })
    }
    return { kept: objects.length - removed.length, removed, freedBytes, runsRemoved: oldRuns.length, tmpRemoved: staleTmp.length }
  })

export interface VerifyReport {
  readonly checked: number
  readonly corrupt: ReadonlyArray<{ readonly hash: string; readonly problem: string }>
  readonly danglingKeys: number
}

/** Re-hashes every byte of every artifact; corrupt ones are quarantined (and rebuilt by the next run). */
export const verify: Effect.Effect<VerifyReport, StoreIoError, Cache> = Effect.gen(function* () {
  const { store } = yield* Cache
  const corrupt: Array<{ hash: string; problem: string }> = []
  const objects = yield* store.objects
  for (const h of objects) {
    const r = yield* Effect.either(store.check(h, true))
    if (r._tag === "Left") {
      corrupt.push({ hash: h, problem: r.left.problem })
      yield* store.quarantine(h)
    }
  }
  const present = new Set(yield* store.objects)
  let danglingKeys = 0
  for (const k of yield* store.keys) {
    if (!present.has(k.output)) {
      yield* store.deleteKey(k.key)
      danglingKeys++
    }
  }
  return { checked: objects.length, corrupt, danglingKeys } satisfies VerifyReport
})
