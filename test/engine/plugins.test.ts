/** MEA_PLUGINS through the real CLI: a bad plugin is a usage error that names the module, never a crash. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { cli } from "./helpers.ts"

const work = fs.mkdtempSync(path.join(os.tmpdir(), "mea-plugins-"))
const write = (name: string, text: string) => {
  fs.writeFileSync(path.join(work, name), text)
  return name
}

const expectUsage = (r: ReturnType<typeof cli>, ...parts: ReadonlyArray<string>) => {
  expect(r.code).toBe(2)
  for (const p of parts) expect(r.stderr).toContain(p)
  expect(r.stderr).not.toMatch(/\n\s+at /) // no stack trace
  expect(r.stderr.trim().split("\n")).toHaveLength(1)
}

describe("MEA_PLUGINS", () => {
  it("loads a plugin's stages (the test plugin's appear in `mea stages`)", () => {
    const r = cli(["stages"], work)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^slow /m)
  })

  it("a missing module: exit 2, names it", () => {
    expectUsage(cli(["stages"], work, { MEA_PLUGINS: "nope.ts" }), "MEA_PLUGINS: nope.ts: no such file")
  })

  it("a module that throws while loading: exit 2, names it and the error", () => {
    const f = write("throws.mjs", 'throw new Error("plugin exploded")\n')
    expectUsage(cli(["stages"], work, { MEA_PLUGINS: f }), `MEA_PLUGINS: ${f} failed to load`, "plugin exploded")
  })

  it("a module without `stages`: exit 2, says what it must export", () => {
    const f = write("empty.mjs", "export const nothing = 1\n")
    expectUsage(cli(["stages"], work, { MEA_PLUGINS: f }), `${f} must export 'stages'`)
  })

  it("a stage name that is already registered: exit 2, names both sources", () => {
    const f = write(
      "dup.mjs",
      'export const stages = [{ name: "train", version: 1, description: "x", inputs: {}, run: () => null, output: { name: "x" } }]\n',
    )
    expectUsage(cli(["stages"], work, { MEA_PLUGINS: f }), `MEA_PLUGINS module ${f} registers stage 'train', which mea already registers`)
  })
})
