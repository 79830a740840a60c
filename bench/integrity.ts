/**
 * Cost of end-to-end integrity (block hashes recorded at commit, every block checked as stages read it) on a cold
 * demo run. Runs the demo cold with MEA_INTEGRITY=off and on, alternating, on fresh caches at the same path, and
 * prints side by side: wall time, CPU time (user + sys, children included) and, for the checked runs, the time spent
 * hashing blocks as a share of the run's CPU time. Goal: under 5%.
 * Usage: npx tsx bench/integrity.ts [small|full] [rounds=1]
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const size = process.argv[2] ?? "small"
const rounds = Number(process.argv[3] ?? 1)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "mea-bench-integrity-"))
const source = fs.readFileSync(path.join(root, "pipeline.yaml"), "utf8")
const demoWith = 'with: { seed: "${seed}", mtg: "${demo_mtg}", cal500: "${demo_cal500}", emotify: "${demo_emotify}" }'
fs.writeFileSync(path.join(work, "pipeline.yaml"), size === "full" ? source : source.replace(demoWith, demoWith.replace(" }", ", min_seconds: 10, max_seconds: 12 }")))
const params = size === "full" ? [] : ["-p", "demo_mtg=10", "-p", "demo_cal500=8", "-p", "demo_emotify=8", "-p", "epochs=2", "-p", "patience=1"]

interface Measure {
  readonly wall: number
  readonly cpu: number
  readonly hashMs: number
  readonly hashMb: number
}
const once = (mode: "on" | "off"): Measure => {
  fs.rmSync(path.join(work, "cache"), { recursive: true, force: true })
  const r = spawnSync("/usr/bin/time", ["-f", "TIME %e %U %S", process.execPath, path.join(root, "bin/mea.mjs"), "run", "pipeline.yaml", "-q", ...params], {
    cwd: work,
    env: { ...process.env, CI: "1", MEA_INTEGRITY: mode, MEA_INTEGRITY_STATS: "1" },
    encoding: "utf8",
  })
  if (r.status !== 0) throw new Error(`mea run (integrity ${mode}) failed: ${r.stderr.slice(-2000)}`)
  const t = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(r.stderr)!
  const h = /integrity: ([\d.]+) ms hashing ([\d.]+) MB/.exec(r.stderr)
  return { wall: Number(t[1]), cpu: Number(t[2]) + Number(t[3]), hashMs: Number(h?.[1] ?? 0), hashMb: Number(h?.[2] ?? 0) }
}

const load = () => os.loadavg().map((x) => x.toFixed(2)).join(" ")
console.log(`integrity bench: ${size} demo, ${rounds} round(s); load average ${load()}`)
const on: Array<Measure> = []
const off: Array<Measure> = []
for (let i = 0; i < rounds; i++) {
  off.push(once("off"))
  on.push(once("on"))
}
const sum = (xs: Array<Measure>, k: keyof Measure) => xs.reduce((a, m) => a + m[k], 0)
const f = (x: number) => x.toFixed(1)
console.log(`off (baseline): wall ${f(sum(off, "wall"))} s, cpu ${f(sum(off, "cpu"))} s`)
console.log(`on:             wall ${f(sum(on, "wall"))} s, cpu ${f(sum(on, "cpu"))} s; block hashing ${f(sum(on, "hashMs") / 1000)} s over ${f(sum(on, "hashMb"))} MB`)
console.log(`ratio on/off: wall ${(sum(on, "wall") / sum(off, "wall")).toFixed(3)}, cpu ${(sum(on, "cpu") / sum(off, "cpu")).toFixed(3)}`)
// The in-process hashing time is wall time around each hash call (a loaded machine inflates it); the CPU ratio is the figure.
console.log(`cost of integrity: ${((sum(on, "cpu") / sum(off, "cpu") - 1) * 100).toFixed(1)}% cpu, ${((sum(on, "wall") / sum(off, "wall") - 1) * 100).toFixed(1)}% wall (goal < 5%)`)
console.log(`load average ${load()}`)
fs.rmSync(work, { recursive: true, force: true })
