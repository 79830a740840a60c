/**
 * Crash loop on the demo pipeline (small params): kill -9 the whole process group of `mea run` at 20+ moments spread
 * over every stage, rerun each time until a run completes, then check that
 *  - `mea verify` finds nothing corrupt,
 *  - no node that had finished (printed `ran`) was computed again by a later attempt,
 *  - no staging folder, temp file, lock or run registration is left in the cache (nor a temp file in report/),
 *  - every node's output and the report files are byte-identical to an uninterrupted run on a fresh cache.
 * That last check needs the demo to be deterministic: with --twice a second fresh run is compared with the first
 * before the loop; without it (CI, to save a cold run) the second fresh run happens only if the loop's result
 * differs, to tell nondeterminism from a crash-safety bug. Agreement of the loop with the fresh run implies both.
 * Exits non-zero with what broke. CI runs it (.ci/run). Usage: npx tsx bench/crash-loop.ts [kills=20] [seed=1] [--twice]
 * The kill moments come from a seeded generator; which node is running when they land depends on the machine.
 */
import { spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const bin = path.join(root, "bin", "mea.mjs")
const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"))
const twice = process.argv.includes("--twice")
const minKills = Number(positional[0] ?? 20)
let seed = Number(positional[1] ?? 1) >>> 0
const random = (): number => {
  // mulberry32: reproducible kill delays for a given seed.
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "mea-crash-loop-"))
// Small demo params, so the loop (three runs' worth of work plus 20+ restarts) stays in CI's budget.
const source = fs.readFileSync(path.join(root, "pipeline.yaml"), "utf8")
const demoWith = 'with: { seed: "${seed}", mtg: "${demo_mtg}", cal500: "${demo_cal500}", emotify: "${demo_emotify}" }'
if (!source.includes(demoWith)) throw new Error(`pipeline.yaml's demo stage changed; update bench/crash-loop.ts (looked for ${demoWith})`)
fs.writeFileSync(path.join(work, "pipeline.yaml"), source.replace(demoWith, demoWith.replace(" }", ", min_seconds: 10, max_seconds: 12 }")))
const params = ["-p", "demo_mtg=10", "-p", "demo_cal500=8", "-p", "demo_emotify=8", "-p", "epochs=2", "-p", "patience=1", "-j", "2"]
const env = { ...process.env, CI: "1" }

const fail = (message: string): never => {
  console.error(`crash loop FAILED: ${message}\n(work folder kept: ${work})`)
  process.exit(1)
}

interface RunJson {
  readonly nodes: ReadonlyArray<{ readonly id: string; readonly stage: string; readonly status: string; readonly output: string | null }>
}
const runToEnd = (cache: string): RunJson => {
  const r = spawnSync(process.execPath, [bin, "run", "pipeline.yaml", "--json", "--cache", cache, ...params], { cwd: work, env, encoding: "utf8", maxBuffer: 64 << 20 })
  if (r.status !== 0) fail(`mea run exited ${r.status}: ${r.stderr.slice(-2000)}`)
  return JSON.parse(r.stdout) as RunJson
}
const outputsOf = (r: RunJson) => new Map(r.nodes.map((n) => [n.id, n.output ?? ""]))
const digestDir = (dir: string): Map<string, string> => {
  const out = new Map<string, string>()
  for (const f of fs.readdirSync(dir, { recursive: true }) as Array<string>) {
    const full = path.join(dir, f)
    if (fs.statSync(full).isFile()) out.set(f, createHash("sha256").update(fs.readFileSync(full)).digest("hex"))
  }
  return out
}
const sameMaps = (what: string, a: Map<string, string>, b: Map<string, string>) => {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort()
  const differ = keys.filter((k) => a.get(k) !== b.get(k))
  if (differ.length > 0) fail(`${what} differ: ${differ.slice(0, 8).join(", ")}${differ.length > 8 ? ` and ${differ.length - 8} more` : ""}`)
}

const t0 = Date.now()
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(" ")
console.log(`crash loop: demo with ${params.filter((p) => p.includes("=")).join(" ")}; load average ${load()}; work folder ${work}`)

