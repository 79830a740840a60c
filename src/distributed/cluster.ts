/**
 * Running nodes on many machines with @effect/cluster and @effect/workflow, their state in PostgreSQL (@effect/sql-pg).
 *
 * A run is one workflow (src/distributed/workflow.ts) hosted by some worker, with one activity per node named by the
 * node's cache key; each activity sends its node as a persisted message to the entity `MeaNode` whose id is the cache
 * key, so the cluster spreads keys over its workers by shard and one key is never computed twice at once. When a
 * worker dies mid-node (kill -9, lost machine), its shards move to the live workers, which find the unanswered
 * messages (the node's, and the workflow's own) in PostgreSQL and run them again. A worker that finds the key already
 * in the shared store answers at once, so a retried or duplicated message does nothing. Replies are small (the
 * output hash and who ran it); artifacts travel through the shared store, never through the cluster.
 *
 * `mea run --cluster` starts the workflow, or joins it when an earlier client of the same run died, and follows each
 * node by sending the very message the workflow's activity sends (same primary key), which gives it the reply for its
 * live view without a second computation; the engine (src/runtime/executor.ts) plans, orders and reports as locally.
 *
 * Loaded only for `--cluster` and `mea worker` (dynamic import), so local runs never load it.
 */
import * as ClusterWorkflowEngine from "@effect/cluster/ClusterWorkflowEngine"
import { EntityAddress } from "@effect/cluster/EntityAddress"
import { EntityId } from "@effect/cluster/EntityId"
import { MessageStorage } from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as Snowflake from "@effect/cluster/Snowflake"
import * as SocketRunner from "@effect/cluster/SocketRunner"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import * as net from "node:net"
import { Cause, Data, Deferred, Duration, Effect, Either, FiberId, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { Cache, type CacheService } from "../runtime/cache.ts"
import { NodeFailed } from "../runtime/errors.ts"
import { execute, Executor, publishToStore, type ExecutorService, type NodeJob } from "../runtime/executor.ts"
import { buildGraph, type Graph, type GraphNode } from "../runtime/graph.ts"
import { lookupNode } from "../runtime/lookup.ts"
import { parsePipeline } from "../runtime/pipeline-load.ts"
import { Reporter } from "../runtime/reporter.ts"
import type { Stage, StageEnv } from "../runtime/stage.ts"
import { MeaNode, MeaRun, NodeReply, NodeRunFailed, RunNodeTag, runWorkflowLayer } from "./workflow.ts"

export { MeaNode, MeaRun, NodeRunFailed } from "./workflow.ts"

/** A cluster problem for the user: which database, what went wrong, that finished nodes are kept. */
export class ClusterError extends Data.TaggedError("ClusterError")<{ readonly message: string }> {}

/** The Postgres URL as it may be printed: the password, if any, is masked. */
export const redactUrl = (url: string): string => url.replace(/^([a-z]+:\/\/[^:/@]+):[^@/]*@/i, "$1:***@")

// ------------------------------------------------------------------------------------------------ layers

/** Sharding tuned for batch jobs: fast failover (advisory locks drop with a dead worker's connection) and fast replies. */
const shardingConfig = (runner: Option.Option<{ host: string; port: number }>): Partial<ShardingConfig.ShardingConfig["Type"]> => ({
  runnerAddress: Option.map(runner, (r) => RunnerAddress.make(r.host, r.port)),
  shardsPerGroup: 60,
  entityReplyPollInterval: Duration.millis(20),
  entityMessagePollInterval: Duration.millis(500),
  refreshAssignmentsInterval: Duration.millis(1000),
  runnerHealthCheckInterval: Duration.seconds(2),
  // The health check is a singleton on one worker; when that worker is the one that died, nobody marks it unhealthy
  // and it leaves the runner list only when its heartbeat (written with each lock refresh) is older than the lock
  // expiration: 35 s by default, here 10 s. A worker whose event loop stalls that long loses its shards, and its node
  // runs again elsewhere (same key, same bytes).
  shardLockRefreshInterval: Duration.seconds(2),
  shardLockExpiration: Duration.seconds(10),
  entityMaxIdleTime: Duration.seconds(30),
  // How long a stopping worker (SIGTERM, or shards moving to a new worker) lets a running node finish before it hands
  // the node back (its message is persisted, so another worker reruns it): a node about to finish is not redone, and
  // `mea worker` still stops within about a second.
  entityTerminationTimeout: Duration.seconds(1),
})

/** Whether something accepts TCP connections at host:port within `ms`. */
const accepts = (host: string, port: number, ms: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect({ host, port })
    const end = (alive: boolean) => {
      socket.destroy()
      resume(Effect.succeed(alive))
    }
    socket.setTimeout(ms, () => end(false))
    socket.once("connect", () => end(true))
    socket.once("error", () => end(false))
    return Effect.sync(() => socket.destroy())
  })

