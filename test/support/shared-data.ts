/**
 * Tests that need data from outside the repository: the original implementation's files in ../shared (beside the
 * checkout). Where they are absent, a suite is skipped with one line that names it and the path it looked for; under
 * MEA_REQUIRE_SHARED=1 (set by .ci/run, where ../shared is always laid out) an absent file fails the suite instead,
 * so CI cannot pass by skipping the parity tests.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describeIfPresent } from "./requires.ts"

/** ../shared of this checkout. */
export const SHARED = path.resolve(import.meta.dirname, "../../../shared")

export const sharedPath = (...parts: ReadonlyArray<string>): string => path.join(SHARED, ...parts)

/**
 * `describe(name, body)` when every one of `files` (paths under ../shared) exists; otherwise one skip line, or, under
 * MEA_REQUIRE_SHARED=1, one failing test that says which file is missing.
 */
export const describeWithShared = (name: string, files: ReadonlyArray<string>, body: () => void): void => {
  const missing = files.map((f) => sharedPath(f)).filter((f) => !fs.existsSync(f))
  describeIfPresent(
    name,
    missing.length === 0 ? undefined : `${missing.join(", ")} (the original implementation's files beside the checkout)`,
    "MEA_REQUIRE_SHARED",
    body,
  )
}
