import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { cli, project, ran, runIn, testPlugin } from "./helpers.ts"

/** A folder listed by `src`, then edited by a downstream node while it runs (as decode reads audio a loader listed). */
const downstream = (target: string) => `
name: watch
stages:
  src:
    uses: source
    with: { value: 1 }
    inputs: { dir: data }
  editor:
    uses: edit
    inputs: { a: src }
    with: { target: "${target}", text: " edited" }
  after:
    uses: add
    inputs: { a: editor }
`

describe("inputs on disk that change while the run uses them", () => {
  it("a folder an ancestor listed, modified during a downstream node: that node fails naming the file, nothing is kept under its key, a rerun computes from the new content", async () => {
    const dir = project({ "data/a.txt": "one", "data/b.txt": "two" })
    const target = path.join(dir, "data", "b.txt")
    const first = await runIn(dir, downstream(target))
    expect(first.status).toEqual({ src: "ran", editor: "failed", after: "skipped" })
    const message = first.failed.map((f) => f.message).join("\n")
    expect(message).toContain(`input 'dir' of node 'src': in folder ${path.join(dir, "data")}, b.txt was modified`)
    expect(message).toContain("the output of 'editor' was not kept")
    // The file already holds the edit: the listing is new, so src reruns and editor, editing nothing, succeeds.
    const second = await runIn(dir, downstream(target))
    expect(ran(second)).toEqual(["after", "editor", "src"])
    expect(ran(await runIn(dir, downstream(target)))).toEqual([])
  })

  it("a file added to a listed folder mid-run is named", async () => {
    const dir = project({ "data/a.txt": "one" })
    const r = await runIn(dir, downstream(path.join(dir, "data", "new.txt")))
    expect(r.status.editor).toBe("failed")
    expect(r.failed[0].message).toContain("new.txt was added")
  })

  it("a node's own file input modified while it runs: exit 1 through the CLI, named, and no stack trace", () => {
    const dir = project({ "in.txt": "hello" })
    const target = path.join(dir, "in.txt")
    fs.writeFileSync(
      path.join(dir, "pipeline.yaml"),
      `name: own\nstages:\n  editor:\n    uses: edit\n    inputs: { file: in.txt }\n    with: { target: "${target}", text: " world" }\n`,
    )
    const env = { MEA_PLUGINS: testPlugin() }
    const r = cli(["run", "pipeline.yaml"], dir, env)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`input 'file' of node 'editor': ${target} was modified while this run used it`)
    expect(r.stderr).not.toMatch(/\n\s+at /)
    const again = cli(["run", "pipeline.yaml"], dir, env)
    expect(again.code).toBe(0)
    expect(fs.readFileSync(target, "utf8")).toBe("hello world")
  })
})