/**
 * A runner is alive while its port accepts connections. The kernel accepts them even while the worker's event loop is
 * busy with a node, and refuses them at once when the process is gone, so a killed worker's shards move within a
 * health check or two. The built-in ping check waits on an RPC client that keeps reconnecting to the dead address,
 * which took about a minute per lost worker; a lost machine (no answer at all) is given up after three 2 s tries.
 */
export const connectRunnerHealth = Layer.succeed(RunnerHealth.RunnerHealth, {
  isAlive: (address) =>
    accepts(address.host, address.port, 2000).pipe(
      Effect.filterOrFail((alive) => alive, () => "refused"),
      Effect.retry({ times: 2, schedule: Schedule.spaced("500 millis") }),
      Effect.isSuccess,
    ),
})

/**
 * The cluster's SQL storage (messages, runners, shard locks). Processes creating its tables at once on a fresh
 * database race ("Failed to execute statement", which @effect/cluster turns into a defect, so a plain retry of the
 * layer never saw it): each setup is tried a few times, then reported as a ClusterError.
 */
const sqlStorage = (url: string) =>
  // Runners' tables first: a failure there must not interrupt the messages' migration halfway, which can leave its
  // transaction open, holding its locks.
  SqlMessageStorage.layer.pipe(
    Layer.provideMerge(SqlRunnerStorage.layer),
    Layer.catchAllCause((cause): Layer.Layer<unknown, ClusterError> =>
      Cause.isInterruptedOnly(cause)
        ? Layer.failCause(Cause.interrupt(FiberId.none))
        : Layer.fail(new ClusterError({ message: `cannot set up the cluster's tables in ${redactUrl(url)}: ${describeCause(cause)}` })),
    ),
    Layer.retry(Schedule.intersect(Schedule.spaced("500 millis"), Schedule.recurs(6))),
  )

/**
 * What NodeClusterSocket.layer({ storage: "sql" }) assembles around a socket runner (client-only or serving), with the
 * storage set up as above; the caller picks the runner and, for a worker, the runner health check.
 */
const sqlSocketRunner = <A, E, R>(runner: Layer.Layer<A, E, R>, url: string, address: Option.Option<{ host: string; port: number }>) =>
  runner.pipe(
    Layer.provideMerge(sqlStorage(url)),
    Layer.provide(ShardingConfig.layerFromEnv(shardingConfig(address))),
    Layer.provide(RpcSerialization.layerMsgPack),
  )

const pgLayer = (url: string) =>
  PgClient.layer({ url: Redacted.make(url), applicationName: "mea", connectTimeout: Duration.seconds(5), maxConnections: 8 }).pipe(
    Layer.mapError((e) => new ClusterError({ message: `cannot reach the cluster database ${redactUrl(url)}: ${e.message}` })),
  )

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const f = Cause.failureOption(cause)
  const e = Option.isSome(f) ? f.value : Cause.squash(cause)
  return e instanceof Error ? e.message : typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)
}

// ------------------------------------------------------------------------------------------------ the client (mea run)

/**
 * The cluster Layer of the Executor: nodes go to the workers; their outputs come back through the store. While a node
 * is out, the database is checked every second; if it stays unreachable for `lostAfter`, the node fails with a clear
 * error (finished nodes are cached here and in the store, so a rerun resumes).
 */
