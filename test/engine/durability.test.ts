import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { cli, cliAsync, project } from "./helpers.ts"

const PIPELINE = `
stages:
  src: { uses: source, with: { value: 7 } }
  big: { uses: slow, inputs: { a: src }, with: { ms: 4000, mb: 8 } }
  after: { uses: add, inputs: { a: big }, with: { k: 1 } }
`

const objectsIn = (cache: string): Array<string> => {
  const root = path.join(cache, "objects")
  return fs.existsSync(root) ? fs.readdirSync(root).flatMap((d) => fs.readdirSync(path.join(root, d))) : []
}

const waitFor = async (cond: () => boolean, ms: number) => {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error("timed out waiting")
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe("durability", () => {
  it("kill -9 in the middle of a stage loses nothing finished and publishes nothing half-written", async () => {
    const dir = project({ "p.yaml": PIPELINE })
    const log = path.join(dir, "runs.log")
    const run = cliAsync(["run", "p.yaml"], dir, { MEA_TEST_LOG: log })
    // wait until the slow stage is writing its blob into staging
    await waitFor(() => {
      const tmp = path.join(dir, "cache", "tmp")
      return fs.existsSync(tmp) && fs.readdirSync(tmp).some((d) => fs.existsSync(path.join(tmp, d, "blob.bin")))
    }, 30_000)
    run.child.kill("SIGKILL")
    await run.done
    // src finished and is published; the half-written output of big is not
    expect(objectsIn(path.join(dir, "cache")).length).toBe(1)
    const second = cli(["run", "p.yaml"], dir, { MEA_TEST_LOG: log })
    expect(second.code).toBe(0)
    expect(fs.readFileSync(log, "utf8").trim().split("\n")).toEqual(["src", "big", "big", "after"])
    const verify = cli(["verify"], dir)
    expect(verify.stdout).toContain("3 artifacts verified, 0 corrupt")
    expect(verify.code).toBe(0)
    // the rerun cleared the killed run's staging folder (activity.ts), so gc finds nothing abandoned
    expect(fs.readdirSync(path.join(dir, "cache", "tmp"))).toEqual([])
    expect(cli(["gc"], dir).stdout).toMatch(/removed 0 artifacts .* 0 abandoned staging folders; kept 3/)
  })

  it("two concurrent runs on one cache both finish, computing each node once", async () => {
    const dir = project({ "p.yaml": PIPELINE.replace("ms: 4000", "ms: 1500") })
    const log = path.join(dir, "runs.log")
    const a = cliAsync(["run", "p.yaml"], dir, { MEA_TEST_LOG: log })
    await new Promise((r) => setTimeout(r, 150))
    const b = cliAsync(["run", "p.yaml"], dir, { MEA_TEST_LOG: log })
    const [ra, rb] = await Promise.all([a.done, b.done])
    expect(ra.code).toBe(0)
    expect(rb.code).toBe(0)
    const lines = fs.readFileSync(log, "utf8").trim().split("\n").sort()
    expect(lines).toEqual(["after", "big", "src"])
    expect(ra.stderr + rb.stderr).toMatch(/waiting  (src|big): pid \d+ is computing the same output/)
    expect(cli(["verify"], dir).stdout).toContain("3 artifacts verified, 0 corrupt")
  })

  it("a flipped byte in an artifact is detected and the artifact rebuilt, never used", () => {
    const dir = project({ "p.yaml": PIPELINE.replace("ms: 4000, mb: 8", "ms: 10, mb: 1") })
    expect(cli(["run", "p.yaml"], dir).code).toBe(0)
    const show = cli(["show", "big", "--json"], dir)
    expect(JSON.parse(show.stdout)).toEqual({ n: 7, file: "blob.bin" })
    const hash = cli(["ls", "--json"], dir)
    const big = (JSON.parse(hash.stdout) as Array<{ hash: string; node: string }>).find((a) => a.node === "big")!
    const blob = path.join(dir, "cache", "objects", big.hash.slice(0, 2), big.hash, "blob.bin")
    const bytes = fs.readFileSync(blob)
    bytes[1000] ^= 0xff
    fs.chmodSync(blob, 0o644)
    fs.writeFileSync(blob, bytes)
    const again = cli(["run", "p.yaml", "--json"], dir)
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("is corrupt (file blob.bin does not match its hash in its first 65536 bytes); rebuilding it")
    const status = Object.fromEntries((JSON.parse(again.stdout) as { nodes: Array<{ id: string; status: string }> }).nodes.map((n) => [n.id, n.status]))
    expect(status).toEqual({ src: "cached", big: "ran", after: "cached" })
    expect(cli(["verify"], dir).stdout).toContain("0 corrupt")
  })

  it("mea verify finds corruption the cheap check would not reach and quarantines it", () => {
    const dir = project({ "p.yaml": PIPELINE.replace("ms: 4000, mb: 8", "ms: 10, mb: 6") })
    expect(cli(["run", "p.yaml"], dir).code).toBe(0)
    const big = (JSON.parse(cli(["ls", "--json"], dir).stdout) as Array<{ hash: string; node: string }>).find((a) => a.node === "big")!
    const blob = path.join(dir, "cache", "objects", big.hash.slice(0, 2), big.hash, "blob.bin")
    const bytes = fs.readFileSync(blob)
    bytes[5 << 20] ^= 0x01 // beyond the first 64 KiB that the cheap check reads
    fs.writeFileSync(blob, bytes)
    const v = cli(["verify"], dir)
    expect(v.code).toBe(1)
    expect(v.stdout).toContain(`corrupt ${big.hash.slice(0, 12)}: file blob.bin does not match its hash (quarantined; the next run rebuilds it)`)
    expect(cli(["run", "p.yaml"], dir).code).toBe(0)
    expect(cli(["verify"], dir).code).toBe(0)
  })
})
