import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { FileState, globToRegExp } from "../../src/runtime/file-state.ts"
import { project } from "./helpers.ts"

describe("input hashing", () => {
  it("reads each file once, then trusts (path, size, mtime, inode)", () => {
    const files: Record<string, string> = {}
    for (let i = 0; i < 50; i++) files[`audio/${i % 5}/${i}.wav`] = `track ${i}`
    const dir = project(files)
    const past = new Date(Date.now() - 60_000)
    for (const f of Object.keys(files)) fs.utimesSync(path.join(dir, f), past, past)
    const state = path.join(dir, "state.json")
    const first = new FileState(state)
    const a = first.hashDir(path.join(dir, "audio"), "**/*.wav")
    expect(first.hashedCount).toBe(50)
    first.save()
    const second = new FileState(state)
    const b = second.hashDir(path.join(dir, "audio"), "**/*.wav")
    expect(second.hashedCount).toBe(0)
    expect(b.hash).toBe(a.hash)
    // a real change is seen: new content, new mtime
    fs.writeFileSync(path.join(dir, "audio/0/0.wav"), "changed")
    const third = new FileState(state)
    expect(third.hashDir(path.join(dir, "audio"), "**/*.wav").hash).not.toBe(a.hash)
    expect(third.hashedCount).toBe(1)
  })

  it("globs: ** crosses folders, * does not, {a,b} chooses", () => {
    const re = globToRegExp("**/*.{mp3,wav}")
    expect(re.test("a.mp3")).toBe(true)
    expect(re.test("x/y/a.wav")).toBe(true)
    expect(re.test("x/a.flac")).toBe(false)
    expect(globToRegExp("*.txt").test("sub/a.txt")).toBe(false)
  })

  it("names a missing path", () => {
    const st = new FileState(path.join(project({}), "s.json"))
    expect(() => st.hashFile("/nonexistent/x.wav")).toThrow("/nonexistent/x.wav: no such file or folder")
  })
})
