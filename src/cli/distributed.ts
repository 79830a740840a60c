/**
 * `--store` and `--cluster`: where a run shares artifacts and where its nodes run. Each comes from the flag, else the
 * environment (MEA_STORE, MEA_CLUSTER), else the pipeline's `cluster:` block. The S3 SDK and @effect/cluster are loaded
 * only when one is used, so a local run pays nothing for them.
 */
import { Options } from "@effect/cli"
import { Effect, Layer, Option } from "effect"
import * as path from "node:path"
import { cacheLayer, resolveCacheDir } from "../runtime/cache.ts"
import { UsageError } from "../runtime/errors.ts"
import { Executor } from "../runtime/executor.ts"
import { folderBlobs, makeRemoteStore, StoreError, type RemoteStoreService } from "../runtime/remote.ts"
import type { PipelineFile } from "../runtime/pipeline-schema.ts"

export const storeOpt = Options.text("store").pipe(
  Options.withDescription("Shared artifact store: s3://bucket/prefix or a folder (default: $MEA_STORE, or the pipeline's cluster.store)"),
  Options.optional,
)
export const clusterOpt = Options.text("cluster").pipe(
  Options.withDescription("Run nodes on the workers of this cluster: postgres://... (default: $MEA_CLUSTER, or the pipeline's cluster.cluster)"),
  Options.optional,
)

export const fetchOpt = Options.text("fetch").pipe(
  Options.withDescription("With --cluster: node outputs to bring into the local cache (ids, comma-separated, * as a wildcard, or all); others stay in the store"),
  Options.repeated,
)

/**
 * The `--fetch` patterns as a test on node ids; a pattern that matches no node of the pipeline is a usage error
 * (a typo would otherwise silently download nothing).
 */
export const fetchMatcher = (patterns: ReadonlyArray<string>, nodes: ReadonlyArray<string>, file: string): Effect.Effect<(node: string) => boolean, UsageError> =>
  Effect.gen(function* () {
    const parts = patterns.flatMap((p) => p.split(",")).map((p) => p.trim()).filter((p) => p !== "")
    if (parts.includes("all")) return () => true
    const tests = parts.map((p) => {
      const re = new RegExp(`^${p.split("*").map((x) => x.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`)
      return { p, test: (id: string) => re.test(id) }
    })
    const unknown = tests.find((t) => !nodes.some(t.test))
    if (unknown !== undefined) {
      const shown = nodes.length > 8 ? `${nodes.slice(0, 8).join(", ")}, ...` : nodes.join(", ")
      return yield* Effect.fail(new UsageError({ message: `--fetch ${unknown.p}: no node of ${file} matches (its nodes: ${shown})` }))
    }
    return (id: string) => tests.some((t) => t.test(id))
  })

export interface Where {
  readonly store: string | undefined
  readonly cluster: string | undefined
}

const nonEmpty = (s: string | undefined): string | undefined => (s === undefined || s.trim() === "" ? undefined : s)

export const resolveWhere = (
  flags: { readonly store?: Option.Option<string>; readonly cluster?: Option.Option<string> },
  spec?: PipelineFile,
): Where => ({
  store: nonEmpty(Option.getOrUndefined(flags.store ?? Option.none())) ?? nonEmpty(process.env.MEA_STORE) ?? nonEmpty(spec?.cluster?.store),
  cluster: nonEmpty(Option.getOrUndefined(flags.cluster ?? Option.none())) ?? nonEmpty(process.env.MEA_CLUSTER) ?? nonEmpty(spec?.cluster?.cluster),
})

/** Opens a shared store by URL: s3://bucket/prefix, file:///path or a folder path. */
export const openStore = (url: string): Effect.Effect<RemoteStoreService, StoreError> => {
  if (url.startsWith("s3://")) {
    return Effect.flatMap(
      Effect.promise(() => import("../distributed/s3.ts")),
      (s3) => Effect.map(s3.s3Blobs(url), makeRemoteStore),
    )
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !url.startsWith("file://")) {
    return Effect.fail(new StoreError({ message: `--store ${url.replace(/\/\/[^@/]*@/, "//***@")}: expected s3://bucket/prefix or a folder` }))
  }
  return Effect.succeed(makeRemoteStore(folderBlobs(path.resolve(url.replace(/^file:\/\//, "")))))
}

/** The cache Layer for a command, with the shared store behind it when one is named. */
export const cacheFor = (cacheFlag: Option.Option<string>, where: Where) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const dir = resolveCacheDir(Option.getOrUndefined(cacheFlag))
      if (where.store === undefined) return cacheLayer(dir)
      const remote = yield* openStore(where.store)
      return cacheLayer(dir, Option.some(remote))
    }),
  )

/** The executor Layer: local unless a cluster is named (which needs a store: workers exchange artifacts through it). */
export const executorFor = (where: Where, fetch?: (node: string) => boolean) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      if (where.cluster === undefined) return Layer.empty as Layer.Layer<never>
      if (where.store === undefined) {
        return yield* Effect.fail(new UsageError({ message: "--cluster needs a shared store (--store s3://... or MEA_STORE): workers exchange artifacts through it" }))
      }
      const cluster = yield* Effect.promise(() => import("../distributed/cluster.ts"))
      return cluster.clusterExecutorLayer(where.cluster, fetch === undefined ? {} : { fetch }) as Layer.Layer<Executor>
    }),
  )
