import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { cli, project } from "./helpers.ts"

const PIPELINE = `
params: { base: 1, k: 10 }
stages:
  src:
    uses: source
    with: { value: "\${base}" }
    inputs: { dir: corpus }
  total:
    uses: add
    inputs: { a: src }
    with: { k: "\${k}" }
results:
  - { name: total, node: total, path: n }
`

const setup = () => {
  const dir = project({ "p.yaml": PIPELINE, "corpus/a.txt": "a", "corpus/b.txt": "b", "corpus/sub/c.txt": "c" })
  expect(cli(["run", "p.yaml"], dir).code).toBe(0)
  return dir
}

describe("inspecting a pipeline and the cache", () => {
  it("status and explain name the changed param, the changed file and the bumped stage version", () => {
    const dir = setup()
    expect(cli(["status", "p.yaml"], dir).stdout).toMatch(/^cached {2}src {2}[0-9a-f]{12}\ncached {2}total {2}[0-9a-f]{12}\n$/)

    fs.writeFileSync(path.join(dir, "corpus/sub/c.txt"), "changed")
    fs.writeFileSync(path.join(dir, "corpus/d.txt"), "new")
    fs.rmSync(path.join(dir, "corpus/a.txt"))
    const explained = cli(["explain", "p.yaml", "src", "-p", "base=2"], dir)
    expect(explained.stdout).toBe(
      "src will run:\n  param value: 1 -> 2\n  input 'dir' (folder corpus): 3 files changed: d.txt (added), sub/c.txt (content changed), a.txt (removed)\n",
    )
    expect(cli(["explain", "p.yaml", "total", "-p", "k=3"], dir).stdout).toBe(
      "total will run unless its upstream outputs come out unchanged:\n  param k: 10 -> 3\n  input 'a': upstream 'src' will run first\n",
    )
    const bumped = cli(["explain", "p.yaml", "src"], dir, { MEA_TEST_SOURCE_VERSION: "2" })
    expect(bumped.stdout).toContain("stage 'source' version 1 -> 2")

    const dry = cli(["run", "p.yaml", "--dry-run"], dir)
    expect(dry.stdout).toContain("run    src: input 'dir' (folder corpus): 3 files changed")
    expect(dry.stdout).toContain("2 of 2 nodes would run")
    const status = JSON.parse(cli(["status", "p.yaml", "--json"], dir).stdout) as { nodes: Array<{ id: string; status: string }> }
    expect(status.nodes.map((n) => [n.id, n.status])).toEqual([["src", "stale"], ["total", "stale"]])
  })

  it("ls, show, diff and gc", () => {
    const dir = setup()
    expect(cli(["run", "p.yaml", "-p", "k=11"], dir).code).toBe(0)
    const ls = JSON.parse(cli(["ls", "--json"], dir).stdout) as Array<{ hash: string; node: string; stage: string }>
    expect(ls.map((a) => a.node).sort()).toEqual(["src", "total", "total"])
    const show = cli(["show", "total"], dir).stdout
    expect(show).toMatch(/^artifact [0-9a-f]{64}\nnode {5}total\nstage {4}add v1\n/)
    expect(show).toContain('params   {"k":11}')
    expect(show).toContain("n = 15") // 1 + 3 files in corpus + k
    const [old] = ls.filter((a) => a.node === "total").map((a) => a.hash).filter((h) => !show.includes(h))
    expect(cli(["show", old.slice(0, 8), "--json"], dir).stdout).toBe("{\n \"n\": 14\n}\n")
    expect(cli(["diff", old.slice(0, 10), "total"], dir).stdout).toBe("made with: params.k: 10 -> 11\ncontent: n: 14 -> 15\n")
    // gc keeps what the latest run of each params point reached: both points are still "latest" for their params
    expect(cli(["gc", "--dry-run"], dir).stdout).toMatch(/^would remove 0 artifacts/)
    const ambiguous = cli(["show", "zz"], dir)
    expect(ambiguous.code).toBe(2)
  })

  it("MEA_CACHE and --cache choose the cache folder", () => {
    const dir = project({ "p.yaml": "stages:\n  a: { uses: source, with: { value: 1 } }\n" })
    expect(cli(["run", "p.yaml"], dir, { MEA_CACHE: path.join(dir, "elsewhere") }).code).toBe(0)
    expect(fs.existsSync(path.join(dir, "elsewhere", "objects"))).toBe(true)
    expect(fs.existsSync(path.join(dir, "cache"))).toBe(false)
    expect(cli(["run", "p.yaml", "--cache", path.join(dir, "third")], dir).code).toBe(0)
    expect(fs.existsSync(path.join(dir, "third", "keys"))).toBe(true)
  })

  it("publishes a JSON Schema of pipeline.yaml with each stage's params", () => {
    const dir = project({})
    const schema = JSON.parse(cli(["schema"], dir).stdout) as {
      properties: { stages: { additionalProperties: { properties: { uses: { enum: Array<string> } } } } }
      $defs: { stageBranches: { allOf: Array<{ if: { properties: { uses: { const: string } } }; then: { properties: { with: { properties?: Record<string, unknown> } } } }> } }
    }
    expect(schema.properties.stages.additionalProperties.properties.uses.enum).toEqual(expect.arrayContaining(["decode", "train", "source"]))
    const source = schema.$defs.stageBranches.allOf.find((b) => b.if.properties.uses.const === "source")!
    expect(Object.keys(source.then.properties.with.properties ?? {})).toEqual(["value"])
  })
})
