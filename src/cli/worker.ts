/** `mea worker`: a long-lived runner of the cluster, one per machine. */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Layer, Option } from "effect"
import * as net from "node:net"
import * as os from "node:os"
import { UsageError } from "../runtime/errors.ts"
import { reporterLayer } from "../runtime/reporter.ts"
import { StageRegistry } from "../runtime/registry.ts"
import { cacheFor, clusterOpt, resolveWhere, storeOpt } from "./distributed.ts"

const freePort = (host: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once("error", reject)
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })

export const workerCommand = Command.make(
  "worker",
  {
    cluster: clusterOpt,
    store: storeOpt,
    jobs: Options.integer("jobs").pipe(Options.withAlias("j"), Options.withDescription("Nodes to run at once on this worker (default: number of cores)"), Options.optional),
    host: Options.text("host").pipe(Options.withDescription("Address other machines reach this worker at (default: this host's name)"), Options.optional),
    port: Options.integer("port").pipe(Options.withDescription("Port to listen on for the cluster (default: a free one)"), Options.optional),
    cache: Options.directory("cache").pipe(Options.withDescription("Local cache folder of this worker (default: $MEA_CACHE or ./cache)"), Options.optional),
  },
  ({ cluster, store, jobs, host, port, cache }) =>
    Effect.gen(function* () {
      const where = resolveWhere({ store, cluster })
      if (where.cluster === undefined) return yield* Effect.fail(new UsageError({ message: "mea worker needs --cluster postgres://... (or MEA_CLUSTER)" }))
      if (where.store === undefined) return yield* Effect.fail(new UsageError({ message: "mea worker needs --store s3://... or a folder (or MEA_STORE): workers exchange artifacts through it" }))
      const j = Option.getOrElse(jobs, () => os.availableParallelism())
      if (j < 1) return yield* Effect.fail(new UsageError({ message: `--jobs must be at least 1, found ${j}` }))
      const h = Option.getOrElse(host, () => os.hostname())
      const p = Option.isSome(port) ? port.value : yield* Effect.promise(() => freePort(h))
      const name = `${h}:${p}`
      const registry = yield* StageRegistry
      const distributed = yield* Effect.promise(() => import("../distributed/cluster.ts"))
      const { redactUrl } = distributed
      const layer = distributed
        .workerLayer({ cluster: where.cluster, host: h, port: p, jobs: j, registry, name })
        .pipe(
          // The database may not be up yet, or several workers starting at once on a fresh database may race creating
          // the cluster's tables ("Failed to execute statement"): try again for a while before giving up.
          Layer.retry(distributed.retryConnect),
          Layer.provide(reporterLayer({ quiet: false })),
          Layer.provide(cacheFor(cache, where)),
        )
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.buildWithScope(layer, yield* Effect.scope)
          yield* Console.error(`worker ${name} (pid ${process.pid}) on cluster ${redactUrl(where.cluster!)}, store ${where.store}, ${j} job${j === 1 ? "" : "s"}`)
          yield* Effect.never
        }),
      )
    }),
).pipe(Command.withDescription("Run nodes for the cluster (one per machine) until stopped"))
