/** The `mea` command line. */
import { Args, Command, Options, ValidationError } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Either, Layer, Option, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import { stages } from "../stages/index.ts"
import { Cache, cacheLayer, resolveCacheDir } from "../runtime/cache.ts"
import { CacheError, NodeFailed, PipelineErrors, renderPipelineError, UsageError } from "../runtime/errors.ts"
import { runGraph, type RunResult } from "../runtime/executor.ts"
import { buildGraph } from "../runtime/graph.ts"
import { artifactJson, describeArtifact, diffArtifacts, formatBytes, gc, listArtifacts, resolveRef, verify } from "../runtime/inspect.ts"
import { loadPipeline } from "../runtime/pipeline-load.ts"
import { pipelineJsonSchema } from "../runtime/pipeline-schema.ts"
import { planGraph, type PlanEntry } from "../runtime/plan.ts"
import { formatMs, reporterLayer } from "../runtime/reporter.ts"
import { formatCell, gridPoints, jsonPath, parseGrid, pointParams, renderTable, resultCells } from "../runtime/sweep.ts"
import { StageRegistry, stageRegistryLayer } from "../runtime/registry.ts"
import { ensureWritable } from "../runtime/activity.ts"
import { findUnknownOption } from "./argv.ts"
import { installColourPolicy } from "./colour.ts"
import { cacheFor, clusterOpt, executorFor, fetchMatcher, fetchOpt, resolveWhere, storeOpt } from "./distributed.ts"
import { loadPlugins } from "./plugins.ts"
import { predictCommand } from "./predict.ts"
import { workerCommand } from "./worker.ts"
import { exportOnnx } from "../model/export.ts"
import type { Model } from "../artifacts/model.ts"
import * as path from "node:path"


// ------------------------------------------------------------------------------------------------ options

const pipelineArg = Args.file({ name: "pipeline" }).pipe(Args.withDescription("The pipeline YAML file"))
const cacheOpt = Options.directory("cache").pipe(
  Options.withDescription("Cache folder (default: $MEA_CACHE or ./cache)"),
  Options.optional,
)
const paramOpt = Options.text("param").pipe(
  Options.withAlias("p"),
  Options.withDescription("Override a param: -p key=value (repeatable)"),
  Options.repeated,
)
const jobsOpt = Options.integer("jobs").pipe(
  Options.withAlias("j"),
  Options.withDescription("Nodes to run at once (default: number of cores)"),
  Options.optional,
)
const jsonOpt = Options.boolean("json").pipe(Options.withDescription("Print one JSON document on stdout"))
const quietOpt = Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("No progress output"))

/** Nodes at once: the cores here, or for a cluster run enough to keep every worker busy (each has its own -j). */
const jobsOf = (j: Option.Option<number>, where?: { readonly cluster: string | undefined }) =>
  Option.match(j, {
    onNone: () => Effect.succeed(where?.cluster !== undefined ? 256 : os.availableParallelism()),
    onSome: (n) => (n >= 1 ? Effect.succeed(n) : Effect.fail(new UsageError({ message: `--jobs must be at least 1, found ${n}` }))),
  })

const withCache = (cache: Option.Option<string>) => Effect.provide(cacheLayer(resolveCacheDir(Option.getOrUndefined(cache))))

const loadGraph = (file: string, params: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const registry = yield* StageRegistry
    return yield* buildGraph(yield* loadPipeline(file, params), registry)
  })

// ------------------------------------------------------------------------------------------------ output

const nodeJson = (r: RunResult) => ({
  nodes: r.nodes.map((n) => ({
    id: n.id,
    stage: n.stage,
    status: n.status,
    key: n.key ?? null,
    output: n.output ?? null,
    ms: n.ms,
    ...(n.error !== undefined ? { error: n.error } : {}),
    ...(n.errorTags !== undefined ? { error_tags: n.errorTags } : {}),
    ...(n.warnings.length > 0 ? { warnings: n.warnings } : {}),
    ...(n.worker !== undefined ? { worker: n.worker } : {}),
  })),
  ms: r.ms,
})

const summaryLine = (r: RunResult): string => {
  const count = (s: string) => r.nodes.filter((n) => n.status === s).length
  const warnings = r.nodes.reduce((a, n) => a + n.warnings.length, 0)
  const parts = [`${count("ran")} ran`, `${count("cached")} cached`]
  if (count("failed") > 0) parts.push(`${count("failed")} failed`)
  if (count("skipped") > 0) parts.push(`${count("skipped")} skipped`)
  if (warnings > 0) parts.push(`${warnings} warning${warnings === 1 ? "" : "s"}`)
  return `${parts.join(", ")} in ${formatMs(r.ms)}`
}

