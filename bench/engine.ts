/**
 * Engine overhead. Prints, side by side:
 *  - a no-op rerun of a pipeline whose input is a synthetic corpus of 20,000 files listed by a manifest (goal < 2 s on
 *    2 cores), next to the cold run that hashed them and the bare CLI start (the floor);
 *  - the cost per cached node: a no-op rerun of 400 cached nodes, minus the one-node rerun, divided by 400;
 *  - start-up: `mea --help` and a no-op rerun of the demo (pipeline.yaml, 47 nodes; goal <= 0.4 s whole process) next
 *    to `node -e 0`. The demo's cold run comes first, at `--demo-tracks N` tracks per data set (default 8; the
 *    rerun's work does not depend on it beyond stat calls; `--demo-tracks full` runs the demo's own sizes).
 * Usage: npx tsx bench/engine.ts [files=20000] [--demo-tracks 8|full] [--no-demo]
 */
import * as esbuild from "esbuild"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith("--") && !(all[i - 1] ?? "").startsWith("--"))
const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i < 0 ? undefined : process.argv[i + 1]
}
const files = Number(positional[0] ?? 20000)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "mea-bench-engine-"))
const plugin = path.join(work, "stages.mjs")
esbuild.buildSync({ entryPoints: [path.join(root, "bench/engine-stages.ts")], outfile: plugin, bundle: true, platform: "node", format: "esm", logLevel: "error" })

const mea = (args: ReadonlyArray<string>): number => {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [path.join(root, "bin/mea.mjs"), ...args], { cwd: work, env: { ...process.env, MEA_PLUGINS: plugin, CI: "1" }, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`mea ${args.join(" ")} failed: ${r.stderr}`)
  return (performance.now() - t0) / 1000
}
const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]

// The corpus: NN/ID.mp3 like MTG-Jamendo, 2 KB each, and its manifest; mtimes in the past like any real corpus.
const manifest: Array<string> = []
const past = new Date(Date.now() - 3600_000)
for (let i = 0; i < files; i++) {
  const rel = `${String(i % 100).padStart(2, "0")}/${i}.mp3`
  fs.mkdirSync(path.join(work, "audio", path.dirname(rel)), { recursive: true })
  fs.writeFileSync(path.join(work, "audio", rel), `${i}`.repeat(2048 / String(i).length + 1).slice(0, 2048))
  fs.utimesSync(path.join(work, "audio", rel), past, past)
  manifest.push(`${i}\t${rel}`)
}
fs.writeFileSync(path.join(work, "manifest.tsv"), manifest.join("\n"))
fs.writeFileSync(
  path.join(work, "corpus.yaml"),
  "stages:\n  corpus:\n    uses: bench-corpus\n    inputs: { audio: audio, manifest: manifest.tsv }\n",
)
const items = 400
fs.writeFileSync(
  path.join(work, "many.yaml"),
  `params: { n: 0 }\nstages:\n  corpus:\n    uses: bench-corpus\n    inputs: { audio: audio, manifest: manifest.tsv }\n  item:\n    uses: bench-item\n    foreach: [${Array.from({ length: items }, (_, i) => i).join(", ")}]\n    inputs: { corpus: corpus }\n    with: { i: "\${item}" }\n`,
)

mea(["stages"]) // builds the bundle if sources changed, outside the timings
const start = median([0, 1, 2, 3, 4].map(() => mea(["stages"])))
const cold = mea(["run", "corpus.yaml", "-q"])
const noop = median([0, 1, 2, 3, 4].map(() => mea(["run", "corpus.yaml", "-q"])))
mea(["run", "many.yaml", "-q"])
const many = median([0, 1, 2].map(() => mea(["run", "many.yaml", "-q"])))
const perNode = ((many - noop) / items) * 1000

const row = (name: string, s: number, note = "") => console.log(`${name.padEnd(44)} ${s.toFixed(3).padStart(8)} s  ${note}`)
console.log(`engine bench: ${files} input files, ${os.availableParallelism()} cores, node ${process.version}`)
row("bare CLI start (floor)", start)
row(`cold run (hashes ${files} files)`, cold)
row(`no-op rerun (${files} files, stat only)`, noop, `${(cold / noop).toFixed(1)}x faster than cold; goal < 2 s: ${noop < 2 ? "met" : "NOT met"}`)
row(`no-op rerun of ${items + 1} cached nodes`, many)
console.log(`${"overhead per cached node".padEnd(44)} ${perNode.toFixed(2).padStart(8)} ms`)

const timed = (cmd: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = process.env): number => {
  const t0 = performance.now()
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`)
  return (performance.now() - t0) / 1000
}
const nodeFloor = median([0, 1, 2, 3, 4].map(() => timed(process.execPath, ["-e", "0"], work)))
const help = median([0, 1, 2, 3, 4].map(() => timed(process.execPath, [path.join(root, "bin/mea.mjs"), "--help"], work)))
console.log(`start-up (median of 5, load average ${os.loadavg()[0].toFixed(2)})`)
row("node -e 0 (floor)", nodeFloor)
row("mea --help", help, `${(help - nodeFloor).toFixed(3)} s above node`)
if (!process.argv.includes("--no-demo")) {
  const tracks = flag("--demo-tracks") ?? "8"
  const demoCache = path.join(work, "demo-cache")
  const env = { ...process.env, CI: "1" }
  const sizes = tracks === "full" ? [] : ["demo_mtg", "demo_cal500", "demo_emotify"].flatMap((k) => ["-p", `${k}=${tracks}`])
  const demoArgs = [path.join(root, "bin/mea.mjs"), "run", path.join(root, "pipeline.yaml"), "-q", "--cache", demoCache, ...sizes]
  const demoCold = timed(process.execPath, demoArgs, work, env)
  const demoNoop = median([0, 1, 2, 3, 4].map(() => timed(process.execPath, demoArgs, work, env)))
  row(`demo cold run (${tracks === "full" ? "full size" : `${tracks} tracks per data set`})`, demoCold)
  row("demo no-op rerun (whole process)", demoNoop, `goal <= 0.4 s: ${demoNoop <= 0.4 ? "met" : "NOT met"}; ${(demoNoop - nodeFloor).toFixed(3)} s above node -e 0`)
}
fs.rmSync(work, { recursive: true, force: true })
