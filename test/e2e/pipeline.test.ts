/**
 * The default pipeline end to end through the real CLI, on a reduced demo size: every stage, the report with the
 * 3 x 3 table, a warm rerun that runs nothing, and a sweep over alpha that reuses every upstream result.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "../..")
const work = fs.mkdtempSync(path.join(os.tmpdir(), "mea-e2e-"))
const small = ["-p", "demo_mtg=16", "-p", "demo_cal500=14", "-p", "demo_emotify=16", "-p", "epochs=2", "-p", "patience=2"]

const mea = (args: ReadonlyArray<string>) => {
  const r = spawnSync(process.execPath, [path.join(root, "bin/mea.mjs"), ...args, "--cache", path.join(work, "cache")], {
    cwd: work,
    env: { ...process.env, CI: "1" },
    encoding: "utf8",
    timeout: 540_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

interface NodeJson {
  readonly id: string
  readonly stage: string
  readonly status: string
}

describe("default pipeline, reduced demo size", () => {
  fs.copyFileSync(path.join(root, "pipeline.yaml"), path.join(work, "pipeline.yaml"))

  it("runs cold, writes the report, reruns nothing warm, and sweeps alpha reusing upstream results", { timeout: 900_000 }, () => {
    const cold = mea(["run", "pipeline.yaml", ...small, "--json"])
    expect(cold.stderr).not.toMatch(/FAILED/)
    expect(cold.code).toBe(0)
    const nodes = (JSON.parse(cold.stdout) as { nodes: ReadonlyArray<NodeJson> }).nodes
    expect(nodes.length).toBe(65) // 47 + 2 more song-level aggregations for each of the 9 votes
    expect(nodes.every((n) => n.status === "ran")).toBe(true)

    const results = JSON.parse(fs.readFileSync(path.join(work, "report/results.json"), "utf8")) as Record<string, unknown>
    expect(Object.keys(results)).toEqual(expect.arrayContaining(["segment", "song"]))
    const md = fs.readFileSync(path.join(work, "report/report.md"), "utf8")
    expect(md).toContain("0.402") // the published number next to the measured one
    expect(md).toMatch(/## Song level: three aggregations side by side[\s\S]*vote \d\.\d{4} · mean-score \d\.\d{4} · mean-embedding \d\.\d{4}/)
    expect(fs.readFileSync(path.join(work, "report/report.html"), "utf8")).toContain("<svg")

    const evalJson = JSON.parse(mea(["show", "eval.emo.alignment", "--json"]).stdout) as {
      labels: ReadonlyArray<string>
      k: number
      metrics: Record<string, number>
      truth: ReadonlyArray<ReadonlyArray<number>>
      predicted: ReadonlyArray<ReadonlyArray<number>>
    }
    expect(evalJson.k).toBe(3)
    expect(evalJson.labels).toHaveLength(9)
    expect(Object.keys(evalJson.metrics)).toEqual(
      expect.arrayContaining(["f1_macro", "precision_macro", "recall_macro", "hamming", "map_macro", "roc_auc_macro"]),
    )
    expect(evalJson.predicted.every((row) => row.reduce((a, b) => a + b, 0) === 3)).toBe(true)

    const exported = mea(["export", "train.emo.alignment", path.join(work, "model.onnx")])
    expect(exported.code).toBe(0)
    expect(exported.stdout).toMatch(/^wrote .*model\.onnx: input 'x' \(batch, \d+\), output 'embedding' \(batch, 100\)\n$/)
    expect(fs.statSync(path.join(work, "model.onnx")).size).toBeGreaterThan(1000)
    expect(mea(["export", "eval.emo.alignment", path.join(work, "x.onnx")]).stderr).toBe(
      "error: 'eval.emo.alignment' is an output of stage 'eval', not a trained model (stage 'train')\n",
    )

    fs.rmSync(path.join(work, "report"), { recursive: true })
    const warm = mea(["run", "pipeline.yaml", ...small, "--json"])
    expect(warm.code).toBe(0)
    expect((JSON.parse(warm.stdout) as { nodes: ReadonlyArray<NodeJson> }).nodes.every((n) => n.status === "cached")).toBe(true)
    expect(fs.existsSync(path.join(work, "report/report.md"))).toBe(true) // republished from the cache

    const sweep = mea(["sweep", "pipeline.yaml", "alpha=1,2.5", ...small, "--json"])
    expect(sweep.code).toBe(0)
    const points = (JSON.parse(sweep.stdout) as { points: ReadonlyArray<{ params: { alpha: number }; nodes: ReadonlyArray<NodeJson>; metrics: Record<string, number> }> }).points
    expect(points.map((p) => p.params.alpha)).toEqual([1, 2.5])
    const ranAt = (i: number) => points[i].nodes.filter((n) => n.status === "ran").map((n) => n.id).sort()
    // alpha only reaches the alignment models, their evaluations and the report
    expect(ranAt(0)).toEqual([
      "eval.cal.alignment", "eval.emo.alignment", "eval.mtg.alignment",
      "report",
      "train.cal.alignment", "train.emo.alignment", "train.mtg.alignment",
      ...["cal", "emo", "mtg"].flatMap((s) => ["mean-embedding", "mean-score", "vote"].map((g) => `vote.${s}.alignment.${g}`)),
    ])
    expect(ranAt(1)).toEqual([]) // alpha 2.5 is the default that already ran
    expect(Object.keys(points[0].metrics).length).toBe(6)
  })
})
