/**
 * The cluster path against the local executor, on this machine (PostgreSQL 15 and s3rver on 127.0.0.1, as the tests).
 * Prints, side by side:
 *  - the demo pipeline (reduced size) run locally, then with 1, 2 and 3 `mea worker` processes, each from an empty
 *    cache and an empty store prefix: wall time and ratio to the local run, and whether every eval/vote output hash
 *    equals the local run's;
 *  - the per-node overhead of the cluster path: 200 trivial independent nodes with 3 workers, minus the same run
 *    locally, divided by 200 (goal: < 50 ms per node), and the S3 requests that run made (through a counting proxy),
 *    per node and by kind.
 * Workers on one machine share one cache folder: the demo's data set artifacts name files inside the demo-data
 * artifact, so they must resolve at the same path (on many machines: a shared mount, as for real data sets).
 * Usage: npx tsx bench/cluster.ts [demo|overhead|all]
 */
import * as esbuild from "esbuild"
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { removePostgres, s3Env, startPostgres, startS3 } from "../test/distributed/servers.ts"

const root = path.resolve(import.meta.dirname, "..")
const what = process.argv[2] ?? "all"
const work = fs.mkdtempSync(path.join(os.tmpdir(), "mea-bench-cluster-"))
const small = ["-p", "demo_mtg=16", "-p", "demo_cal500=14", "-p", "demo_emotify=16", "-p", "epochs=2", "-p", "patience=2"]
const plugin = path.join(work, "stages.mjs")
esbuild.buildSync({ entryPoints: [path.join(root, "bench/engine-stages.ts")], outfile: plugin, bundle: true, platform: "node", format: "esm", logLevel: "error" })

const pg = await startPostgres()
const s3 = await startS3()
let env: Record<string, string | undefined> = { ...process.env, ...s3Env(s3), CI: "1", MEA_PLUGINS: plugin }
const children: Array<ChildProcess> = []

const mea = (args: ReadonlyArray<string>) => {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [path.join(root, "bin/mea.mjs"), ...args], { cwd: work, env, encoding: "utf8", maxBuffer: 64 << 20 })
  if (r.status !== 0) throw new Error(`mea ${args.join(" ")} failed: ${r.stderr.slice(-2000)}`)
  return { s: (performance.now() - t0) / 1000, stdout: r.stdout }
}
const outputsOf = (json: string): Map<string, { stage: string; output: string }> =>
  new Map((JSON.parse(json) as { nodes: Array<{ id: string; stage: string; output: string }> }).nodes.map((n) => [n.id, n]))

const startWorkers = async (n: number, store: string, cache: string): Promise<Array<ChildProcess>> => {
  const ws = Array.from({ length: n }, () =>
    spawn(process.execPath, [path.join(root, "bin/mea.mjs"), "worker", "--cluster", pg.url, "--store", store, "--host", "127.0.0.1", "-j", "2", "--cache", cache], {
      cwd: work,
      env,
      stdio: ["ignore", "ignore", "pipe"],
    }),
  )
  children.push(...ws)
  await Promise.all(
    ws.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          let log = ""
          w.stderr!.on("data", (d) => {
            log += String(d)
            if (log.includes("worker 127.0.0.1:")) resolve()
          })
          w.once("exit", (c) => reject(new Error(`worker exited with ${c}: ${log}`)))
        }),
    ),
  )
  return ws
}
const stopWorkers = async (ws: Array<ChildProcess>) => {
  await Promise.all(
    ws.map((w) => new Promise((r) => {
      w.once("exit", r)
      w.kill("SIGTERM")
      setTimeout(() => w.kill("SIGKILL"), 10_000).unref()
    })),
  )
}

