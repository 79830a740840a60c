/**
 * A cluster run as one durable workflow (@effect/workflow, executed by @effect/cluster's ClusterWorkflowEngine and
 * journaled in PostgreSQL), with one activity per node named by the node's cache key.
 *
 * In @effect/cluster 0.60 an activity executes on the runner that hosts its workflow, so the activity does not
 * compute the node: it sends the node to the `MeaNode` entity, whose id is the cache key and which shards over all
 * workers, and journals the small reply (output hash, worker). The workflow walks the run's nodes in dependency
 * order and forks every node whose inputs are ready, so independent nodes still run in parallel on many workers.
 *
 * What this buys: the run belongs to the cluster, not to the `mea run` process. If that process dies, the workflow
 * carries on; a restarted `mea run` of the same pipeline finds the unfinished workflow and joins it. If the worker
 * hosting the workflow dies, another one resumes it: finished activities replay from the journal, the others send
 * their node again, and a duplicated send is the same persisted message (same primary key) or finds the key in the
 * store, so nothing is computed twice.
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import type * as Sharding from "@effect/cluster/Sharding"
import * as Rpc from "@effect/rpc/Rpc"
import * as Activity from "@effect/workflow/Activity"
import * as Workflow from "@effect/workflow/Workflow"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import { Cause, Deferred, Effect, Either, Exit, Layer, Option, Schedule, Schema } from "effect"
import { Cache } from "../runtime/cache.ts"
import { Reporter } from "../runtime/reporter.ts"
import type { Graph } from "../runtime/graph.ts"
import { nodeComponents } from "../runtime/keys.ts"

// ------------------------------------------------------------------------------------------------ one node

export class NodeRunFailed extends Schema.TaggedError<NodeRunFailed>()("NodeRunFailed", { message: Schema.String }) {}

/** What a node's activity journals: never an artifact, only where it is. */
export const NodeReply = Schema.Struct({ output: Schema.String, worker: Schema.String })

export const RunNodeTag = "Run"

export const RunNode = Rpc.make(RunNodeTag, {
  payload: {
    /** The workflow execution this node belongs to: a later run (a new execution) retries a node that failed. */
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
  success: NodeReply,
  error: NodeRunFailed,
  // The workflow's activity and the `mea run` client send the same node under this key: one message, one computation.
  primaryKey: ({ key, run }) => `${key}/${run}`,
})
  .annotate(ClusterSchema.Persisted, true)
  // A worker shutting down cleanly hands the node on instead of cancelling it.
  .annotate(ClusterSchema.Uninterruptible, "client")

export const MeaNode = Entity.make("MeaNode", [RunNode])

// ------------------------------------------------------------------------------------------------ the run

export const NodeOutcome = Schema.Struct({
  node: Schema.String,
  key: Schema.optional(Schema.String),
  output: Schema.optional(Schema.String),
  worker: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String),
})
export type NodeOutcome = typeof NodeOutcome.Type

export const RunPayload = {
  file: Schema.String,
  source: Schema.String,
  params: Schema.Array(Schema.String),
  /** The nodes this run covers, dependencies first (a targeted run covers its targets and what they need). */
  nodes: Schema.Array(Schema.String),
  /**
   * Counts finished executions of the same run: the execution id is a hash of the payload, so a rerun after a
   * finished execution (some node failed, or an artifact went missing) is a new execution, while a client restarted
   * during one joins it (see `startRun` in cluster.ts).
   */
  attempt: Schema.Number,
}

export const MeaRun = Workflow.make({
  name: "MeaRun",
  payload: RunPayload,
  success: Schema.Array(NodeOutcome),
  idempotencyKey: (p) => JSON.stringify([p.file, p.source, p.params, p.nodes, p.attempt]),
})

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.squash(cause)
  return e instanceof Error ? e.message : typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)
}

/** Cluster hiccups (database briefly away, mailbox full) are retried: the node's own failure is the only answer kept. */
const transientRetry = Schedule.exponential("200 millis", 1.5).pipe(Schedule.union(Schedule.spaced("5 seconds")))

