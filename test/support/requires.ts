/**
 * Suites that need something outside the repository (the original's files in ../shared, a PostgreSQL server). Where
 * it is absent, the suite is skipped with one line `skipped: <suite>: needs <what>`; where an environment variable
 * says it must be there (set by .ci/run, which installs it), its absence fails the suite instead, so CI cannot pass by
 * skipping.
 */
import { describe, it } from "vitest"

export const describeIfPresent = (
  name: string,
  /** What is missing, as "needs ..." will print it; undefined when everything is there. */
  missing: string | undefined,
  /** The environment variable that, set to 1, makes absence a failure. */
  requiredBy: string,
  body: () => void,
): void => {
  if (missing === undefined) {
    describe(name, body)
    return
  }
  const why = `needs ${missing}`
  if (process.env[requiredBy] === "1") {
    describe(name, () => {
      it(`has what it needs (${requiredBy}=1)`, () => {
        throw new Error(`${name} ${why}; ${requiredBy}=1 makes this a failure`)
      })
    })
    return
  }
  process.stdout.write(`skipped: ${name}: ${why}\n`)
  describe.skip(name, body)
}
