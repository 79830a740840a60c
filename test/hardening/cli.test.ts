/** Colour only on a terminal, never under NO_COLOR; `script` gives the CLI a real pseudo-terminal. */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { repoRoot } from "../engine/helpers.ts"

const bin = path.join(repoRoot, "bin", "mea.mjs")
const ESC = /\x1b\[[0-9;]*m/
const hasScript = spawnSync("script", ["--version"]).status === 0
/** Runs `mea args` on a pseudo-terminal (util-linux script), returning what the terminal showed. */
const onTty = (args: string, env: Record<string, string | undefined>) =>
  spawnSync("script", ["-qec", `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} ${args}`, "/dev/null"], {
    encoding: "utf8",
    env: { ...process.env, CI: undefined, ...env },
  }).stdout

describe("colour", () => {
  it("help piped to another program has no escape codes", () => {
    const r = spawnSync(process.execPath, [bin, "--help"], { encoding: "utf8", env: { ...process.env, NO_COLOR: undefined } })
    expect(r.status).toBe(0)
    expect(r.stdout).toContain("USAGE")
    expect(r.stdout).not.toMatch(ESC)
  })
  it.runIf(hasScript)("help on a terminal is coloured, and is not under NO_COLOR", () => {
    expect(onTty("--help", { NO_COLOR: undefined })).toMatch(ESC)
    const plain = onTty("--help", { NO_COLOR: "1" })
    expect(plain).toContain("USAGE")
    expect(plain).not.toMatch(ESC)
  })
  it("argument errors piped have no escape codes either", () => {
    const r = spawnSync(process.execPath, [bin, "run"], { encoding: "utf8" })
    expect(r.status).toBe(2)
    expect(r.stdout + r.stderr).not.toMatch(ESC)
  })
})
