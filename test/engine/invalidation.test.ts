import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { add, source } from "./test-stages.ts"
import { project, ran, registryOf, runIn } from "./helpers.ts"
import { defineStage } from "../../src/runtime/stage.ts"
import { Effect } from "effect"

const PIPELINE = `
name: inval
params:
  base: 1
  k: 10
stages:
  src:
    uses: source
    with: { value: "\${base}" }
    inputs: { file: data/input.txt }
  other:
    uses: source
    with: { value: 100 }
  plus:
    uses: add
    foreach: [1, 2]
    inputs: { a: src }
    with: { k: "\${item}" }
  total:
    uses: add
    inputs: { a: plus.1, more: [plus.2, other] }
    with: { k: "\${k}" }
`

const setup = () => project({ "data/input.txt": "hello" })

describe("invalidation matrix", () => {
  it("runs everything once, then nothing", async () => {
    const dir = setup()
    expect(ran(await runIn(dir, PIPELINE))).toEqual(["other", "plus.1", "plus.2", "src", "total"])
    expect(ran(await runIn(dir, PIPELINE))).toEqual([])
  })

  it("a changed param reruns only its dependents", async () => {
    const dir = setup()
    await runIn(dir, PIPELINE)
    expect(ran(await runIn(dir, PIPELINE, { params: ["k=11"] }))).toEqual(["total"])
    expect(ran(await runIn(dir, PIPELINE, { params: ["base=2"] }))).toEqual(["plus.1", "plus.2", "src", "total"])
    // back to a point already computed: all cached
    expect(ran(await runIn(dir, PIPELINE))).toEqual([])
  })

  it("a bumped stage version reruns the stage and what its new output feeds", async () => {
    const dir = setup()
    await runIn(dir, PIPELINE)
    const v2 = defineStage({
      name: "source",
      version: 2,
      description: source.description,
      params: source.paramsSchema,
      inputs: source.inputs,
      output: source.output,
      // the code changed meaning: it now adds one
      run: (ctx) => Effect.map(source.run(ctx), (v) => ({ n: (v as { n: number }).n + 1 })),
    })
    const r = await runIn(dir, PIPELINE, { registry: registryOf([v2, add]) })
    expect(ran(r)).toEqual(["other", "plus.1", "plus.2", "src", "total"])
  })

  it("changed input content reruns its dependents; a touch without change reruns nothing", async () => {
    const dir = setup()
    await runIn(dir, PIPELINE)
    const file = path.join(dir, "data/input.txt")
    const later = new Date(Date.now() + 5000)
    fs.utimesSync(file, later, later)
    expect(ran(await runIn(dir, PIPELINE))).toEqual([])
    fs.writeFileSync(file, "hello world")
    expect(ran(await runIn(dir, PIPELINE))).toEqual(["plus.1", "plus.2", "src", "total"])
  })

  it("reordered YAML keys, comments and formatting rerun nothing", async () => {
    const dir = setup()
    await runIn(dir, PIPELINE)
    const reordered = `
# a comment that was not there before
stages:
  total:
    with: {k: "\${k}"}     # same param
    inputs: {more: [plus.2, other], a: plus.1}
    uses: add
  plus:
    with:
      k: "\${item}"
    inputs:
      a: src
    foreach:
      - 1
      - 2
    uses: add
  other: {uses: source, with: {value: 100}}
  src:
    inputs: {file: data/input.txt}
    with: {value: "\${base}"}
    uses: source
params: {k: 10, base: 1}
name: inval
`
    expect(ran(await runIn(dir, reordered))).toEqual([])
  })

  it("early cutoff: an upstream that reruns with the same output stops the wave", async () => {
    const dir = setup()
    const yaml = `
params: { v: 10 }
stages:
  src: { uses: source, with: { value: "\${v}" } }
  floored: { uses: floor, inputs: { a: src }, with: { m: 5 } }
  after: { uses: add, inputs: { a: floored }, with: { k: 1 } }
  last: { uses: add, inputs: { a: after } }
`
    expect(ran(await runIn(dir, yaml))).toEqual(["after", "floored", "last", "src"])
    const r = await runIn(dir, yaml, { params: ["v=11"] })
    expect(ran(r)).toEqual(["floored", "src"])
    expect(r.status.after).toBe("cached")
    expect(r.status.last).toBe("cached")
  })

  it("a folder input reruns on a changed matching file, not on files outside its glob", async () => {
    const dir = project({ "corpus/a.txt": "a", "corpus/sub/b.txt": "b", "corpus/notes.md": "x" })
    const yaml = `
stages:
  count: { uses: source, with: { value: 0 }, inputs: { dir: corpus } }
`
    const first = await runIn(dir, yaml)
    expect(first.nodes[0].status).toBe("ran")
    fs.writeFileSync(path.join(dir, "corpus/notes.md"), "changed, but not a .txt")
    expect(ran(await runIn(dir, yaml))).toEqual([])
    fs.writeFileSync(path.join(dir, "corpus/sub/c.txt"), "new")
    expect(ran(await runIn(dir, yaml))).toEqual(["count"])
  })

  it("a failing node stops its dependents only; finished nodes stay cached", async () => {
    const dir = setup()
    const yaml = `
stages:
  a: { uses: source, with: { value: 1 } }
  b: { uses: fail, inputs: { a: a } }
  c: { uses: add, inputs: { a: b } }
  d: { uses: add, inputs: { a: a } }
`
    const r = await runIn(dir, yaml)
    expect(r.status).toEqual({ a: "ran", b: "failed", c: "skipped", d: "ran" })
    expect(r.failed[0].message).toBe("data/broken.csv line 3: expected 4 columns, found 2")
    const again = await runIn(dir, yaml)
    expect(again.status).toEqual({ a: "cached", b: "failed", c: "skipped", d: "cached" })
  })
})