export const clusterExecutorLayer = (
  url: string,
  options: {
    readonly lostAfter?: Duration.DurationInput
    /** Nodes whose outputs the user asked to have here (`--fetch`); published outputs always come. */
    readonly fetch?: (node: string) => boolean
  } = {},
): Layer.Layer<Executor, ClusterError> =>
  Layer.scoped(
    Executor,
    Effect.gen(function* () {
      const makeClient = yield* MeaNode.client
      const engine = yield* WorkflowEngine
      const storage = yield* MessageStorage
      const sharding = yield* Sharding.Sharding
      const since = Date.now()
      const sql = yield* SqlClient.SqlClient
      const lost = yield* Deferred.make<never, string>()
      const lostMs = Duration.toMillis(options.lostAfter ?? Duration.seconds(8))
      yield* Effect.gen(function* () {
        let downSince: number | undefined
        for (;;) {
          yield* Effect.sleep("1 second")
          const ok = yield* sql`SELECT 1`.pipe(Effect.timeout("2 seconds"), Effect.as(true), Effect.orElseSucceed(() => false))
          if (ok) downSince = undefined
          else {
            downSince ??= Date.now()
            if (Date.now() - downSince >= lostMs) {
              yield* Deferred.fail(lost, `lost the cluster database ${redactUrl(url)} (unreachable for ${Math.round(lostMs / 1000)} s)`)
              return
            }
          }
        }
      }).pipe(Effect.forkScoped)

      const paramsOf = (graph: Graph) => Object.entries(graph.pipeline.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`)

      /**
       * The run's workflow execution: the first one of this run (file, text, params, nodes) that has not finished. A
       * client restarted while one is under way joins it; a rerun after it finished is the next attempt.
       */
      const startRun = (graph: Graph, nodes: ReadonlyArray<string>): Effect.Effect<string, string> =>
        Effect.gen(function* () {
          const base = { file: graph.pipeline.file, source: graph.pipeline.source, params: paramsOf(graph), nodes }
          for (let attempt = 0; attempt < 100_000; attempt++) {
            const payload = { ...base, attempt }
            const executionId = yield* MeaRun.executionId(payload)
            const prior = yield* MeaRun.poll(executionId)
            if (prior === undefined) {
              yield* MeaRun.execute(payload, { discard: true })
              return executionId
            }
            // mea's workflow never suspends itself; the engine suspends one whose activity a client interrupted.
            if (prior._tag === "Suspended") {
              yield* MeaRun.resume(executionId)
              return executionId
            }
          }
          return yield* Effect.fail("too many finished attempts of this run")
        }).pipe(
          Effect.provideService(WorkflowEngine, engine),
          Effect.catchAllDefect((d) => Effect.fail(`cannot start the run's workflow: ${describeCause(Cause.die(d))}`)),
          // The engine dies on a database hiccup; retried for longer than `lostAfter`, so a lost database is reported as such.
          Effect.retry({ schedule: Schedule.spaced("1 second"), times: Math.ceil(lostMs / 1000) + 2 }),
        )
      // One workflow per graph, started by its first node that is not cached (a run of cached nodes starts none).
      const runs = new Map<Graph, Deferred.Deferred<string, string>>()
      const runOf = (job: NodeJob) =>
        Effect.suspend(() => {
          const known = runs.get(job.graph)
          if (known !== undefined) return Deferred.await(known)
          const started = Deferred.unsafeMake<string, string>(FiberId.none)
          runs.set(job.graph, started)
          return Effect.zipRight(Deferred.complete(started, startRun(job.graph, job.nodes)), Deferred.await(started))
        })

      const replyExit = Schema.decodeUnknown(Schema.Exit({ success: NodeReply, failure: NodeRunFailed, defect: Schema.Defect }))
      /**
       * Whether the run's workflow computed `key` since this client started: its node message (the workflow's primary
       * key) was created after `since` and answered with an output. Read only: asking must not send the node.
       */
      const ranForThisRun = (graph: Graph, key: string): Effect.Effect<Option.Option<string>> =>
        Effect.gen(function* () {
          const started = runs.get(graph)
          if (started === undefined) return Option.none()
          const polled = yield* Deferred.poll(started)
          if (Option.isNone(polled)) return Option.none()
          const run = yield* polled.value
          const entityId = EntityId.make(key)
          const address = new EntityAddress({ entityType: MeaNode.type, entityId, shardId: yield* MeaNode.getShardId(entityId) })
          const requestId = yield* storage.requestIdForPrimaryKey({ address, tag: RunNodeTag, id: `${key}/${run}` })
          if (Option.isNone(requestId) || Snowflake.timestamp(requestId.value) < since) return Option.none()
          const replies = yield* storage.repliesForUnfiltered([requestId.value])
          const last = replies.at(-1)
          if (last === undefined || last._tag !== "WithExit") return Option.none()
          const exit = yield* replyExit(last.exit)
          return exit._tag === "Success" ? Option.some(exit.value.worker) : Option.none()
        }).pipe(Effect.provideService(Sharding.Sharding, sharding), Effect.orElseSucceed(() => Option.none<string>()))

      // Downstream nodes run on workers, which read their inputs from the store: only what is read here comes here.
      const wantsLocal = (node: GraphNode) => node.stage.publish !== undefined || (options.fetch?.(node.id) ?? false)
      const service: ExecutorService = {
        ranForThisRun,
        wantsLocal,
        run: (job: NodeJob) =>
          Effect.gen(function* () {
            const cache = yield* Cache
            const failed = (message: string) => new NodeFailed({ node: job.node.id, stage: job.node.stage.name, message })
            const remote = yield* Option.match(cache.remote, {
              onNone: () => Effect.fail(failed("--cluster needs a shared store")),
              onSome: Effect.succeed,
            })
            const upstream: Record<string, string> = {}
            for (const d of job.node.deps) upstream[d] = job.outputs.get(d)!
            const reply = yield* Effect.gen(function* () {
              const run = yield* Effect.mapError(runOf(job), failed)
              // The same message (same primary key) as the workflow's activity for this key: one computation.
              return yield* makeClient(job.key)
                .Run({ run, key: job.key, node: job.node.id, file: job.graph.pipeline.file, source: job.graph.pipeline.source, params: paramsOf(job.graph), upstream })
                .pipe(
                  // A database hiccup while waiting for the reply is not the node's failure: the watch on the database
                  // above decides when it is lost for good.
                  Effect.retry({ while: (e) => e._tag !== "NodeRunFailed", schedule: Schedule.spaced("500 millis") }),
                  Effect.mapError((e) => failed(e._tag === "NodeRunFailed" ? e.message : `cluster: ${describeCause(Cause.fail(e))}`)),
                )
            }).pipe(Effect.raceFirst(Effect.mapError(Deferred.await(lost), (m) => failed(`${m}; finished nodes are cached, rerun to resume`))))
            if (!wantsLocal(job.node)) return { output: reply.output, worker: reply.worker }
            // Bring the output here: it is published from the local cache, or the user asked for it.
            yield* Effect.gen(function* () {
              if (!(yield* cache.store.hasObject(reply.output))) yield* remote.fetchObject(cache.store, reply.output)
              const record = yield* remote.getKey(job.key)
              if (Option.isNone(record) || record.value.output !== reply.output) {
                return yield* Effect.fail(failed(`worker ${reply.worker} answered ${reply.output.slice(0, 12)} but the store has no matching key record`))
              }
              yield* cache.store.putKey(record.value)
            }).pipe(
              Effect.catchTags({
                StoreError: (e) => Effect.fail(failed(`cannot fetch the output from the store: ${e.message}`)),
                CorruptRecord: (e) => Effect.fail(failed(`cannot fetch the output from the store: ${e.message}`)),
                StoreIoError: (e) => Effect.fail(failed(`cannot store the output here: ${e.message}`)),
              }),
            )
            return { output: reply.output, worker: reply.worker }
          }),
      }
      return service
    }),
  ).pipe(
    Layer.provide(ClusterWorkflowEngine.layer),
    Layer.provide(sqlSocketRunner(Layer.provide(SocketRunner.layerClientOnly, NodeClusterSocket.layerClientProtocol), url, Option.none())),
    Layer.provide(pgLayer(url)),
    Layer.mapError((e) => (e instanceof ClusterError ? e : new ClusterError({ message: `cluster ${redactUrl(url)}: ${String((e as { message?: unknown }).message ?? e)}` }))),
  )

