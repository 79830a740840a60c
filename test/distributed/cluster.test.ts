/**
 * mea on a cluster, end to end with real servers on 127.0.0.1: PostgreSQL 15 (the cluster's state, via
 * @effect/cluster's SQL storage) and s3rver (the shared store), three `mea worker` processes, and `mea run --cluster`.
 * Results are compared byte for byte with a local run of the same pipeline.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, expect, it } from "vitest"
import { cli, cliAsync, project, repoRoot, testPlugin } from "../engine/helpers.ts"
import { describeWithPostgres, removePostgres, s3Env, startPostgres, startS3, type Postgres, type S3Server } from "./servers.ts"
import { treeBytes } from "../support/tree-bytes.ts"

const yaml = `
params: { v: 3, ms: 300 }
stages:
  src: { uses: source, with: { value: "\${v}" } }
  fan: { uses: slow, foreach: [1, 2, 3, 4, 5, 6], inputs: { a: src }, with: { ms: "\${ms}", mb: "\${item}" } }
  sum: { uses: add, inputs: { a: src, more: "fan.*" } }
  big: { uses: slow, inputs: { a: sum }, with: { ms: "\${ms}", mb: 9 } }
  last: { uses: add, inputs: { a: big }, with: { k: 1 } }
`

interface NodeJson {
  readonly id: string
  readonly status: string
  readonly worker?: string
  readonly output?: string
}

const objectsOf = (cache: string): Array<string> => {
  const root = path.join(cache, "objects")
  return fs.existsSync(root) ? fs.readdirSync(root).flatMap((d) => fs.readdirSync(path.join(root, d))).sort() : []
}


/** Polls `cond`; on timeout the error carries `context()` (the processes' recent lines), so a CI failure says why. */
const waitFor = async (cond: () => boolean, ms: number, what: string, context: () => string = () => "") => {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${context()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const tail = (text: string, lines = 25) => text.split("\n").slice(-lines).join("\n")

interface Worker {
  readonly child: ChildProcess
  /** The worker's node lines (its reporter writes to stderr). */
  log: string
}

describeWithPostgres("cluster: 3 workers on PostgreSQL and S3", () => {
  let pg: Postgres
  let s3: S3Server
  let env: Record<string, string>
  let dir: string
  const workers: Array<Worker> = []
  const store = "s3://mea-test/cluster"

  /** A `mea worker` on this test's database (or the one `cluster` names), with its own cache. */
  const startWorker = (i: number, cluster = pg.url): Worker => {
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, "bin", "mea.mjs"), "worker", "--cluster", cluster, "--store", store, "--host", "127.0.0.1", "-j", "2", "--cache", path.join(dir, `worker${i}`)],
      { cwd: dir, env: { ...process.env, ...env, MEA_PLUGINS: testPlugin(), CI: "1" } },
    )
    const w: Worker = { child, log: "" }
    child.stdout!.resume()
    child.stderr!.on("data", (d) => (w.log += String(d)))
    return w
  }
  /** The last lines of every worker's log and of the given clients' stderr, for a timed-out wait. */
  const logs = (...clients: ReadonlyArray<{ output: () => { stderr: string } }>) => () =>
    [
      ...workers.map((w, i) => `\n--- worker ${i + 1} (${w.child.exitCode ?? w.child.signalCode ?? "alive"}):\n${tail(w.log)}`),
      ...clients.map((c, i) => `\n--- client ${i + 1}:\n${tail(c.output().stderr)}`),
    ].join("")
  /** Starts one more worker and waits until it has registered. */
  const addWorker = async () => {
    const w = startWorker(workers.length + 1)
    workers.push(w)
    await waitFor(() => w.log.includes("worker 127.0.0.1:"), 120_000, "a new worker to register", logs())
  }
  const startsOn = (w: Worker, id: string) => w.log.split("\n").filter((l) => l === `start  ${id} (slow)`).length
  const starts = (id: string) => workers.reduce((n, w) => n + startsOn(w, id), 0)

  beforeAll(async () => {
    ;[pg, s3] = await Promise.all([startPostgres(), startS3()])
    env = s3Env(s3)
    dir = project({ "p.yaml": yaml })
    for (let i = 1; i <= 3; i++) workers.push(startWorker(i))
    await waitFor(() => workers.every((w) => w.log.includes(`worker 127.0.0.1:`)), 180_000, "workers to register", logs())
  }, 240_000)

  afterAll(async () => {
    await Promise.all(
      workers.map((w) =>
        w.child.exitCode !== null || w.child.signalCode !== null ? Promise.resolve() : new Promise((r) => (w.child.once("exit", r), w.child.kill("SIGKILL"))),
      ),
    )
    if (pg !== undefined) removePostgres(pg)
    await s3?.close()
  })

  /** Runs one SQL command in database `db` of this test's server as user mea; its unaligned output. */
  const psql = (db: string, command: string): string => {
    const q = spawnSync("psql", ["-h", "127.0.0.1", "-p", String(pg.port), "-U", "mea", "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", command], { encoding: "utf8" })
    if (q.status !== 0) throw new Error(`psql failed: ${q.stderr}`)
    return q.stdout
  }
  /** Workflow executions the cluster has been asked to start (the workflow engine's `run` messages in PostgreSQL). */
  const workflowRuns = (): number =>
    Number(psql("mea", "SELECT count(*) FROM cluster_messages WHERE entity_type = 'Workflow/MeaRun' AND tag = 'run'").trim())
  const doneOn = (id: string) => workers.filter((w) => w.log.split("\n").some((l) => l.startsWith(`done   ${id} `))).length

  const clusterRun = (cache: string, params: ReadonlyArray<string> = []) =>
    cli(["run", "p.yaml", ...params, "--cluster", pg.url, "--store", store, "--cache", cache, "--json"], dir, env)
  /**
   * The same pipeline run here, as the reference a cluster run's objects must equal byte for byte. `slow` writes the
   * same bytes whatever its `ms`, so the reference skips the sleeps (`ms` is in the keys, not in the objects).
   */
  const localRun = (cache: string, params: ReadonlyArray<string> = []) => {
    const fast = params.map((p) => (p.startsWith("ms=") ? "ms=0" : p))
    const r = cli(["run", "p.yaml", ...fast, "--cache", cache, "-q"], dir)
    expect(r.code).toBe(0)
    return path.join(dir, cache, "objects")
  }

  it("runs on the workers, in parallel, with the outputs of a local run, downloading none of them; --fetch brings them, byte-identical", { timeout: 180_000 }, () => {
    const r = clusterRun("c1")
    expect(r.stderr).not.toMatch(/FAILED/)
    expect(r.code).toBe(0)
    const nodes = (JSON.parse(r.stdout) as { nodes: ReadonlyArray<NodeJson> }).nodes
    expect(nodes.length).toBe(10)
    expect(nodes.every((n) => n.status === "ran" && n.worker?.startsWith("127.0.0.1:"))).toBe(true)
    expect(new Set(nodes.map((n) => n.worker)).size).toBeGreaterThanOrEqual(2)
    expect(r.stderr).toMatch(/^ran {4}fan\.1 .*: on 127\.0\.0\.1:\d+$/m)
    expect(r.stdout + r.stderr).not.toContain("S3RVER")
    const localObjects = localRun("local")
    const local = (JSON.parse(cli(["run", "p.yaml", "--cache", "local", "--json"], dir).stdout) as { nodes: ReadonlyArray<NodeJson> }).nodes
    expect(nodes.map((n) => [n.id, n.output])).toEqual(local.map((n) => [n.id, n.output]))
    // Nothing here publishes and nothing was asked for: every output stays in the store, where the workers read them.
    expect(objectsOf(path.join(dir, "c1"))).toEqual([])

    // A fresh cache asking for every output: all cached, all downloaded, byte-identical to the local run.
    const again = clusterRun("c2", ["--fetch", "all"])
    expect(again.code).toBe(0)
    const second = (JSON.parse(again.stdout) as { nodes: ReadonlyArray<NodeJson> }).nodes
    expect(second.map((n) => n.status)).toEqual(Array(10).fill("cached"))
    expect(treeBytes(path.join(dir, "c2", "objects"))).toEqual(treeBytes(localObjects))

    // Asking for one node brings that output only.
    const one = clusterRun("c3", ["--fetch", "last"])
    expect(one.code).toBe(0)
    expect(objectsOf(path.join(dir, "c3"))).toEqual([local.find((n) => n.id === "last")!.output])
    const typo = clusterRun("c4", ["--fetch", "lats"])
    expect(typo.code).toBe(2)
    expect(typo.stderr.trim()).toBe("error: --fetch lats: no node of p.yaml matches (its nodes: src, fan.1, fan.2, fan.3, fan.4, fan.5, fan.6, sum, ...)")
  })

  it("sweep --cluster: two grid points, the shared upstream computed once, on the workers", { timeout: 180_000 }, async () => {
    fs.writeFileSync(
      path.join(dir, "s.yaml"),
      `params: { v: 11, k: 1 }\nstages:\n  src: { uses: source, with: { value: "\${v}" } }\n  big: { uses: slow, inputs: { a: src }, with: { ms: 300, mb: 1 } }\n  last: { uses: add, inputs: { a: big }, with: { k: "\${k}" } }\n`,
    )
    // Let the workers' logs of the synchronous runs before this one arrive, so `before` counts them.
    await new Promise((r) => setTimeout(r, 1000))
    const before = starts("big")
    const r = cli(["sweep", "s.yaml", "k=1,2", "--cluster", pg.url, "--store", store, "--cache", "s1", "--json"], dir, env)
    expect(r.stderr).not.toMatch(/FAILED/)
    expect(r.code).toBe(0)
    const points = (JSON.parse(r.stdout) as { points: ReadonlyArray<{ params: Record<string, unknown>; nodes: ReadonlyArray<NodeJson> }> }).points
    expect(points.map((p) => p.params)).toEqual([{ k: 1 }, { k: 2 }])
    const status = points.map((p) => Object.fromEntries(p.nodes.map((n) => [n.id, n.status])))
    expect(status).toEqual([
      { src: "ran", big: "ran", last: "ran" },
      { src: "cached", big: "cached", last: "ran" },
    ])
    expect(points.every((p) => p.nodes.filter((n) => n.status === "ran").every((n) => n.worker?.startsWith("127.0.0.1:")))).toBe(true)
    // The workers' logs are read while this process waits, not during the synchronous sweep above.
    await waitFor(() => starts("big") > before, 10_000, "the workers' logs", logs())
    await new Promise((r) => setTimeout(r, 1000))
    expect(starts("big")).toBe(before + 1)
    // The same grid locally gives the same outputs.
    const local = cli(["sweep", "s.yaml", "k=1,2", "--cache", "slocal", "--json"], dir)
    expect(local.code).toBe(0)
    const outputsOf = (json: string) =>
      (JSON.parse(json) as { points: ReadonlyArray<{ nodes: ReadonlyArray<NodeJson> }> }).points.map((p) => p.nodes.map((n) => [n.id, n.output]))
    expect(outputsOf(r.stdout)).toEqual(outputsOf(local.stdout))
  })

  /**
   * After a worker was lost while running `big`: the run completed, `big` was started a second time (on another worker)
   * and reported as ran, and the cache `cache` is byte-identical to a local run.
   */
  const expectBigRanAgain = (r: { code: number | null; stdout: string; stderr: string }, before: number, cache: string, params: ReadonlyArray<string>) => {
    expect(r.stderr).not.toMatch(/FAILED/)
    expect(r.code).toBe(0)
    expect(starts("big")).toBe(before + 2)
    const big = (JSON.parse(r.stdout) as { nodes: ReadonlyArray<NodeJson> }).nodes.find((n) => n.id === "big")!
    expect(big.status).toBe("ran")
    expect(treeBytes(path.join(dir, cache, "objects"))).toEqual(treeBytes(localRun(`${cache}-local`, params)))
    return big
  }

  it("kill -9 of the worker running a node: another worker reruns it and the run completes, identical", { timeout: 180_000 }, async () => {
    const params = ["-p", "v=5", "-p", "ms=3000"]
    const before = starts("big")
    const each = workers.map((w) => startsOn(w, "big"))
    const run = cliAsync(["run", "p.yaml", ...params, "--cluster", pg.url, "--store", store, "--cache", "k1", "--json", "--fetch", "all"], dir, env)
    await waitFor(() => starts("big") > before, 120_000, "a worker to start big", logs(run))
    const victim = workers.find((w, i) => startsOn(w, "big") > each[i])!
    victim.child.kill("SIGKILL")
    expectBigRanAgain(await run.done, before, "k1", params)
    // Back to three workers: the next tests kill more of them.
    await addWorker()
  })

  it("the client killed mid-run: the run's workflow carries on without it, and a restarted client joins that workflow", { timeout: 180_000 }, async () => {
    const params = ["-p", "v=11", "-p", "ms=6000"]
    const args = ["run", "p.yaml", ...params, "--cluster", pg.url, "--store", store, "--cache", "w1", "--json", "--fetch", "all"]
    const runsBefore = workflowRuns()
    const before = { fan: starts("fan.1"), big: starts("big") }
    const first = cliAsync(args, dir, env)
    await waitFor(() => starts("fan.1") > before.fan, 120_000, "a worker to start fan.1", logs(first))
    first.child.kill("SIGKILL")
    await first.done
    // No client is left: only the workflow can send sum and then big, which need every fan node.
    await waitFor(() => starts("big") > before.big, 120_000, "the workflow to start big without its client", logs(first))
    const r = await cliAsync(args, dir, env).done
    expect(r.stderr).not.toMatch(/FAILED/)
    expect(r.code).toBe(0)
    expect(workflowRuns()).toBe(runsBefore + 1)
    // Each node was computed once: the restarted client followed the workflow's messages instead of sending its own.
    expect(starts("big")).toBe(before.big + 1)
    expect(starts("fan.1")).toBe(before.fan + 1)
    const nodes = (JSON.parse(r.stdout) as { nodes: ReadonlyArray<NodeJson> }).nodes
    expect(nodes.filter((n) => n.id.startsWith("fan.") || n.id === "src" || n.id === "sum").every((n) => n.status === "cached")).toBe(true)
    // big was still under way when the client came back, so the client asked for it: the count above shows it joined.
    expect(nodes.find((n) => n.id === "big")).toMatchObject({ status: "ran", worker: expect.stringMatching(/^127\.0\.0\.1:/) })
    expect(doneOn("last")).toBeGreaterThanOrEqual(1)
    expect(treeBytes(path.join(dir, "w1", "objects"))).toEqual(treeBytes(localRun("wlocal", params)))
  })

  it("the client and the worker hosting the workflow both killed: another worker resumes the workflow and finishes the run alone", { timeout: 240_000 }, async () => {
    const params = ["-p", "v=13", "-p", "ms=5000"]
    const args = ["run", "p.yaml", ...params, "--cluster", pg.url, "--store", store, "--cache", "h1", "--json", "--fetch", "all"]
    const runsBefore = workflowRuns()
    const seen = workers.map((w) => w.log.length)
    const before = starts("fan.1")
    const first = cliAsync(args, dir, env)
    const hostLine = () => {
      for (const [i, w] of workers.entries()) {
        const m = /^workflow (\S+) \(10 nodes, attempt \d+\)$/m.exec(w.log.slice(seen[i] ?? 0))
        if (m !== null) return { host: w, id: m[1]! }
      }
      return undefined
    }
    await waitFor(() => hostLine() !== undefined && starts("fan.1") > before, 120_000, "the workflow and fan.1 to start", logs(first))
    const { host, id } = hostLine()!
    first.child.kill("SIGKILL")
    host.child.kill("SIGKILL")
    await first.done
    workers.push(startWorker(workers.length + 1))
    const resumedBy = () => workers.filter((w) => w !== host && w.log.includes(`workflow ${id} (10 nodes`))
    const finished = () => workers.some((w) => w !== host && w.log.includes(`workflow ${id} finished\n`))
    await waitFor(finished, 200_000, "another worker to resume the workflow and finish it", logs(first))
    expect(resumedBy().length).toBeGreaterThanOrEqual(1)
    // No client was alive: the last node ran because the resumed workflow sent it.
    expect(workers.some((w) => w !== host && w.log.includes("done   last "))).toBe(true)

    const r = await cliAsync(args, dir, env).done
    expect(r.code).toBe(0)
    expect(workflowRuns()).toBe(runsBefore + 1)
    const nodes = (JSON.parse(r.stdout) as { nodes: ReadonlyArray<NodeJson> }).nodes
    expect(nodes.map((n) => n.status)).toEqual(Array(10).fill("cached"))
    expect(treeBytes(path.join(dir, "h1", "objects"))).toEqual(treeBytes(localRun("hlocal", params)))
  })

  it("SIGTERM of a worker running a node: it exits within seconds, another worker reruns the node, the run completes, identical", { timeout: 180_000 }, async () => {
    const params = ["-p", "v=6", "-p", "ms=6000"]
    const before = starts("big")
    const each = workers.map((w) => startsOn(w, "big"))
    const logAt = workers.map((w) => w.log.length)
    const run = cliAsync(["run", "p.yaml", ...params, "--cluster", pg.url, "--store", store, "--cache", "t1", "--json", "--fetch", "all"], dir, env)
    await waitFor(() => starts("big") > before, 120_000, "a worker to start big", logs(run))
    const v = workers.findIndex((w, i) => w.child.exitCode === null && startsOn(w, "big") > each[i])
    const victim = workers[v]
    const t0 = Date.now()
    const exited = new Promise<number | null>((r) => victim.child.once("exit", (code) => r(code)))
    victim.child.kill("SIGTERM")
    const code = await exited
    const took = Date.now() - t0
    // The node was handed back, not finished: it takes 6 s, the worker is gone well before.
    expect(took).toBeLessThan(3_000)
    expect(code).toBe(0)
    expect(victim.log.slice(logAt[v])).not.toMatch(/^done {3}big /m)
    const big = expectBigRanAgain(await run.done, before, "t1", params)
    expect(big.worker).not.toBe(victim.log.match(/^worker (127\.0\.0\.1:\d+) /m)?.[1])
    await addWorker()
  })

  it("PostgreSQL stopped mid-run: a clear error, nothing corrupt; a rerun resumes and ends identical", { timeout: 180_000 }, async () => {
    const params = ["-p", "v=7", "-p", "ms=4000"]
    const before = starts("big")
    const run = cliAsync(["run", "p.yaml", ...params, "--cluster", pg.url, "--store", store, "--cache", "p1"], dir, env)
    await waitFor(() => starts("big") > before, 120_000, "a worker to start big", logs(run))
    pg.stop()
    const r = await run.done
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`^error: node '\\w+' \\(stage '\\w+'\\) failed: lost the cluster database ${pg.url.replace(/[.]/g, "\\.")} \\(unreachable for 8 s\\); finished nodes are cached, rerun to resume$`, "m"))
    expect(r.stderr).not.toMatch(/^\s+at /m)
    expect(cli(["verify", "--cache", "p1"], dir).code).toBe(0)

    pg.start()
    const again = clusterRun("p1", [...params, "--fetch", "all"])
    expect(again.stderr).not.toMatch(/FAILED/)
    expect(again.code).toBe(0)
    const nodes = (JSON.parse(again.stdout) as { nodes: ReadonlyArray<NodeJson> }).nodes
    // What finished before the stop is not computed again.
    expect(nodes.filter((n) => n.id.startsWith("fan.") || n.id === "src").every((n) => n.status === "cached")).toBe(true)
    expect(treeBytes(path.join(dir, "p1", "objects"))).toEqual(treeBytes(localRun("plocal", params)))
  })

  it("a worker started while the database is down registers once it is up", { timeout: 120_000 }, async () => {
    pg.stop()
    const late = startWorker(workers.length + 1)
    workers.push(late)
    await new Promise((r) => setTimeout(r, 3000))
    expect(late.child.exitCode).toBe(null)
    expect(late.log).not.toContain("worker 127.0.0.1:")
    pg.start()
    await waitFor(() => late.log.includes("worker 127.0.0.1:"), 60_000, "the late worker to register", logs())
  })

  it("a worker whose table setup fails at first (as when workers race creating them on a fresh database) retries and registers", { timeout: 120_000 }, async () => {
    // PostgreSQL 15 lets only a database's owner create tables in its public schema: the worker's role starts without
    // that right, so its first CREATE TABLE fails as a racing one does, with a failed statement.
    psql("mea", "CREATE ROLE racer LOGIN")
    psql("mea", "CREATE DATABASE race")
    const url = pg.url.replace("//mea@", "//racer@").replace(/\/mea$/, "/race")
    const w = startWorker(workers.length + 1, url)
    workers.push(w)
    await new Promise((r) => setTimeout(r, 4000))
    expect(w.child.exitCode).toBe(null)
    expect(w.log).not.toContain("worker 127.0.0.1:")
    psql("race", "GRANT CREATE ON SCHEMA public TO racer")
    await waitFor(() => w.log.includes("worker 127.0.0.1:"), 60_000, "the worker to register once it may create its tables", logs())
    expect(w.log).toContain(`on cluster ${url}`)
    w.child.kill("SIGKILL")
  })

  it("a cluster without a store, and an unreachable database, are one clear error each", () => {
    const noStore = cli(["run", "p.yaml", "--cluster", pg.url, "--cache", "e1"], dir, { MEA_STORE: "" })
    expect(noStore.code).toBe(2)
    expect(noStore.stderr.trim()).toBe("error: --cluster needs a shared store (--store s3://... or MEA_STORE): workers exchange artifacts through it")
    const down = cli(["run", "p.yaml", "--cluster", "postgres://mea:hunter2@127.0.0.1:9/mea", "--store", store, "--cache", "e2"], dir, env)
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/^error: cannot reach the cluster database postgres:\/\/mea:\*\*\*@127\.0\.0\.1:9\/mea: /m)
    expect(down.stderr).not.toContain("hunter2")
  })
})
