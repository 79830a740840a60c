import { describe, expect, it } from "vitest"
import { stages } from "../../src/stages/index.ts"
import { cases } from "./malformed-cases.ts"
import { cliAsync, project, type CliResult } from "./helpers.ts"
import { stages as testStages } from "./test-stages.ts"

const stageNames = [...stages, ...testStages].map((s) => s.name).join(", ")

/** Runs all cases through the real CLI, four at a time. */
const runAll = async (): Promise<Map<string, CliResult & { dir: string }>> => {
  const results = new Map<string, CliResult & { dir: string }>()
  const queue = [...cases]
  const worker = async () => {
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
      const dir = project({ ...(c.yaml !== undefined ? { "p.yaml": c.yaml } : {}), ...(c.files ?? {}) })
      const r = await cliAsync(c.args ?? ["run", "p.yaml"], dir).done
      results.set(c.name, { ...r, dir })
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  return results
}

describe("malformed input", async () => {
  const results = await runAll()
  it("has at least 30 cases", () => expect(cases.length).toBeGreaterThanOrEqual(30))
  for (const c of cases) {
    it(c.name, () => {
      const r = results.get(c.name)!
      const expected = c.expected.replaceAll("<stages>", stageNames)
      expect(r.stderr.replaceAll(r.dir, "<dir>").trimEnd()).toBe(expected)
      expect(r.code).toBe(2)
      expect(r.stderr).not.toMatch(/^\s+at /m)
      expect(r.stdout).toBe("")
    })
  }
})
