/**
 * Without PostgreSQL the cluster suite says so in one line, and under MEA_REQUIRE_POSTGRES=1 (.ci/run) it fails
 * instead: CI cannot pass by skipping it. Runs vitest on cluster.test.ts with PostgreSQL pointed at a missing folder.
 */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { repoRoot } from "../engine/helpers.ts"

const runClusterSuite = (extra: Record<string, string>) =>
  spawnSync(process.execPath, [path.join(repoRoot, "node_modules/vitest/vitest.mjs"), "run", "test/distributed/cluster.test.ts"], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, MEA_PG_BIN: "/nonexistent/pg", MEA_REQUIRE_POSTGRES: "", CI: "1", ...extra },
  })

describe("cluster suite without PostgreSQL", () => {
  it("skips with one line naming the suite and what it needs", { timeout: 120_000 }, () => {
    const r = runClusterSuite({})
    expect(r.status).toBe(0)
    const lines = r.stdout.split("\n").filter((l) => l.startsWith("skipped: "))
    expect(lines).toEqual(["skipped: cluster: 3 workers on PostgreSQL and S3: needs PostgreSQL 15 (/nonexistent/pg/pg_ctl; Debian: apt-get install postgresql-15)"])
  })

  it("fails under MEA_REQUIRE_POSTGRES=1", { timeout: 120_000 }, () => {
    const r = runClusterSuite({ MEA_REQUIRE_POSTGRES: "1" })
    expect(r.status).not.toBe(0)
    expect(r.stdout + r.stderr).toContain("cluster: 3 workers on PostgreSQL and S3 needs PostgreSQL 15 (/nonexistent/pg/pg_ctl; Debian: apt-get install postgresql-15); MEA_REQUIRE_POSTGRES=1 makes this a failure")
  })
})