// ------------------------------------------------------------------------------------------------ the worker

export interface WorkerOptions {
  readonly cluster: string
  readonly host: string
  readonly port: number
  readonly jobs: number
  readonly registry: ReadonlyMap<string, Stage>
  readonly name: string
}

/** Graphs by (file, source, params): a worker builds each run's graph once. */
const graphCache = (registry: ReadonlyMap<string, Stage>) => {
  const graphs = new Map<string, Graph>()
  return (file: string, source: string, params: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const id = JSON.stringify([file, source, params])
      const hit = graphs.get(id)
      if (hit !== undefined) return hit
      const parsed = parsePipeline(file, source, params)
      if (Either.isLeft(parsed)) return yield* Effect.fail(`the pipeline does not load here: ${parsed.left.errors.map((e) => e.message).join("; ")}`)
      const graph = yield* buildGraph(parsed.right, registry).pipe(
        Effect.mapError((e) => `the pipeline does not build here: ${e.errors.map((x) => x.message).join("; ")}`),
      )
      if (graphs.size > 32) graphs.clear()
      graphs.set(id, graph)
      return graph
    })
}

/** Computes one node on this worker: from the store if someone already did, else by running its stage. */
const computeNode = (
  cache: CacheService,
  graph: Graph,
  payload: { readonly key: string; readonly node: string; readonly upstream: Readonly<Record<string, string>> },
  threads: number,
): Effect.Effect<string, string, Reporter | StageEnv> =>
  Effect.gen(function* () {
    const reporter = yield* Reporter
    const remote = Option.getOrThrow(cache.remote)
    const node = graph.byId.get(payload.node)
    if (node === undefined) return yield* Effect.fail(`no node '${payload.node}' in the pipeline`)
    const warn = (m: string) => reporter.warn(node.id, m)
    const found = yield* lookupNode(cache, cache.remote, node, (id) => payload.upstream[id], { repair: true, fetch: true, warn })
    if (found._tag === "Error") return yield* Effect.fail(found.message)
    if (found._tag === "Pending") return yield* Effect.fail(`upstream ${found.waitingOn.join(", ")} has no output`)
    if (found.key !== payload.key) {
      return yield* Effect.fail(
        `this worker computes key ${found.key.slice(0, 12)} for '${node.id}', the run sent ${payload.key.slice(0, 12)}: the pipeline's input files or mea's version differ on this machine`,
      )
    }
    let output: string
    let shared = false
    if (found._tag === "Hit") {
      output = found.record.output
      // A hit already in the store is not uploaded again: a small object's upload skips the existence check, and
      // rewriting its files under a concurrent reader handed that reader half a manifest on s3rver, whose writes are
      // not atomic (seen in the client-killed cluster test). One GET of the key record decides.
      shared =
        found.source === "store" ||
        (yield* remote.getKey(payload.key).pipe(
          Effect.map((r) => Option.isSome(r) && r.value.output === output),
          Effect.orElseSucceed(() => false),
        ))
    } else {
      // Upstream artifacts are read from the local cache: bring the missing ones from the store.
      for (const hash of new Set(Object.values(payload.upstream))) {
        if (!(yield* cache.store.hasObject(hash))) yield* remote.fetchObject(cache.store, hash).pipe(Effect.mapError((e) => e.message))
      }
      const outputs = new Map(Object.entries(payload.upstream))
      output = yield* execute(cache, graph, node, found.key, found.components, outputs, warn, threads).pipe(Effect.mapError((e) => e.message))
    }
    if (!shared) yield* publishToStore(cache, remote, found.key, output).pipe(Effect.mapError((e) => `cannot share the output: ${e.message}`))
    yield* Effect.sync(() => cache.files.save())
    return output
  })

