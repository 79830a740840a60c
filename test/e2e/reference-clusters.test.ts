/**
 * examples/reference-clusters.yaml through the real CLI: the reference's own label embeddings, clustered with the
 * reference quantiles, give exactly the reference's cluster maps (../shared/reference/clusters/<pair>/label_map.json).
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { expect, it } from "vitest"
import { describeWithShared, sharedPath } from "../support/shared-data.ts"

const root = path.resolve(import.meta.dirname, "../..")
const REF = sharedPath("reference")
const cache = fs.mkdtempSync(path.join(os.tmpdir(), "mea-refclusters-"))

const mea = (args: ReadonlyArray<string>) =>
  spawnSync(process.execPath, [path.join(root, "bin/mea.mjs"), ...args, "--cache", cache], { cwd: root, encoding: "utf8", env: { ...process.env, CI: "1" } })

describeWithShared("examples/reference-clusters.yaml", ["reference/resources", "reference/clusters"], () => {
  it("reproduces the reference label maps of all three pairs", { timeout: 120_000 }, () => {
    const run = mea(["run", "examples/reference-clusters.yaml", "--json"])
    expect(run.status).toBe(0)
    const ids = (JSON.parse(run.stdout) as { nodes: Array<{ id: string }> }).nodes.map((n) => n.id)
    expect(ids).toEqual(["labels.jamendo", "labels.CAL500", "labels.emotify", "clusters.mtg_CAL500", "clusters.mtg_emotify", "clusters.CAL500_emotify"])
    expect(run.stderr).toContain("~0") // the near-zero bandwidth of two pairs is reported
    for (const pair of ["mtg_CAL500", "mtg_emotify", "CAL500_emotify"]) {
      const shown = mea(["show", `clusters.${pair}`, "--json", "--pipeline", "examples/reference-clusters.yaml"])
      expect(shown.status).toBe(0)
      const value = JSON.parse(shown.stdout) as { assignments: Array<{ dataset: string; label: string; cluster: number }>; bandwidth: number }
      // The reference map is a dict keyed by label name: for a name in both data sets the second data set's entry wins.
      const ours: Record<string, number> = {}
      for (const a of value.assignments) ours[a.label] = a.cluster
      const ref = JSON.parse(fs.readFileSync(path.join(REF, "clusters", pair, "label_map.json"), "utf8")) as Record<string, number>
      expect(ours).toEqual(ref)
    }
  })
})