// 1. Two uninterrupted runs on fresh caches at the same path (data set values record absolute paths) must agree.
const cache = path.join(work, "cache")
const fresh = (name: string): { readonly outputs: Map<string, string>; readonly report: Map<string, string> } => {
  fs.rmSync(cache, { recursive: true, force: true })
  fs.rmSync(path.join(work, "report"), { recursive: true, force: true })
  const t = Date.now()
  const r = runToEnd(cache)
  console.log(`${name}: ${r.nodes.length} nodes in ${((Date.now() - t) / 1000).toFixed(1)} s`)
  return { outputs: outputsOf(r), report: digestDir(path.join(work, "report")) }
}
const a = fresh("fresh run A")
const coldSeconds = (Date.now() - t0) / 1000
/**
 * Untargeted kills land within this many ms of an attempt's first node. Each killed attempt moves the run on by half
 * of it on average, so it is sized for the owed kills to fit well inside one cold run: a fixed window ran out of work
 * before the kills were done once training got faster.
 */
const killWindowMs = Math.max(100, Math.min(4000, (coldSeconds * 1000) / (minKills * 1.5)))
const checkDeterminism = () => {
  const b = fresh("fresh run B")
  sameMaps("outputs of two fresh runs", a.outputs, b.outputs)
  sameMaps("report files of two fresh runs", a.report, b.report)
  console.log("fresh runs A and B are byte-identical")
}
if (twice) checkDeterminism()

// 2. The crash loop on a third fresh cache.
fs.rmSync(cache, { recursive: true, force: true })
fs.rmSync(path.join(work, "report"), { recursive: true, force: true })
const runStages = (): Array<string> => {
  const r = spawnSync(process.execPath, [bin, "run", "pipeline.yaml", "--dry-run", "--json", "--cache", path.join(work, "probe-cache"), ...params], { cwd: work, env, encoding: "utf8" })
  if (r.status !== 0) fail(`dry run failed: ${r.stderr}`)
  fs.rmSync(path.join(work, "probe-cache"), { recursive: true, force: true })
  return (JSON.parse(r.stdout) as { nodes: Array<{ stage: string }> }).nodes.map((n) => n.stage)
}
const stages = new Set(runStages())
const unhit = new Set(stages)
/** Targeted kills tried per stage: a stage whose nodes finish within milliseconds may never be caught running. */
const tries = new Map<string, number>()
const killedIn = new Map<string, number>()
const finished = new Set<string>() // nodes that printed `ran` in some attempt
const recomputed: Array<string> = []
let kills = 0
let attempts = 0

interface Attempt {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly running: ReadonlyArray<string>
}

const attempt = (): Promise<Attempt> =>
  new Promise((resolve) => {
    attempts++
    // detached: its own process group, so the kill takes ffmpeg children and worker threads with it.
    const child = spawn(process.execPath, [bin, "run", "pipeline.yaml", "--json", "--cache", cache, ...params], { cwd: work, env, detached: true })
    const running = new Map<string, string>() // node id -> stage
    let stdout = ""
    let pending = ""
    let timer: NodeJS.Timeout | undefined
    let started = false
    const killGroup = () => {
      if (child.exitCode !== null) return
      for (const stage of running.values()) {
        killedIn.set(stage, (killedIn.get(stage) ?? 0) + 1)
        unhit.delete(stage)
      }
      try {
        process.kill(-child.pid!, "SIGKILL")
        kills++
      } catch {
        // It ended just now.
      }
    }
    let due = Infinity
    /** Kill `ms` from now, unless a kill is already due sooner. */
    const schedule = (ms: number) => {
      if (Date.now() + ms >= due) return
      if (timer !== undefined) clearTimeout(timer)
      due = Date.now() + ms
      timer = setTimeout(killGroup, ms)
    }
    child.stdout.on("data", (d) => (stdout += String(d)))
    child.stderr.on("data", (d) => {
      pending += String(d)
      const lines = pending.split("\n")
      pending = lines.pop()!
      for (const line of lines) {
        const start = /^start {2}(\S+) \((\S+)\)/.exec(line)
        if (start !== null) {
          const [, id, stage] = start
          if (finished.has(id)) recomputed.push(`${id} (attempt ${attempts})`)
          const first = running.size === 0 && !started
          started = true
          running.set(id, stage)
          // A stage no kill has landed in yet: kill soon after one of its nodes starts (three tries per stage).
          if (unhit.has(stage) && (tries.get(stage) ?? 0) < 3) {
            tries.set(stage, (tries.get(stage) ?? 0) + 1)
            schedule(Math.floor(random() * 150))
          }
          // Otherwise, while kills are owed, at a random moment of the work (start-up time varies with load).
          if (first && kills < minKills) schedule(Math.floor(random() * killWindowMs))
        }
        const end = /^(ran {4}|FAILED|skipped) (\S+)/.exec(line)
        if (end !== null) {
          running.delete(end[2])
          if (end[1].startsWith("ran")) finished.add(end[2])
        }
      }
    })
    child.on("close", (code, signal) => {
      if (timer !== undefined) clearTimeout(timer)
      resolve({ code, signal, stdout, running: [...running.keys()] })
    })
  })