/**
 * The workflow's body, registered on every worker. `graphFor` builds the run's graph from its file, text and params
 * (the worker's registry of stages), or says why it cannot.
 */
export const runWorkflowLayer = (
  graphFor: (file: string, source: string, params: ReadonlyArray<string>) => Effect.Effect<Graph, string>,
): Layer.Layer<never, never, WorkflowEngine | Sharding.Sharding | Cache | Reporter> =>
  MeaRun.toLayer((payload, executionId) =>
    Effect.gen(function* () {
      const cache = yield* Cache
      const reporter = yield* Reporter
      const makeClient = yield* MeaNode.client
      // Printed at every (re)start of the body: after a failover, the worker that resumed the run says so.
      yield* reporter.info(`workflow ${executionId} (${payload.nodes.length} nodes, attempt ${payload.attempt})`)
      const loaded = yield* Effect.either(graphFor(payload.file, payload.source, payload.params))
      if (Either.isLeft(loaded)) return payload.nodes.map((node): NodeOutcome => ({ node, error: loaded.left }))
      const graph = loaded.right
      const done = new Map<string, Deferred.Deferred<NodeOutcome>>()
      for (const id of payload.nodes) done.set(id, yield* Deferred.make<NodeOutcome>())
      const outputs = new Map<string, string>()

      const one = (id: string) =>
        Effect.gen(function* () {
          const node = graph.byId.get(id)
          if (node === undefined) return { node: id, error: `no node '${id}' in the pipeline` } as NodeOutcome
          const upstream = yield* Effect.forEach(node.deps, (d) => {
            const dep = done.get(d)
            return dep === undefined ? Effect.succeed<NodeOutcome>({ node: d, error: "not part of this run" }) : Deferred.await(dep)
          })
          if (upstream.some((u) => u.output === undefined)) return { node: id, error: "an upstream node failed" }
          const known = yield* Effect.either(nodeComponents(node, (d) => outputs.get(d), cache.files, cache.store))
          if (Either.isLeft(known)) return { node: id, error: known.left.message }
          if (known.right._tag === "Pending") return { node: id, error: `internal: upstream ${known.right.waitingOn.join(", ")} has no output` }
          const key = known.right.key
          const activity = Activity.make({
            name: key,
            success: NodeReply,
            error: NodeRunFailed,
            execute: makeClient(key)
              .Run({
                run: executionId,
                key,
                node: id,
                file: payload.file,
                source: payload.source,
                params: payload.params,
                upstream: Object.fromEntries(node.deps.map((d) => [d, outputs.get(d)!])),
              })
              .pipe(
                Effect.retry({ while: (e) => e._tag !== "NodeRunFailed", schedule: transientRetry }),
                Effect.catchAll((e) => (e._tag === "NodeRunFailed" ? Effect.fail(e) : Effect.die(e))),
              ),
          })
          const exit = yield* Effect.exit(activity)
          if (Exit.isSuccess(exit)) return { node: id, key, output: exit.value.output, worker: exit.value.worker }
          // Interruption is the engine suspending or moving the workflow: let it, the journal keeps what is done.
          if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
          const failure = Cause.failureOption(exit.cause)
          return { node: id, key, error: Option.isSome(failure) ? failure.value.message : `cluster: ${describeCause(exit.cause)}` }
        }).pipe(
          Effect.tap((o) =>
            Effect.zipRight(
              Effect.sync(() => (o.output === undefined ? undefined : void outputs.set(id, o.output))),
              Deferred.succeed(done.get(id)!, o),
            ),
          ),
        )

      const outcomes = yield* Effect.forEach(payload.nodes, one, { concurrency: "unbounded" })
      const failed = outcomes.filter((o) => o.output === undefined).length
      yield* reporter.info(`workflow ${executionId} finished${failed > 0 ? `, ${failed} node${failed === 1 ? "" : "s"} not done` : ""}`)
      return outcomes
    }),
  )