/** The entity's behaviour on a worker: at most `jobs` nodes at once, each answered with its output hash. */
const nodeHandlers = (options: WorkerOptions, graphFor: ReturnType<typeof graphCache>) =>
  MeaNode.toLayer(
    Effect.gen(function* () {
      const cache = yield* Cache
      const permits = yield* Effect.makeSemaphore(Math.max(1, options.jobs))
      const reporter = yield* Reporter
      const env = yield* Effect.context<Reporter | StageEnv>()
      return {
        Run: (request) =>
          permits
            .withPermits(1)(
              Effect.gen(function* () {
                const p = request.payload
                const graph = yield* graphFor(p.file, p.source, p.params)
                const t0 = Date.now()
                const output = yield* computeNode(cache, graph, p, options.jobs)
                yield* reporter.info(`done   ${p.node} ${p.key.slice(0, 12)} -> ${output.slice(0, 12)} (${Date.now() - t0} ms)`)
                return { output, worker: options.name }
              }),
            )
            .pipe(
              Effect.catchAllDefect((d) => Effect.fail(`crashed: ${d instanceof Error ? d.message : String(d)}`)),
              Effect.mapError((message) => new NodeRunFailed({ message })),
              Effect.provide(env),
            ),
      }
    }),
    // One message at a time per key (the entity id): a duplicate waits, then finds the output in the store.
    { concurrency: 1 },
  )

/** A long-lived worker: registers with the cluster, takes its share of shards, runs nodes and hosts runs' workflows. */
export const workerLayer = (options: WorkerOptions): Layer.Layer<never, ClusterError, Cache | Reporter | StageEnv> => {
  const graphFor = graphCache(options.registry)
  return Layer.mergeAll(nodeHandlers(options, graphFor), runWorkflowLayer(graphFor)).pipe(
    Layer.provide(ClusterWorkflowEngine.layer),
    Layer.provide(
      sqlSocketRunner(
        SocketRunner.layer.pipe(Layer.provide([NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol]), Layer.provide(connectRunnerHealth)),
        options.cluster,
        Option.some({ host: options.host, port: options.port }),
      ),
    ),
    Layer.provide(pgLayer(options.cluster)),
    Layer.mapError((e) => (e instanceof ClusterError ? e : new ClusterError({ message: `worker on ${options.host}:${options.port}: ${String((e as { message?: unknown }).message ?? e)}` }))),
  )
}

/** Retries the first connection for a while, so workers may start before the database is up. */
export const retryConnect = Schedule.intersect(Schedule.spaced("1 second"), Schedule.recurs(30))
