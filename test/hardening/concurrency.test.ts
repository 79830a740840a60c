/**
 * Runs that share a cache: started at the same instant, with different params, and with `mea gc` in the middle.
 * Each node is computed once in total, every run succeeds, and gc never deletes what a live run needs.
 * No timing assumptions: the tests wait for states on disk, never for durations.
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { cli, cliAsync, project } from "../engine/helpers.ts"

const PIPELINE = `
params: { v: 7, k: 1 }
stages:
  src: { uses: source, with: { value: "\${v}" } }
  left: { uses: slow, inputs: { a: src }, with: { ms: 600, mb: 2 } }
  right: { uses: slow, inputs: { a: src }, with: { ms: 500, mb: 1 } }
  sum: { uses: digest, inputs: { a: left }, with: { k: "\${k}" } }
  join: { uses: add, inputs: { a: sum, more: [right] }, with: { k: "\${k}" } }
`

const lines = (log: string) => fs.readFileSync(log, "utf8").trim().split("\n").sort()
const statusOf = (stdout: string): Record<string, string> =>
  Object.fromEntries((JSON.parse(stdout) as { nodes: Array<{ id: string; status: string }> }).nodes.map((n) => [n.id, n.status]))

const waitFor = async (cond: () => boolean, what: string) => {
  const until = Date.now() + 120_000
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe("concurrency", () => {
  it("two runs of one pipeline started together on a fresh cache both succeed and compute each node once in total", async () => {
    const dir = project({ "p.yaml": PIPELINE })
    const log = path.join(dir, "runs.log")
    const [a, b] = await Promise.all([
      cliAsync(["run", "p.yaml", "--json", "-j", "2"], dir, { MEA_TEST_LOG: log }).done,
      cliAsync(["run", "p.yaml", "--json", "-j", "2"], dir, { MEA_TEST_LOG: log }).done,
    ])
    expect([a.code, b.code]).toEqual([0, 0])
    expect(lines(log)).toEqual(["join", "left", "right", "src", "sum"])
    // Between them, every node ran exactly once; the other run took the result.
    const sa = statusOf(a.stdout)
    const sb = statusOf(b.stdout)
    for (const id of Object.keys(sa)) expect([sa[id], sb[id]].sort()).toEqual(["cached", "ran"])
    expect(JSON.parse(a.stdout).nodes.map((n: { output: string }) => n.output)).toEqual(JSON.parse(b.stdout).nodes.map((n: { output: string }) => n.output))
    const v = cli(["verify"], dir)
    expect(v.stdout).toContain("5 artifacts verified, 0 corrupt")
    expect(fs.readdirSync(path.join(dir, "cache", "locks"))).toEqual([])
    expect(fs.readdirSync(path.join(dir, "cache", "tmp"))).toEqual([])
    expect(fs.readdirSync(path.join(dir, "cache", "active"))).toEqual([])
  })

  it("two runs with different params at once share what they have in common and each get their own results", async () => {
    const dir = project({ "p.yaml": PIPELINE })
    const log = path.join(dir, "runs.log")
    const [a, b] = await Promise.all([
      cliAsync(["run", "p.yaml", "--json", "-p", "k=1"], dir, { MEA_TEST_LOG: log }).done,
      cliAsync(["run", "p.yaml", "--json", "-p", "k=2"], dir, { MEA_TEST_LOG: log }).done,
    ])
    expect([a.code, b.code]).toEqual([0, 0])
    // src, left and right do not depend on k: once in total. sum and join do: once per k.
    expect(lines(log)).toEqual(["join", "join", "left", "right", "src", "sum", "sum"])
    const left = 2 * (1 << 20) // slow writes mb MiB of the byte 7 (rounded to 20 equal steps)
    const sum = Math.round(left / 20) * 20 * 7
    const right = 7
    const out = (r: { stdout: string }) => Object.fromEntries((JSON.parse(r.stdout) as { nodes: Array<{ id: string; output: string }> }).nodes.map((n) => [n.id, n.output]))
    const join = (r: { stdout: string }) => JSON.parse(cli(["show", out(r).join, "--json"], dir).stdout).n
    expect(join(a)).toBe(sum + 1 + right + 1)
    expect(join(b)).toBe(sum + 2 + right + 2)
    expect(out(a).left).toBe(out(b).left)
    expect(cli(["verify"], dir).stdout).toContain("7 artifacts verified, 0 corrupt")
  })

  it("mea gc during a run waits for it and deletes nothing the run needs", async () => {
    const dir = project({ "p.yaml": PIPELINE.replace("ms: 600", "ms: 3000"), "old.yaml": "stages:\n  x: { uses: source, with: { value: 99 } }\n" })
    const log = path.join(dir, "runs.log")
    // Something gc may delete: the output of another pipeline whose run record is then superseded.
    expect(cli(["run", "old.yaml"], dir).code).toBe(0)
    fs.writeFileSync(path.join(dir, "old.yaml"), "stages:\n  x: { uses: source, with: { value: 98 } }\n")
    expect(cli(["run", "old.yaml"], dir).code).toBe(0)
    const run = cliAsync(["run", "p.yaml", "--json"], dir, { MEA_TEST_LOG: log })
    // Wait until the run has published src and is writing left's blob: src is not yet in any run record.
    await waitFor(() => {
      const tmp = path.join(dir, "cache", "tmp")
      return fs.existsSync(tmp) && fs.readdirSync(tmp).some((d) => fs.existsSync(path.join(tmp, d, "blob.bin")))
    }, "the run to be in the middle of a slow stage")
    const gc = cliAsync(["gc"], dir)
    const [r, g] = await Promise.all([run.done, gc.done])
    expect(r.code).toBe(0)
    expect(g.code).toBe(0)
    expect(g.stderr).toMatch(/waiting {2}a run is in progress on this cache: pid \d+ \(.*p\.yaml\); gc starts when it ends/)
    // gc removed the superseded output of old.yaml (value 99), and nothing of p.yaml's.
    expect(g.stdout).toMatch(/^removed 1 artifacts .*; kept 6$/m)
    const again = cli(["run", "p.yaml", "--json"], dir, { MEA_TEST_LOG: log })
    expect(again.code).toBe(0)
    expect(Object.values(statusOf(again.stdout))).toEqual(["cached", "cached", "cached", "cached", "cached"])
    expect(lines(log)).toEqual(["join", "left", "right", "src", "sum"])
    expect(cli(["verify"], dir).stdout).toContain("6 artifacts verified, 0 corrupt")
  })

  it("a run started while gc holds the cache waits for gc", async () => {
    const dir = project({ "p.yaml": PIPELINE })
    // A gc lock held by a live process (this test) stands for a gc in progress.
    fs.mkdirSync(path.join(dir, "cache", "locks"), { recursive: true })
    const lock = path.join(dir, "cache", "locks", "gc.lock")
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: (await import("node:os")).hostname(), node: "gc", since: new Date().toISOString() }))
    const run = cliAsync(["run", "p.yaml"], dir)
    await waitFor(() => run.output().stderr.includes("is cleaning this cache"), "the run to say it waits")
    expect(fs.existsSync(path.join(dir, "cache", "objects"))).toBe(false)
    fs.rmSync(lock)
    const r = await run.done
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/waiting {2}mea gc \(pid \d+\) is cleaning this cache; the run starts when it is done/)
  })
})
