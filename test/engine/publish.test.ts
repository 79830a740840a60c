/** Publishing files into the project: atomic replacement, and no temp file of a killed publisher left behind. */
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { publishFiles } from "../../src/runtime/publish.ts"

describe("publishFiles", () => {
  it("replaces the named files and removes temp files that dead publishers left beside them", async () => {
    const from = fs.mkdtempSync(path.join(os.tmpdir(), "mea-pub-from-"))
    const to = fs.mkdtempSync(path.join(os.tmpdir(), "mea-pub-to-"))
    fs.writeFileSync(path.join(from, "a.md"), "new")
    fs.writeFileSync(path.join(to, "a.md"), "old")
    const dead = spawnSync("true").pid!
    fs.writeFileSync(path.join(to, `a.md.tmp-${dead}`), "half")
    // A live publisher's temp file (here: named after this process's parent, which is running) and other files are left alone.
    fs.writeFileSync(path.join(to, `a.md.tmp-${process.ppid}`), "in flight")
    fs.writeFileSync(path.join(to, "notes.txt"), "mine")
    await Effect.runPromise(publishFiles(from, ["a.md"], to))
    expect(fs.readFileSync(path.join(to, "a.md"), "utf8")).toBe("new")
    expect(fs.readdirSync(to).sort()).toEqual(["a.md", `a.md.tmp-${process.ppid}`, "notes.txt"])
  })
})