const failIfFailed = (r: RunResult) =>
  r.failed.length > 0 ? Effect.fail(r.failed[0]) : Effect.void

const planLine = (e: PlanEntry): string => {
  const head =
    e._tag === "Cached" ? "cached " : e._tag === "WillRun" ? "run    " : e._tag === "Pending" ? "run?   " : "error  "
  const why = e.reasons.length > 0 ? `: ${e.reasons.join("; ")}` : ""
  const after = e._tag === "Pending" ? (e.waitingOn.length > 3 ? `${e.waitingOn.slice(0, 3).join(", ")} and ${e.waitingOn.length - 3} more` : e.waitingOn.join(", ")) : ""
  const wait = e._tag === "Pending" ? ` (after ${after}; may stay cached if their outputs do not change)` : ""
  return `${head}${e.id}${wait}${why}`
}

// ------------------------------------------------------------------------------------------------ commands

const run = Command.make(
  "run",
  { pipeline: pipelineArg, params: paramOpt, jobs: jobsOpt, dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Print what would run and why")), json: jsonOpt, quiet: quietOpt, cache: cacheOpt, store: storeOpt, cluster: clusterOpt, fetch: fetchOpt },
  ({ pipeline, params, jobs, dryRun, json, quiet, cache, store, cluster, fetch }) =>
    Effect.gen(function* () {
      const graph = yield* loadGraph(pipeline, params)
      const where = resolveWhere({ store, cluster }, graph.pipeline.spec)
      const wanted = yield* fetchMatcher(fetch, graph.nodes.map((n) => n.id), pipeline)
      yield* Effect.gen(function* () {
      if (dryRun) {
        const plan = yield* planGraph(graph)
        if (json) yield* Console.log(JSON.stringify({ nodes: plan.map((e) => ({ id: e.id, stage: e.stage, status: e._tag === "Cached" ? "cached" : "run", reasons: e.reasons })) }))
        else for (const e of plan) if (e._tag !== "Cached") yield* Console.log(planLine(e))
        if (!json) yield* Console.log(`${plan.filter((e) => e._tag !== "Cached").length} of ${plan.length} nodes would run`)
        return
      }
      const n = yield* jobsOf(jobs, where)
      yield* ensureWritable(resolveCacheDir(Option.getOrUndefined(cache)))
      const result = yield* runGraph(graph, { jobs: n }).pipe(Effect.provide(reporterLayer({ quiet })))
      if (json) yield* Console.log(JSON.stringify(nodeJson(result)))
      else if (!quiet) yield* Console.error(summaryLine(result))
      yield* failIfFailed(result)
      }).pipe(Effect.provide(dryRun ? Layer.empty : executorFor(where, wanted)), Effect.provide(cacheFor(cache, where)))
    }),
).pipe(Command.withDescription("Run a pipeline; only nodes whose code, params or inputs changed run again"))

const sweep = Command.make(
  "sweep",
  {
    pipeline: pipelineArg,
    grid: Args.text({ name: "key=v1,v2" }).pipe(Args.repeated),
    params: paramOpt,
    jobs: jobsOpt,
    json: jsonOpt,
    quiet: quietOpt,
    cache: cacheOpt,
    store: storeOpt,
    cluster: clusterOpt,
    fetch: fetchOpt,
  },
  ({ pipeline, grid, params, jobs, json, quiet, cache, store, cluster, fetch }) =>
    Effect.gen(function* () {
      const axes = yield* Either.match(parseGrid(pipeline, grid), { onLeft: Effect.fail, onRight: Effect.succeed })
      const points = gridPoints(axes)
      // Validate every point before running any.
      const graphs = yield* Effect.forEach(points, (p) => loadGraph(pipeline, [...params, ...p]))
      const where = resolveWhere({ store, cluster }, graphs[0]?.pipeline.spec)
      const asked = yield* fetchMatcher(fetch, graphs[0]?.nodes.map((g) => g.id) ?? [], pipeline)
      // The table's metrics are read from the local cache: their nodes' outputs must come here.
      const cells = new Set(graphs.flatMap((g) => resultCells(g, g.pipeline.spec.results ?? []).map((c) => c.node)))
      const wanted = (id: string) => cells.has(id) || asked(id)
      const n = yield* jobsOf(jobs, where)
      yield* ensureWritable(resolveCacheDir(Option.getOrUndefined(cache)))
      yield* Effect.gen(function* () {
      const c = yield* Cache
      const outputs: Array<{ params: Record<string, unknown>; result: RunResult; metrics: Record<string, unknown> }> = []
      for (let i = 0; i < points.length; i++) {
        if (!quiet && !json) yield* Console.error(`point ${i + 1}/${points.length}: ${points[i].join(" ")}`)
        const result = yield* runGraph(graphs[i], { jobs: n }).pipe(Effect.provide(reporterLayer({ quiet: quiet || json })))
        const metrics: Record<string, unknown> = {}
        for (const cell of resultCells(graphs[i], graphs[i].pipeline.spec.results ?? [])) {
          const out = result.nodes.find((r) => r.id === cell.node)?.output
          if (out === undefined) continue
          const info = (yield* listArtifacts(c)).find((a) => a.hash === out)
          if (info === undefined) continue
          metrics[cell.column] = jsonPath(yield* artifactJson(c, yield* StageRegistry, info), cell.path)
        }
        outputs.push({ params: pointParams(points[i]), result, metrics })
        if (!quiet && !json) yield* Console.error(summaryLine(result))
      }
      if (json) {
        yield* Console.log(JSON.stringify({ points: outputs.map((o) => ({ params: o.params, ...nodeJson(o.result), metrics: o.metrics })) }))
      } else {
        const columns = [...new Set(outputs.flatMap((o) => Object.keys(o.metrics)))]
        const header = [...axes.map((a) => a.key), "ran", "cached", ...columns]
        const rows = outputs.map((o) => [
          ...axes.map((a) => formatCell(o.params[a.key])),
          String(o.result.nodes.filter((r) => r.status === "ran").length),
          String(o.result.nodes.filter((r) => r.status === "cached").length),
          ...columns.map((col) => formatCell(o.metrics[col])),
        ])
        yield* Console.log(renderTable(header, rows))
      }
      const failed = outputs.find((o) => o.result.failed.length > 0)
      if (failed !== undefined) yield* failIfFailed(failed.result)
      }).pipe(Effect.provide(executorFor(where, wanted)), Effect.provide(cacheFor(cache, where)))
    }),
).pipe(Command.withDescription("Run a parameter grid (key=v1,v2 ...), reusing every shared upstream result"))

const status = Command.make(
  "status",
  { pipeline: pipelineArg, params: paramOpt, json: jsonOpt, cache: cacheOpt, store: storeOpt },
  ({ pipeline, params, json, cache, store }) =>
    Effect.gen(function* () {
      const graph = yield* loadGraph(pipeline, params)
      const plan = yield* planGraph(graph).pipe(Effect.provide(cacheFor(cache, resolveWhere({ store }, graph.pipeline.spec))))
      if (json) {
        yield* Console.log(JSON.stringify({ nodes: plan.map((e) => ({ id: e.id, stage: e.stage, status: e._tag === "Cached" ? "cached" : "stale", reasons: e.reasons, ...(e._tag === "Cached" ? { output: e.output } : {}) })) }))
        return
      }
      for (const e of plan) yield* Console.log(e._tag === "Cached" ? `cached  ${e.id}  ${e.output.slice(0, 12)}` : planLine(e).replace(/^run\?? *|^error */, "stale   "))
    }),
).pipe(Command.withDescription("For each node: cached, or what changed since its cached run"))

const explain = Command.make(
  "explain",
  { pipeline: pipelineArg, node: Args.text({ name: "node" }), params: paramOpt, cache: cacheOpt },
  ({ pipeline, node, params, cache }) =>
    Effect.gen(function* () {
      const graph = yield* loadGraph(pipeline, params)
      if (!graph.byId.has(node)) {
        return yield* Effect.fail(new UsageError({ message: `no node '${node}' in ${pipeline} (nodes: ${graph.nodes.map((n) => n.id).join(", ")})` }))
      }
      const entry = (yield* planGraph(graph)).find((e) => e.id === node)!
      if (entry._tag === "Cached") {
        yield* Console.log(`${node} is cached (${entry.output.slice(0, 12)})${entry.reasons.length > 0 ? `:\n  ${entry.reasons.join("\n  ")}` : ""}`)
      } else {
        const verb = entry._tag === "Error" ? "cannot run" : entry._tag === "Pending" ? "will run unless its upstream outputs come out unchanged" : "will run"
        yield* Console.log(`${node} ${verb}:\n  ${entry.reasons.join("\n  ")}`)
      }
    }).pipe(withCache(cache)),
).pipe(Command.withDescription("Why a node would rerun: exactly which param, input file, upstream output or stage version changed"))

const ls = Command.make("ls", { json: jsonOpt, cache: cacheOpt }, ({ json, cache }) =>
  Effect.gen(function* () {
    const c = yield* Cache
    const all = yield* listArtifacts(c)
    if (json) {
      yield* Console.log(JSON.stringify(all.map((a) => ({ hash: a.hash, node: a.record?.node ?? null, stage: a.record?.stage ?? null, key: a.record?.key ?? null, bytes: a.bytes, at: a.record?.at ?? null }))))
      return
    }
    const rows = all.map((a) => [a.hash.slice(0, 12), a.record?.stage ?? "?", a.record?.node ?? "?", formatBytes(a.bytes), a.record?.at.slice(0, 19).replace("T", " ") ?? ""])
    yield* Console.log(renderTable(["hash", "stage", "node", "size", "made"], rows))
    yield* Console.log(`${all.length} artifacts, ${formatBytes(all.reduce((s, a) => s + a.bytes, 0))}`)
  }).pipe(withCache(cache)),
).pipe(Command.withDescription("List the artifacts in the cache"))

const refArg = (name: string) => Args.text({ name }).pipe(Args.withDescription("A node id or a hash prefix"))
const pipelineOpt = Options.file("pipeline").pipe(Options.withDescription("Resolve node ids in this pipeline only"), Options.optional)

const show = Command.make("show", { ref: refArg("ref"), json: jsonOpt, pipeline: pipelineOpt, cache: cacheOpt }, ({ ref, json, pipeline, cache }) =>
  Effect.gen(function* () {
    const c = yield* Cache
    const registry = yield* StageRegistry
    const info = yield* resolveRef(c, ref, Option.getOrUndefined(pipeline))
    if (json) yield* Console.log(JSON.stringify(yield* artifactJson(c, registry, info), null, 1))
    else yield* Console.log(yield* describeArtifact(c, registry, info))
  }).pipe(withCache(cache)),
).pipe(Command.withDescription("Show an artifact: a summary, or its JSON form with --json"))

const diff = Command.make("diff", { a: refArg("a"), b: refArg("b"), pipeline: pipelineOpt, cache: cacheOpt }, ({ a, b, pipeline, cache }) =>
  Effect.gen(function* () {
    const c = yield* Cache
    const p = Option.getOrUndefined(pipeline)
    const lines = yield* diffArtifacts(c, yield* StageRegistry, yield* resolveRef(c, a, p), yield* resolveRef(c, b, p))
    yield* Console.log(lines.length === 0 ? "no differences" : lines.join("\n"))
  }).pipe(withCache(cache)),
).pipe(Command.withDescription("Differences between two artifacts: how they were made and what they contain"))

const gcCmd = Command.make("gc", { dryRun: Options.boolean("dry-run"), cache: cacheOpt }, ({ dryRun, cache }) =>
  Effect.gen(function* () {
    const r = yield* gc(dryRun, (m) => Console.error(m))
    const verb = dryRun ? "would remove" : "removed"
    yield* Console.log(`${verb} ${r.removed.length} artifacts (${formatBytes(r.freedBytes)}), ${r.runsRemoved} old run records, ${r.tmpRemoved} abandoned staging folders; kept ${r.kept}`)
  }).pipe(withCache(cache)),
).pipe(Command.withDescription("Drop artifacts that no recent run (latest per pipeline and params) reaches"))

const verifyCmd = Command.make("verify", { cache: cacheOpt }, ({ cache }) =>
  Effect.gen(function* () {
    const r = yield* verify
    for (const c of r.corrupt) yield* Console.log(`corrupt ${c.hash.slice(0, 12)}: ${c.problem} (quarantined; the next run rebuilds it)`)
    yield* Console.log(`${r.checked} artifacts verified, ${r.corrupt.length} corrupt${r.danglingKeys > 0 ? `, ${r.danglingKeys} dangling key records removed` : ""}`)
    if (r.corrupt.length > 0) return yield* Effect.fail(new CacheError({ message: `${r.corrupt.length} corrupt artifact(s) found` }))
  }).pipe(withCache(cache)),
).pipe(Command.withDescription("Re-hash every byte of every artifact in the cache"))

const schema = Command.make("schema", { out: Options.file("out").pipe(Options.optional) }, ({ out }) =>
  Effect.gen(function* () {
    const text = JSON.stringify(pipelineJsonSchema([...(yield* StageRegistry).values()]), null, 2)
    yield* Option.match(out, { onNone: () => Console.log(text), onSome: (f) => Effect.sync(() => fs.writeFileSync(f, `${text}\n`)) })
  }),
).pipe(Command.withDescription("Print the JSON Schema of pipeline.yaml (for editor completion)"))

const stagesCmd = Command.make("stages", {}, () =>
  Effect.flatMap(StageRegistry, (registry) =>
    Console.log(renderTable(["stage", "version", "output", "description"], [...registry.values()].map((s) => [s.name, String(s.version), s.output.name, s.description]))),
  ),
).pipe(Command.withDescription("List the registered stages"))

const exportCmd = Command.make(
  "export",
  { ref: refArg("model"), out: Args.text({ name: "out.onnx" }), pipeline: pipelineOpt, cache: cacheOpt },
  ({ ref, out, pipeline, cache }) =>
    Effect.gen(function* () {
      const c = yield* Cache
      const info = yield* resolveRef(c, ref, Option.getOrUndefined(pipeline))
      const stage = info.record === undefined ? undefined : (yield* StageRegistry).get(info.record.stage)
      if (stage === undefined || stage.output.name !== "model") {
        return yield* Effect.fail(new UsageError({ message: `'${ref}' is an output of stage '${info.record?.stage ?? "unknown"}', not a trained model (stage 'train')` }))
      }
      const dir = c.store.objectDir(info.hash)
      const raw = yield* Effect.try({ try: () => JSON.parse(fs.readFileSync(path.join(dir, "value.json"), "utf8")) as unknown, catch: (e) => new CacheError({ message: String(e) }) })
      const value = (yield* Schema.decodeUnknown(stage.output.schema)(raw).pipe(Effect.mapError((e) => new CacheError({ message: e.message })))) as Model
      yield* exportOnnx({ value, hash: info.hash, dir, node: info.record?.node ?? ref, file: (n) => path.join(dir, n) }, out).pipe(
        Effect.mapError((e) => new CacheError({ message: e.message })),
      )
      yield* Console.log(`wrote ${out}: input 'x' (batch, ${value.config.in_dim}), output 'embedding' (batch, ${value.config.out_dim})`)
    }).pipe(withCache(cache)),
).pipe(Command.withDescription("Export a trained model to an ONNX inference graph"))

const mea = Command.make("mea").pipe(
  Command.withDescription("mea: cross-dataset music emotion pipelines with a content-hash cache"),
  Command.withSubcommands([run, sweep, status, explain, ls, show, diff, gcCmd, verifyCmd, schema, stagesCmd, exportCmd, predictCommand, workerCommand]),
)

const cli = Command.run(mea, { name: "mea", version: "0.1.0" })

// ------------------------------------------------------------------------------------------------ errors

const render = (e: unknown): string => {
  if (e instanceof PipelineErrors) return e.errors.map((x) => `error: ${renderPipelineError(x)}`).join("\n")
  if (e instanceof NodeFailed) return `error: node '${e.node}' (stage '${e.stage}') failed: ${e.message}`
  if (e instanceof UsageError || e instanceof CacheError) return `error: ${e.message}`
  return `error: ${e instanceof Error ? e.message : String(e)}`
}

installColourPolicy()

/** An unknown option is named before @effect/cli would blame the positional argument after it. */
const checkOptions = Effect.suspend(() => {
  const unknown = findUnknownOption(mea, process.argv.slice(2))
  return unknown === undefined
    ? Effect.void
    : Effect.fail(new UsageError({ message: `unknown option '${unknown.option}' for 'mea ${unknown.command}' (its options: ${unknown.known.join(", ")})` }))
})

const main = Effect.zipRight(checkOptions, cli(process.argv)).pipe(
  Effect.provide(Layer.mergeAll(NodeContext.layer, stageRegistryLayer(stages, loadPlugins(process.env.MEA_PLUGINS)))),
  Effect.catchAllCause((cause) =>
    Effect.sync(() => {
      if (Cause.isInterruptedOnly(cause)) {
        process.stderr.write("interrupted; finished nodes are cached\n")
        process.exitCode = 130
        return
      }
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) {
        // @effect/cli has already printed what was wrong with the arguments.
        process.exitCode = 2
        return
      }
      const error = Option.isSome(failure) ? failure.value : Cause.squash(cause)
      process.stderr.write(`${render(error)}\n`)
      if (process.env.MEA_DEBUG === "1") process.stderr.write(`${Cause.pretty(cause)}\n`)
      process.exitCode = Option.isSome(failure) && (failure.value instanceof PipelineErrors || failure.value instanceof UsageError) ? 2 : 1
    }),
  ),
)

NodeRuntime.runMain(main, { disableErrorReporting: true, disablePrettyLogger: true })
