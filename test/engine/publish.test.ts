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

  it("leaves a copy that already holds the same bytes alone, and replaces one the user changed", async () => {
    const from = fs.mkdtempSync(path.join(os.tmpdir(), "mea-pub-from-"))
    const to = fs.mkdtempSync(path.join(os.tmpdir(), "mea-pub-to-"))
    fs.writeFileSync(path.join(from, "a.md"), "report")
    fs.writeFileSync(path.join(from, "b.md"), "plot")
    await Effect.runPromise(publishFiles(from, ["a.md", "b.md"], to))
    const before = fs.statSync(path.join(to, "a.md"))
    fs.writeFileSync(path.join(to, "b.md"), "edited")
    const written = await Effect.runPromise(publishFiles(from, ["a.md", "b.md"], to))
    expect(written).toEqual([path.join(to, "a.md"), path.join(to, "b.md")])
    // Same inode: not rewritten (a rename would have given a new one).
    expect(fs.statSync(path.join(to, "a.md")).ino).toBe(before.ino)
    expect(fs.readFileSync(path.join(to, "b.md"), "utf8")).toBe("plot")
    // A copy whose mode the user changed is written again, with the mode a published file has.
    fs.chmodSync(path.join(to, "a.md"), 0o444)
    await Effect.runPromise(publishFiles(from, ["a.md"], to))
    expect(fs.statSync(path.join(to, "a.md")).mode & 0o777).toBe(0o644)
  })
})
