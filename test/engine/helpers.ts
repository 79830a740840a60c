/** Helpers for engine tests: temp projects, the CLI as a child process, and in-process runs with test stages. */
import { NodeContext } from "@effect/platform-node"
import { Effect, Either, Layer } from "effect"
import * as esbuild from "esbuild"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { cacheLayer } from "../../src/runtime/cache.ts"
import type { PipelineErrors } from "../../src/runtime/errors.ts"
import { runGraph, type RunResult } from "../../src/runtime/executor.ts"
import { buildGraph, type Graph } from "../../src/runtime/graph.ts"
import { parsePipeline } from "../../src/runtime/pipeline-load.ts"
import { Reporter, silentReporter } from "../../src/runtime/reporter.ts"
import type { Stage } from "../../src/runtime/stage.ts"
import { sha256 } from "../../src/runtime/hash.ts"
import { stages as testStages } from "./test-stages.ts"

export const repoRoot = path.resolve(import.meta.dirname, "../..")
const bin = path.join(repoRoot, "bin", "mea.mjs")

export const registryOf = (stages: ReadonlyArray<Stage>): ReadonlyMap<string, Stage> => new Map(stages.map((s) => [s.name, s]))
export const testRegistry = registryOf(testStages)

export const project = (files: Record<string, string>): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mea-engine-"))
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), text)
  }
  return dir
}

/** Loads and builds a graph from YAML text in `dir`. */
export const graphOf = (
  dir: string,
  yaml: string,
  options: { readonly params?: ReadonlyArray<string>; readonly registry?: ReadonlyMap<string, Stage>; readonly file?: string } = {},
): Effect.Effect<Graph, PipelineErrors> => {
  const file = path.join(dir, options.file ?? "pipeline.yaml")
  fs.writeFileSync(file, yaml)
  return Either.match(parsePipeline(file, yaml, options.params ?? []), {
    onLeft: Effect.fail,
    onRight: (p) => buildGraph(p, options.registry ?? testRegistry),
  })
}

/** Runs a pipeline in-process with the test stages; returns node id -> status. */
export const runIn = async (
  dir: string,
  yaml: string,
  options: { readonly params?: ReadonlyArray<string>; readonly registry?: ReadonlyMap<string, Stage>; readonly jobs?: number } = {},
): Promise<RunResult & { readonly status: Record<string, string> }> => {
  const result = await Effect.runPromise(
    graphOf(dir, yaml, options).pipe(
      Effect.flatMap((g) => runGraph(g, { jobs: options.jobs ?? 2 })),
      Effect.provide(Layer.mergeAll(cacheLayer(path.join(dir, "cache")), Layer.succeed(Reporter, silentReporter), NodeContext.layer)),
    ),
  )
  return { ...result, status: Object.fromEntries(result.nodes.map((n) => [n.id, n.status])) }
}

export const ran = (r: { readonly status: Record<string, string> }): Array<string> =>
  Object.entries(r.status)
    .filter(([, s]) => s === "ran")
    .map(([id]) => id)
    .sort()

/**
 * The test stages bundled once into an .mjs plugin, so CLI children load them in milliseconds. The bundle holds its own
 * copy of the runtime modules it imports (the block readers among them), so it is rebuilt when any of them changes,
 * and it lives under node_modules/ so that its copy resolves mea's packages (the block hash's native module).
 */
export const testPlugin = (): string => {
  const src = path.join(repoRoot, "test", "engine", "test-stages.ts")
  const runtime = path.join(repoRoot, "src", "runtime")
  const sources = [src, ...fs.readdirSync(runtime).sort().map((f) => path.join(runtime, f))]
  const stamp = sha256(sources.map((f) => fs.readFileSync(f, "utf8")).join("\0")).slice(0, 16)
  const dir = path.join(repoRoot, "node_modules", ".cache", "mea-test-stages")
  fs.mkdirSync(dir, { recursive: true })
  const out = path.join(dir, `test-stages-${stamp}.mjs`)
  if (!fs.existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp`
    esbuild.buildSync({ entryPoints: [src], outfile: tmp, bundle: true, platform: "node", format: "esm", logLevel: "error" })
    fs.renameSync(tmp, out)
  }
  return out
}

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const cliEnv = (env: Record<string, string>) => ({ ...process.env, MEA_PLUGINS: testPlugin(), CI: "1", ...env })

export const cli = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}): CliResult => {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, env: cliEnv(env), encoding: "utf8", timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** `via`: bash commands run first in the child's shell (e.g. `ulimit -f 2048`), which then execs mea. */
export const cliAsync = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}, via?: string) => {
  const child =
    via === undefined
      ? spawn(process.execPath, [bin, ...args], { cwd, env: cliEnv(env) })
      : spawn("bash", ["-c", `${via}\nexec "$0" "$@"`, process.execPath, bin, ...args], { cwd, env: cliEnv(env) })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (d) => (stdout += String(d)))
  child.stderr.on("data", (d) => (stderr += String(d)))
  const done = new Promise<CliResult>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })))
  return { child, done, output: () => ({ stdout, stderr }) }
}