const rows: Array<Array<string>> = []
try {
  console.log(`load average: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}; ${os.availableParallelism()} cores`)
  if (what === "demo" || what === "all") {
    fs.copyFileSync(path.join(root, "pipeline.yaml"), path.join(work, "pipeline.yaml"))
    const local = mea(["run", "pipeline.yaml", ...small, "--json", "--cache", "local"])
    const ref = outputsOf(local.stdout)
    rows.push(["demo, local executor", `${local.s.toFixed(1)} s`, "1.00", "-"])
    for (const n of [1, 2, 3]) {
      const store = `s3://${s3.bucket}/demo${n}`
      const ws = await startWorkers(n, store, path.join(work, `workers${n}`))
      const r = mea(["run", "pipeline.yaml", ...small, "--json", "--cluster", pg.url, "--store", store, "--cache", `client${n}`])
      await stopWorkers(ws)
      const got = outputsOf(r.stdout)
      const results = [...ref].filter(([, v]) => v.stage === "eval" || v.stage === "vote")
      const same = results.filter(([id, v]) => got.get(id)?.output === v.output).length
      rows.push([`demo, ${n} worker${n === 1 ? "" : "s"}`, `${r.s.toFixed(1)} s`, (r.s / local.s).toFixed(2), `${same}/${results.length} eval/vote outputs identical`])
    }
  }
  if (what === "overhead" || what === "all") {
    fs.mkdirSync(path.join(work, "tiny"), { recursive: true })
    fs.writeFileSync(path.join(work, "tiny", "a.mp3"), "x")
    fs.writeFileSync(path.join(work, "tiny.tsv"), "0\ta.mp3")
    const items = Array.from({ length: 200 }, (_, i) => i)
    fs.writeFileSync(
      path.join(work, "trivial.yaml"),
      `stages:\n  corpus: { uses: bench-corpus, inputs: { audio: tiny, manifest: tiny.tsv } }\n  item: { uses: bench-item, foreach: [${items.join(", ")}], inputs: { corpus: corpus }, with: { i: "\${item}" } }\n`,
    )
    const local = mea(["run", "trivial.yaml", "-j", "6", "--cache", "tlocal", "-q"])
    const store = `s3://${s3.bucket}/trivial`
    // Every S3 request of the workers and the client goes through a counting proxy (its own process: mea() blocks).
    const proxy = spawn(process.execPath, [path.join(root, "bench/s3-count-proxy.mjs"), new URL(s3.endpoint).port], { stdio: ["ignore", "pipe", "inherit"] })
    children.push(proxy)
    const proxyPort = await new Promise<number>((resolve) => proxy.stdout!.once("data", (d) => resolve(Number(String(d).trim()))))
    const counts = async () => (await (await fetch(`http://127.0.0.1:${proxyPort}/__counts`)).json()) as Record<string, number>
    env = { ...env, MEA_S3_ENDPOINT: `http://127.0.0.1:${proxyPort}` }
    const ws = await startWorkers(3, store, path.join(work, "tworkers"))
    await counts()
    const cluster = mea(["run", "trivial.yaml", "-j", "6", "--cluster", pg.url, "--store", store, "--cache", "tclient", "-q"])
    const requests = await counts()
    await stopWorkers(ws)
    const per = ((cluster.s - local.s) / 200) * 1000
    const total = Object.values(requests).reduce((a, b) => a + b, 0)
    rows.push(["201 trivial nodes, local", `${local.s.toFixed(1)} s`, "1.00", "-"])
    rows.push(["201 trivial nodes, 3 workers", `${cluster.s.toFixed(1)} s`, (cluster.s / local.s).toFixed(2), `${per.toFixed(0)} ms overhead per node (goal < 50)`])
    rows.push([
      "S3 requests of that run",
      String(total),
      (total / 201).toFixed(1),
      `per node; ${Object.entries(requests).sort().map(([k, v]) => `${k} ${v}`).join(", ")}`,
    ])
  }
} finally {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL")
  removePostgres(pg)
  await s3.close()
}
const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), 6))
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "))
console.log(`load average after: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`)
fs.rmSync(work, { recursive: true, force: true })
