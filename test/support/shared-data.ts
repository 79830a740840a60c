/**
 * Tests that need data from outside the repository: the original implementation's files in ../shared (beside the
 * checkout). Where they are absent, a suite is skipped with one line that names it and the path it looked for; under
 * MEA_REQUIRE_SHARED=1 (set by .ci/run, where ../shared is always laid out) an absent file fails the suite instead,
 * so CI cannot pass by skipping the parity tests.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, it } from "vitest"

/** ../shared of this checkout. */
export const SHARED = path.resolve(import.meta.dirname, "../../../shared")

export const sharedPath = (...parts: ReadonlyArray<string>): string => path.join(SHARED, ...parts)

const required = process.env.MEA_REQUIRE_SHARED === "1"

/**
 * `describe(name, body)` when every one of `files` (paths under ../shared) exists; otherwise one skip line, or, where
 * the shared data is required, one failing test that says which file is missing.
 */
export const describeWithShared = (name: string, files: ReadonlyArray<string>, body: () => void): void => {
  const missing = files.map((f) => sharedPath(f)).filter((f) => !fs.existsSync(f))
  if (missing.length === 0) {
    describe(name, body)
    return
  }
  const why = `needs ${missing.join(", ")} (the original implementation's files beside the checkout)`
  if (required) {
    describe(name, () => {
      it("has its shared data", () => {
        throw new Error(`${name} ${why}; MEA_REQUIRE_SHARED=1 makes this a failure`)
      })
    })
    return
  }
  process.stdout.write(`skipped: ${name}: ${why}\n`)
  describe.skip(name, body)
}
