/**
 * Runs a graph: every node whose key has a valid cached output is skipped; the others run in parallel (at most `jobs`
 * at a time), each under a per-key lock. A failed node stops only its dependents; everything finished stays cached.
 *
 * Where a node runs is the Executor service's business: the local Layer (the default) runs the stage in this process;
 * the cluster Layer (src/distributed/cluster.ts) hands it to a worker. runGraph plans, orders and reports either way.
 */
import { Context, Deferred, Effect, Exit, Option, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { whileRegistered } from "./activity.ts"
import { Cache, type CacheService } from "./cache.ts"
import { CacheError, errorTags, NodeFailed } from "./errors.ts"
import type { Graph, GraphNode } from "./graph.ts"
import { readVerifiedFile, recoverCorruptInputs } from "./integrity.ts"
import { nodeComponents } from "./keys.ts"
import { changedInput, watchedInputs, type WatchedInput } from "./input-watch.ts"
import { lookupNode } from "./lookup.ts"
import { publishFiles } from "./publish.ts"
import { StoreError, type RemoteStoreService } from "./remote.ts"
import { Reporter, type NodeStatus } from "./reporter.ts"
import type { Artifact, Progress, StageEnv } from "./stage.ts"
import type { KeyComponents } from "./records.ts"

export interface NodeResult {
  readonly id: string
  readonly stage: string
  readonly status: NodeStatus
  readonly key?: string
  readonly output?: string
  readonly ms: number
  readonly error?: string
  /** Tags of the stage's error and its causes (see errorTags), when the node failed in its stage. */
  readonly errorTags?: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  /** Which worker ran it (cluster runs only). */
  readonly worker?: string
}

export interface RunResult {
  readonly nodes: ReadonlyArray<NodeResult>
  readonly ms: number
  readonly failed: ReadonlyArray<NodeFailed>
}

export interface RunOptions {
  readonly jobs: number
  /** Params of this run (recorded for gc and sweep). */
  readonly params?: Readonly<Record<string, unknown>>
  /** Restrict the run to these nodes and what they depend on. */
  readonly targets?: ReadonlyArray<string>
}

const VALUE = "value.json"

/** Reads a stored artifact's value through its producer's codec. */
export const loadArtifact = (
  cache: CacheService,
  node: GraphNode,
  hash: string,
): Effect.Effect<Artifact<unknown>, CacheError> =>
  Effect.gen(function* () {
    const dir = cache.store.objectDir(hash)
    const json = yield* Effect.try({
      try: () => JSON.parse(readVerifiedFile(path.join(dir, VALUE), "utf8")) as unknown,
      catch: (e) => new CacheError({ message: `cannot read the output of node '${node.id}' (${hash.slice(0, 12)}): ${String(e)}` }),
    })
    const value = yield* Schema.decodeUnknown(node.stage.output.schema)(json).pipe(
      Effect.mapError(
        (e) => new CacheError({ message: `stored output of '${node.id}' no longer matches codec '${node.stage.output.name}': ${e.message}` }),
      ),
    )
    return { value, hash, dir, node: node.id, file: (name: string) => path.join(dir, name) }
  })

/** One node that has to be computed: its key, and the outputs of the nodes it depends on. */
export interface NodeJob {
  readonly graph: Graph
  readonly node: GraphNode
  readonly key: string
  readonly components: KeyComponents
  readonly outputs: ReadonlyMap<string, string>
  readonly warn: (message: string) => Effect.Effect<void>
  readonly threads: number
  /** Files and folders on disk the output depends on (the node's and its ancestors'): they must not change meanwhile. */
  readonly watched?: ReadonlyArray<WatchedInput>
  /** Ids of every node this run covers, dependencies first: an executor may hand the whole run on at once. */
  readonly nodes: ReadonlyArray<string>
}

export interface ExecutorService {
  /** Computes a node; returns the output hash. Its output is in the local cache with its key record where `wantsLocal`. */
  readonly run: (job: NodeJob) => Effect.Effect<{ readonly output: string; readonly worker?: string }, NodeFailed, Cache | Reporter | StageEnv>
  /**
   * For a node found in the shared store: the worker, if this run itself computed it since this process started. An
   * executor that hands the whole run on (a cluster workflow) may finish a node before this process asks for it; the
   * node then ran for this run and is reported so, not as cached.
   */
  readonly ranForThisRun?: (graph: Graph, key: string) => Effect.Effect<Option.Option<string>>
  /**
   * Whether this process needs the node's output in its local cache (default: every node). An executor that computes
   * elsewhere (the cluster) says no for outputs only other machines read: they stay in the shared store, and a store
   * hit of such a node is not downloaded either.
   */
  readonly wantsLocal?: (node: GraphNode) => boolean
}

export class Executor extends Context.Tag("mea/Executor")<Executor, ExecutorService>() {}

/** Runs the stage here; with a shared store, the output and then its key record are uploaded (a failure only warns). */
export const localExecutor: ExecutorService = {
  run: (job) =>
    Effect.gen(function* () {
      const cache = yield* Cache
      const output = yield* execute(cache, job.graph, job.node, job.key, job.components, job.outputs, job.warn, job.threads, job.watched)
      if (Option.isSome(cache.remote)) {
        const remote = cache.remote.value
        yield* publishToStore(cache, remote, job.key, output).pipe(
          Effect.catchTag("StoreError", (e) => job.warn(`not shared: ${e.message}`)),
        )
      }
      return { output }
    }),
}

/** Uploads an object, then its key record: the store never names an output it does not completely hold. */
export const publishToStore = (cache: CacheService, remote: RemoteStoreService, key: string, output: string) =>
  Effect.gen(function* () {
    const record = yield* cache.store.getKey(key).pipe(
      Effect.flatten,
      Effect.mapError(() => new StoreError({ message: `no local key record for ${key.slice(0, 12)}` })),
    )
    yield* remote.pushObject(cache.store, output)
    yield* remote.putKey(record)
  })

/** Checks out the files a stage publishes (src/runtime/publish.ts); a failure is the node's warning, not its failure. */
const checkout = (
  cache: CacheService,
  node: GraphNode,
  output: string,
  warn: (m: string) => Effect.Effect<void>,
  note: (m: string) => Effect.Effect<void>,
): Effect.Effect<void> => {
  const publish = node.stage.publish
  if (publish === undefined) return Effect.void
  return Effect.gen(function* () {
    const artifact = yield* loadArtifact(cache, node, output)
    const publication = yield* publish(node.params, artifact.value)
    if (publication === undefined) return
    const to = path.resolve(publication.to)
    yield* publishFiles(artifact.dir, publication.files, to)
    yield* note(`published ${publication.files.length} file${publication.files.length === 1 ? "" : "s"} to ${to} (a copy; the cached artifact is the source of truth)`)
  }).pipe(Effect.catchAll((e) => warn(`not published: ${e.message}`)))
}

const closure = (graph: Graph, targets: ReadonlyArray<string>): Set<string> => {
  const keep = new Set<string>()
  const visit = (id: string) => {
    if (keep.has(id)) return
    keep.add(id)
    graph.byId.get(id)?.deps.forEach(visit)
  }
  targets.forEach(visit)
  return keep
}

/** Every node `id` depends on, directly or not. */
const ancestors = (graph: Graph, id: string): Set<string> => {
  const out = new Set<string>()
  const visit = (n: string) => {
    for (const d of graph.byId.get(n)?.deps ?? []) {
      if (!out.has(d)) {
        out.add(d)
        visit(d)
      }
    }
  }
  visit(id)
  return out
}

type Outcome = { readonly ok: true; readonly output: string } | { readonly ok: false }

/** Runs a graph, registered as a live run of its cache (activity.ts: gc waits for it; crashed runs' leftovers go). */
export const runGraph = (graph: Graph, options: RunOptions): Effect.Effect<RunResult, never, Cache | Reporter | StageEnv> =>
  Effect.gen(function* () {
    const cache = yield* Cache
    const reporter = yield* Reporter
    return yield* whileRegistered(cache.store.root, path.resolve(graph.pipeline.file), reporter.info, runRegistered(graph, options))
  })

const runRegistered = (graph: Graph, options: RunOptions): Effect.Effect<RunResult, never, Cache | Reporter | StageEnv> =>
  Effect.gen(function* () {
    const cache = yield* Cache
    const reporter = yield* Reporter
    const executor = Option.getOrElse(yield* Effect.serviceOption(Executor), () => localExecutor)
    const started = Date.now()
    const pipelineFile = path.resolve(graph.pipeline.file)
    const selected = options.targets === undefined ? undefined : closure(graph, options.targets)
    const nodes = graph.nodes.filter((n) => selected === undefined || selected.has(n.id))
    const nodeIds = nodes.map((n) => n.id)
    const done = new Map<string, Deferred.Deferred<Outcome>>()
    for (const n of nodes) done.set(n.id, yield* Deferred.make<Outcome>())
    const outputs = new Map<string, string>()
    /** Node id -> its key in this run (to drop the key record of an output found corrupt). */
    const keys = new Map<string, string>()
    /** Node id -> what its key was computed from, for the watch on its file and folder inputs (input-watch.ts). */
    const componentsOf = new Map<string, KeyComponents>()
    const results = new Map<string, NodeResult>()
    const failures: Array<NodeFailed> = []
    const semaphore = yield* Effect.makeSemaphore(Math.max(1, options.jobs))
    /** The node's key and cached output (repairing corrupt records, fetching from a shared store). */
    const lookupFor = (node: GraphNode, warn: (m: string) => Effect.Effect<void>, remote = cache.remote) =>
      lookupNode(cache, remote, node, (id) => outputs.get(id), { repair: true, fetch: executor.wantsLocal?.(node) ?? true, warn })

    const runNode = (node: GraphNode): Effect.Effect<Outcome, never, StageEnv | Reporter | Cache> =>
      Effect.gen(function* () {
        let t0 = Date.now()
        const warnings: Array<string> = []
        const warn = (m: string) =>
          Effect.zipRight(
            Effect.sync(() => void warnings.push(m)),
            reporter.warn(node.id, m),
          )
        const finish = (status: NodeStatus, extra: Partial<NodeResult> = {}) =>
          Effect.gen(function* () {
            const ms = Date.now() - t0
            results.set(node.id, { id: node.id, stage: node.stage.name, status, ms, warnings, ...extra })
            yield* reporter.nodeEnd(node.id, status, ms, extra.error ?? (extra.worker !== undefined ? `on ${extra.worker}` : undefined))
          })
        const fail = (message: string, cause?: unknown) =>
          Effect.gen(function* () {
            failures.push(new NodeFailed({ node: node.id, stage: node.stage.name, message, cause }))
            const tags = errorTags(cause)
            yield* finish("failed", { error: message, ...(tags.length > 0 ? { errorTags: tags } : {}) })
            return { ok: false } as Outcome
          })

        const upstream = yield* Effect.forEach(node.deps, (d) => Deferred.await(done.get(d)!))
        t0 = Date.now()
        if (upstream.some((o) => !o.ok)) {
          yield* finish("skipped", { error: "an upstream node failed" })
          return { ok: false } as Outcome
        }

        const found = yield* lookupFor(node, warn)
        if (found._tag === "Error") return yield* fail(found.message)
        if (found._tag === "Pending") return yield* fail(`internal: upstream ${found.waitingOn.join(", ")} has no output`)
        const { key, components } = found
        keys.set(node.id, key)
        componentsOf.set(node.id, components)

        const remember = (output: string) =>
          Effect.zipRight(
            Effect.sync(() => void outputs.set(node.id, output)),
            // The node record only serves `explain`: a cache that refuses it loses an explanation, not the output.
            cache.store
              .putNode({ pipeline: pipelineFile, node: node.id, key, output, components, at: new Date().toISOString() })
              .pipe(Effect.catchAll((e) => warn(`not recorded for explain: ${e.message}`))),
          )

        if (found._tag === "Hit") {
          const hit = found.record.output
          const ranBy =
            found.source === "store" && executor.ranForThisRun !== undefined ? yield* executor.ranForThisRun(graph, key) : Option.none<string>()
          if (found.source === "store" && Option.isNone(ranBy) && (executor.wantsLocal?.(node) ?? true)) {
            yield* reporter.info(`fetched ${node.id} from ${cache.remote.pipe(Option.map((r) => r.describe), Option.getOrElse(() => "the store"))}`)
          }
          yield* remember(hit)
          if (Option.isSome(ranBy)) {
            yield* checkout(cache, node, hit, warn, (m) => reporter.info(`       ${node.id}: ${m}`))
            yield* finish("ran", { key, output: hit, worker: ranBy.value })
          } else {
            yield* checkout(cache, node, hit, warn, () => Effect.void)
            yield* finish("cached", { key, output: hit })
          }
          return { ok: true, output: hit } as Outcome
        }

        const exit = yield* Effect.exit(semaphore.withPermits(1)(compute(node, key, components, warn)))
        if (Exit.isFailure(exit)) {
          const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          const message =
            failure !== undefined ? failure.message : Exit.isInterrupted(exit) ? "interrupted" : `crashed: ${String(exit.cause)}`
          if (Exit.isInterrupted(exit)) return yield* Effect.interrupt
          return yield* fail(message, failure?.cause)
        }
        yield* remember(exit.value.output)
        yield* checkout(cache, node, exit.value.output, warn, (m) => reporter.info(`       ${node.id}: ${m}`))
        const worker = "worker" in exit.value ? exit.value.worker : undefined
        yield* finish(exit.value.status, { key, output: exit.value.output, ...(worker !== undefined ? { worker } : {}) })
        return { ok: true, output: exit.value.output } as Outcome
      }).pipe(Effect.tap((o) => Deferred.succeed(done.get(node.id)!, o)))

    /**
     * Computes a node under its key's lock (or takes what another process finished meanwhile). A reader that finds an
     * upstream artifact corrupt makes integrity.ts quarantine it, rebuild its producer through this same function
     * (without a second permit: the consumer holds one) and retry once.
     */
    const compute = (
      node: GraphNode,
      key: string,
      components: KeyComponents,
      warn: (m: string) => Effect.Effect<void>,
    ): Effect.Effect<{ readonly status: "ran" | "cached"; readonly output: string; readonly worker?: string }, NodeFailed, StageEnv | Reporter | Cache> => {
      let waited = false
      return cache.store.withLock(
        key,
        node.id,
        (owner) =>
          Effect.zipRight(
            Effect.sync(() => void (waited = true)),
            reporter.info(`waiting  ${node.id}: pid ${owner.pid} is computing the same output (${owner.node})`),
          ),
        Effect.gen(function* () {
          // Another process may have finished it while we waited for the lock. The shared store was asked a moment ago
          // (lookupFor in runNode): it is asked again only after a wait, a round trip saved per node otherwise.
          const again = yield* lookupFor(node, warn, waited ? cache.remote : Option.none())
          if (again._tag === "Hit") return { status: "cached" as const, output: again.record.output }
          const above = [...ancestors(graph, node.id)]
          const upstream = above.flatMap((id) => {
            const hash = outputs.get(id)
            return hash === undefined ? [] : [{ input: id, node: id, hash }]
          })
          const output = yield* recoverCorruptInputs({
            upstream,
            attempt: executor.run({
              graph,
              node,
              key,
              components,
              outputs,
              warn,
              threads: options.jobs,
              nodes: nodeIds,
              watched: watchedInputs(graph, [node.id, ...above], (id) => (id === node.id ? components : componentsOf.get(id))),
            }),
            quarantine: (hash) =>
              Effect.ignore(
                Effect.zipRight(
                  cache.store.quarantine(hash),
                  Effect.forEach(upstream.filter((u) => u.hash === hash && keys.has(u.node)), (u) => cache.store.deleteKey(keys.get(u.node)!), { discard: true }),
                ),
              ),
            rebuild: (id) =>
              Effect.gen(function* () {
                const producer = graph.byId.get(id)!
                const known = yield* nodeComponents(producer, (d) => outputs.get(d), cache.files, cache.store).pipe(
                  Effect.mapError((e) => new NodeFailed({ node: id, stage: producer.stage.name, message: e.message, cause: e })),
                )
                if (known._tag === "Pending") return yield* Effect.fail(new NodeFailed({ node: id, stage: producer.stage.name, message: "internal: upstream has no output" }))
                const rebuilt = yield* compute(producer, known.key, known.components, (m) => reporter.warn(id, m))
                yield* reporter.info(`rebuilt  ${id} (${rebuilt.output.slice(0, 12)})`)
                return rebuilt.output
              }),
            warn,
            changed: (id, before, after) =>
              new NodeFailed({
                node: node.id,
                stage: node.stage.name,
                message: `upstream '${id}' was rebuilt after its output was found corrupt, and came out different (${before.slice(0, 12)} -> ${after.slice(0, 12)}); run again`,
              }),
          })
          return { status: "ran" as const, ...output }
        }),
      ).pipe(Effect.catchTag("LockError", (e) => Effect.fail(new NodeFailed({ node: node.id, stage: node.stage.name, message: e.message, cause: e }))))
    }

    yield* Effect.forEach(nodes, runNode, { concurrency: "unbounded", discard: true })
    yield* reporter.close
    const ordered = nodes.map((n) => results.get(n.id)!).filter((r) => r !== undefined)
    const ms = Date.now() - started
    yield* cache.store
      .putRun({
        pipeline: pipelineFile,
        params: options.params ?? graph.pipeline.params,
        at: new Date().toISOString(),
        nodes: ordered.flatMap((r) =>
          r.key !== undefined && r.output !== undefined
            ? [{ id: r.id, stage: r.stage, key: r.key, output: r.output, status: r.status, ms: r.ms }]
            : [],
        ),
      })
      .pipe(Effect.ignore)
    return { nodes: ordered, ms, failed: failures }
  })

/** Runs one node's stage into a staging folder and publishes the result. */
export const execute = (
  cache: CacheService,
  graph: Graph,
  node: GraphNode,
  key: string,
  components: KeyComponents,
  outputs: ReadonlyMap<string, string>,
  warn: (m: string) => Effect.Effect<void>,
  threads: number,
  watched: ReadonlyArray<WatchedInput> = watchedInputs(graph, [node.id], () => components),
): Effect.Effect<string, NodeFailed, Reporter | StageEnv> =>
  Effect.gen(function* () {
    const reporter = yield* Reporter
    const nodeFailed = (message: string, cause?: unknown) => new NodeFailed({ node: node.id, stage: node.stage.name, message, cause })
    const t0 = Date.now()
    // Resolve inputs: upstream artifacts are decoded only now, when a node actually runs.
    const inputs: Record<string, unknown> = {}
    for (const [name, ref] of Object.entries(node.inputs)) {
      const c = components.inputs[name]
      if (ref.kind === "absent") inputs[name] = undefined
      else if (ref.kind === "file") inputs[name] = { path: ref.path, hash: c.hashes[0] }
      else if (ref.kind === "dir") {
        const listing = yield* cache.store.getTree(c.hashes[0]).pipe(
          Effect.flatten,
          Effect.mapError(() => nodeFailed(`the listing of folder ${ref.path} (input '${name}') is missing from the cache; run again`)),
        )
        inputs[name] = { path: ref.path, hash: c.hashes[0], files: listing.map(([rel]) => rel) }
      } else {
        const artifacts = yield* Effect.forEach(ref.ids, (id) =>
          loadArtifact(cache, graph.byId.get(id)!, outputs.get(id)!).pipe(Effect.mapError((e) => nodeFailed(e.message))),
        )
        inputs[name] = ref.many ? artifacts : artifacts[0]
      }
    }
    yield* reporter.nodeStart(node.id, node.stage.name)
    const counter = { total: 0, done: 0, unit: "items" }
    const progress: Progress = {
      start: (total, unit = "items") =>
        Effect.suspend(() => {
          counter.total = total
          counter.done = 0
          counter.unit = unit
          return reporter.progress(node.id, 0, total, unit)
        }),
      advance: (n = 1) =>
        Effect.suspend(() => {
          counter.done += n
          return reporter.progress(node.id, counter.done, counter.total, counter.unit)
        }),
      note: (m) => reporter.info(`       ${node.id}: ${m}`),
      warn,
    }
    const staging = yield* cache.store.newStaging.pipe(Effect.mapError((e) => nodeFailed(`cannot store the output: ${e.reason}`, e)))
    const cleanup = Effect.sync(() => fs.rmSync(staging, { recursive: true, force: true }))
    const value = yield* node.stage
      .run({ nodeId: node.id, params: node.params, inputs: inputs as never, outDir: staging, progress, threads })
      .pipe(
        Effect.mapError((e) => nodeFailed(e.message, e)),
        Effect.catchAllDefect((d) => Effect.fail(nodeFailed(`stage '${node.stage.name}' crashed: ${d instanceof Error ? d.message : String(d)}`))),
        Effect.onError(() => cleanup),
      )
    const changed = yield* changedInput(cache.files, cache.store, watched)
    if (Option.isSome(changed)) {
      yield* cleanup
      return yield* Effect.fail(nodeFailed(`${changed.value} while this run used it; the output of '${node.id}' was not kept (it may mix old and new content); run again`))
    }
    const encoded = yield* Schema.encodeUnknown(node.stage.output.schema)(value).pipe(
      Effect.mapError((e) => nodeFailed(`stage '${node.stage.name}' returned a value its codec '${node.stage.output.name}' rejects: ${e.message}`)),
      Effect.onError(() => cleanup),
    )
    const manifest = yield* Effect.gen(function* () {
      if (fs.existsSync(path.join(staging, VALUE))) return yield* Effect.fail(nodeFailed(`cannot store the output: the stage wrote ${VALUE} itself; that name is reserved`))
      yield* Effect.try({
        try: () => fs.writeFileSync(path.join(staging, VALUE), JSON.stringify(encoded)),
        catch: (e) => nodeFailed(`cannot store the output: ${e instanceof Error ? e.message : String(e)}`),
      })
      return yield* cache.store.commit(staging).pipe(Effect.mapError((e) => nodeFailed(`cannot store the output: ${e.reason}`, e)))
    }).pipe(Effect.onError(() => cleanup))
    yield* cache.store
      .putKey({
        key,
        output: manifest.hash,
        node: node.id,
        stage: node.stage.name,
        components,
        ms: Date.now() - t0,
        at: new Date().toISOString(),
      })
      .pipe(Effect.mapError((e) => nodeFailed(`cannot store the output: ${e.reason}`, e)))
    return manifest.hash
  })
