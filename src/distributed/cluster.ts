/**
 * Running nodes on many machines with @effect/cluster, its state in PostgreSQL (@effect/sql-pg).
 *
 * Each node to compute is one message to the entity `MeaNode` whose id is the node's cache key, so the cluster spreads
 * keys over its workers by shard and one key is never computed twice at once. Messages are persisted: when a worker
 * dies mid-node (kill -9, lost machine), its shards move to the live workers, which find the unanswered message in
 * PostgreSQL and run it again. A worker that finds the key already in the shared store answers at once, so a retried
 * or duplicated message does nothing. Replies are small (the output hash and who ran it); artifacts travel through the
 * shared store, never through the cluster.
 *
 * Loaded only for `--cluster` and `mea worker` (dynamic import), so local runs never load it.
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as Rpc from "@effect/rpc/Rpc"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Cause, Data, Deferred, Duration, Effect, Either, Layer, Option, Redacted, Schedule, Schema } from "effect"
import * as os from "node:os"
import { Cache, type CacheService } from "../runtime/cache.ts"
import { NodeFailed } from "../runtime/errors.ts"
import { execute, Executor, publishToStore, type ExecutorService, type NodeJob } from "../runtime/executor.ts"
import { buildGraph, type Graph, type GraphNode } from "../runtime/graph.ts"
import { lookupNode } from "../runtime/lookup.ts"
import { parsePipeline } from "../runtime/pipeline-load.ts"
import { Reporter } from "../runtime/reporter.ts"
import type { Stage, StageEnv } from "../runtime/stage.ts"

/** A cluster problem for the user: which database, what went wrong, that finished nodes are kept. */
export class ClusterError extends Data.TaggedError("ClusterError")<{ readonly message: string }> {}

/** The Postgres URL as it may be printed: the password, if any, is masked. */
export const redactUrl = (url: string): string => url.replace(/^([a-z]+:\/\/[^:/@]+):[^@/]*@/i, "$1:***@")

// ------------------------------------------------------------------------------------------------ the protocol

export class NodeRunFailed extends Schema.TaggedError<NodeRunFailed>()("NodeRunFailed", { message: Schema.String }) {}

const RunNode = Rpc.make("Run", {
  payload: {
    /** Identifies one `mea run`, so a later run retries a node whose earlier attempt failed. */
    run: Schema.String,
    key: Schema.String,
    node: Schema.String,
    /** The pipeline file's absolute path (relative inputs resolve from its folder) and its text. */
    file: Schema.String,
    source: Schema.String,
    /** The run's params as `key=<json>` overrides. */
    params: Schema.Array(Schema.String),
    /** Output hashes of the node's upstream nodes. */
    upstream: Schema.Record({ key: Schema.String, value: Schema.String }),
  },
  success: Schema.Struct({ output: Schema.String, worker: Schema.String }),
  error: NodeRunFailed,
  primaryKey: ({ key, run }) => `${key}/${run}`,
})
  .annotate(ClusterSchema.Persisted, true)
  // A worker shutting down cleanly hands the node on instead of cancelling it.
  .annotate(ClusterSchema.Uninterruptible, "client")

export const MeaNode = Entity.make("MeaNode", [RunNode])

// ------------------------------------------------------------------------------------------------ layers

/** Sharding tuned for batch jobs: fast failover (advisory locks drop with a dead worker's connection) and fast replies. */
const shardingConfig = (runner: Option.Option<{ host: string; port: number }>): Partial<ShardingConfig.ShardingConfig["Type"]> => ({
  runnerAddress: Option.map(runner, (r) => RunnerAddress.make(r.host, r.port)),
  shardsPerGroup: 60,
  entityReplyPollInterval: Duration.millis(20),
  entityMessagePollInterval: Duration.millis(500),
  refreshAssignmentsInterval: Duration.millis(1000),
  runnerHealthCheckInterval: Duration.seconds(2),
  entityMaxIdleTime: Duration.seconds(30),
  // How long a stopping worker (SIGTERM, or shards moving to a new worker) lets a running node finish before it hands
  // the node back (its message is persisted, so another worker reruns it): a node about to finish is not redone, and
  // `mea worker` still stops within about a second.
  entityTerminationTimeout: Duration.seconds(1),
})

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
      const sql = yield* SqlClient.SqlClient
      const runId = `${os.hostname()}-${process.pid}-${Date.now()}`
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

      // Downstream nodes run on workers, which read their inputs from the store: only what is read here comes here.
      const wantsLocal = (node: GraphNode) => node.stage.publish !== undefined || (options.fetch?.(node.id) ?? false)
      const service: ExecutorService = {
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
            const params = Object.entries(job.graph.pipeline.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            const reply = yield* makeClient(job.key)
              .Run({ run: runId, key: job.key, node: job.node.id, file: job.graph.pipeline.file, source: job.graph.pipeline.source, params, upstream })
              .pipe(
                Effect.mapError((e) => failed(e._tag === "NodeRunFailed" ? e.message : `cluster: ${describeCause(Cause.fail(e))}`)),
                Effect.raceFirst(Effect.mapError(Deferred.await(lost), (m) => failed(`${m}; finished nodes are cached, rerun to resume`))),
              )
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
    Layer.provide(NodeClusterSocket.layer({ clientOnly: true, storage: "sql", shardingConfig: shardingConfig(Option.none()) })),
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
    if (found._tag === "Hit") output = found.record.output
    else {
      // Upstream artifacts are read from the local cache: bring the missing ones from the store.
      for (const hash of new Set(Object.values(payload.upstream))) {
        if (!(yield* cache.store.hasObject(hash))) yield* remote.fetchObject(cache.store, hash).pipe(Effect.mapError((e) => e.message))
      }
      const outputs = new Map(Object.entries(payload.upstream))
      output = yield* execute(cache, graph, node, found.key, found.components, outputs, warn, threads).pipe(Effect.mapError((e) => e.message))
    }
    yield* publishToStore(cache, remote, found.key, output).pipe(Effect.mapError((e) => `cannot share the output: ${e.message}`))
    yield* Effect.sync(() => cache.files.save())
    return output
  })

/** The entity's behaviour on a worker: at most `jobs` nodes at once, each answered with its output hash. */
const nodeHandlers = (options: WorkerOptions) =>
  MeaNode.toLayer(
    Effect.gen(function* () {
      const cache = yield* Cache
      const permits = yield* Effect.makeSemaphore(Math.max(1, options.jobs))
      const graphFor = graphCache(options.registry)
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

/** A long-lived worker: registers with the cluster, takes its share of shards, runs nodes until interrupted. */
export const workerLayer = (options: WorkerOptions): Layer.Layer<never, ClusterError, Cache | Reporter | StageEnv> =>
  nodeHandlers(options).pipe(
    Layer.provide(
      NodeClusterSocket.layer({
        storage: "sql",
        shardingConfig: shardingConfig(Option.some({ host: options.host, port: options.port })),
      }),
    ),
    Layer.provide(pgLayer(options.cluster)),
    Layer.mapError((e) => (e instanceof ClusterError ? e : new ClusterError({ message: `worker on ${options.host}:${options.port}: ${String((e as { message?: unknown }).message ?? e)}` }))),
  )

/** Retries the first connection for a while, so workers may start before the database is up. */
export const retryConnect = Schedule.intersect(Schedule.spaced("1 second"), Schedule.recurs(30))