const loopStart = Date.now()
for (;;) {
  if (attempts > minKills + stages.size + 40) fail(`no completed run after ${attempts} attempts`)
  const r = await attempt()
  if (r.signal === "SIGKILL") continue
  if (r.code !== 0) fail(`attempt ${attempts} exited ${r.code}`)
  const final = JSON.parse(r.stdout) as RunJson
  const got = outputsOf(final)
  if ([...a.outputs].some(([id, h]) => got.get(id) !== h) && !twice) {
    console.log("the loop's outputs differ from the fresh run's; a second fresh run tells why:")
    fs.renameSync(cache, `${cache}-loop`)
    fs.renameSync(path.join(work, "report"), path.join(work, "report-loop"))
    checkDeterminism()
  }
  sameMaps("outputs after the crash loop vs a fresh run", a.outputs, got)
  break
}
const loopSeconds = (Date.now() - loopStart) / 1000

// 3. The cache is clean and whole.
const v = spawnSync(process.execPath, [bin, "verify", "--cache", cache], { cwd: work, env, encoding: "utf8" })
if (v.status !== 0 || !/ 0 corrupt/.test(v.stdout)) fail(`mea verify: ${v.stdout}${v.stderr}`)
if (recomputed.length > 0) fail(`finished nodes were computed again: ${recomputed.join(", ")}`)
const leftovers: Array<string> = []
for (const sub of ["tmp", "locks", "active"]) {
  const d = path.join(cache, sub)
  if (fs.existsSync(d)) leftovers.push(...fs.readdirSync(d).map((f) => `${sub}/${f}`))
}
for (const f of fs.readdirSync(cache, { recursive: true }) as Array<string>) if (/\.tmp$|\.tmp-\d+$/.test(f)) leftovers.push(f)
for (const f of fs.readdirSync(path.join(work, "report"), { recursive: true }) as Array<string>) if (/\.tmp/.test(f)) leftovers.push(`report/${f}`)
if (leftovers.length > 0) fail(`left behind: ${leftovers.slice(0, 10).join(", ")}`)
sameMaps("report files after the crash loop vs a fresh run", a.report, digestDir(path.join(work, "report")))
if (kills < minKills) fail(`only ${kills} kills landed (wanted ${minKills}); the run finished too fast for this many`)
const notHit = [...stages].filter((s) => !killedIn.has(s))

console.log(`killed ${kills} times in ${attempts} attempts; stages running at the kills: ${[...killedIn].map(([s, n]) => `${s} ${n}`).join(", ")}`)
if (notHit.length > 0) console.log(`note: no kill landed while these stages were running (their nodes are short): ${notHit.join(", ")}`)
console.log(`verify clean, no finished node recomputed, nothing left behind, outputs and report byte-identical to a fresh run`)
console.log(`crash loop: ${loopSeconds.toFixed(1)} s for the loop vs ${coldSeconds.toFixed(1)} s for one cold run; total ${((Date.now() - t0) / 1000).toFixed(1)} s; load average ${load()}`)
console.log("crash loop PASSED")
fs.rmSync(work, { recursive: true, force: true })
