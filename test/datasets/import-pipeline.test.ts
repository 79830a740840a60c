/**
 * Option B end to end, through the CLI: a pipeline whose data set has `audio: none` (the original's JSON metadata,
 * with its authors' absolute audio paths), its segment index and features imported from `*_index.npy` /
 * `*_source.npy` files of the original's exact layout (written here by NumPy: (N, 13, D) float32 sources, a
 * structured index with a `track_id` field), then train and eval. Then the same pipeline with files that disagree:
 * each is a failed node (exit 1) whose message names the node, the file and what was expected, with no stack trace,
 * and the nodes that do not depend on the bad file stay cached.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { cliAsync, project } from "../engine/helpers.ts"

const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3"
const numpy = (dir: string, script: string): void => {
  const r = spawnSync(python, ["-c", `import numpy as np, json, os\n${script}`], { cwd: dir, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`python3 with numpy failed (apt-get install -y python3-numpy):\n${r.stderr}`)
}

// Emotify's vocabulary (a data set named emotify is held to it); the tracks use the first four.
const LABELS = ["amazement", "solemnity", "tenderness", "nostalgia", "calmness", "power", "joyful_activation", "tension", "sadness"]
const DIM = 8

/**
 * 48 tracks of an Emotify-like metadata JSON (keys "<n>,<genre>", absolute paths that do not exist here), two 10 s
 * segments each, split into the original's two parts; a track's rows carry its first label's direction so that the
 * net has something to learn. `bad` is a Python statement run on the arrays before they are saved.
 */
const writeOriginal = (dir: string, bad = ""): void =>
  numpy(
    dir,
    `
labels = ${JSON.stringify(LABELS)}
rng = np.random.default_rng(7)
meta, ids = {}, []
for i in range(48):
    key = f"{i + 1},{['classical', 'rock', 'pop', 'electronic'][i % 4]}"
    meta[key] = {"path": f"/renhangx/alignment/datasets/emotifymusic_wav/{key.split(',')[1]}/{i + 1}.wav", "mood/theme": [labels[i % 4], labels[(i + 1) % 4]]}
    ids += [key, key]
json.dump(meta, open("emotify_metadata.json", "w"))
x = rng.normal(0, 0.1, (len(ids), 13, ${DIM})).astype("float32")
for r, key in enumerate(ids):
    x[r, :, (int(key.split(",")[0]) - 1) % 4] += 1.0
parts = {"emotify-a": (x[:60], ids[:60]), "emotify-b": (x[60:], ids[60:])}
${bad}
for name, (src, names) in parts.items():
    folder = "featc" if name == "emotify-c" else "feats"
    os.makedirs(folder, exist_ok=True)
    np.save(f"{folder}/{name}_source.npy", src)
    idx = np.zeros(len(names), dtype=[("track_id", "U32"), ("segment", "i8")])
    idx["track_id"] = names
    idx["segment"] = np.arange(len(names))
    np.save(f"{folder}/{name}_index.npy", idx)
json.dump({"labels": labels, "embeddings": np.eye(9, 12).tolist()}, open("labels.json", "w"))
`,
  )

const PIPELINE = `stages:
  data: { uses: dataset, inputs: { metadata: emotify_metadata.json }, with: { format: reference-json, name: emotify, audio: none } }
  segments: { uses: import-segments, inputs: { folder: feats, dataset: data }, with: { parts: [emotify-a, emotify-b] } }
  features: { uses: import-features, inputs: { folder: feats, segments: segments }, with: { parts: [emotify-a, emotify-b], layers: 13, dim: ${DIM} } }
  labels: { uses: label-embed, inputs: { file: labels.json }, with: { provider: precomputed } }
  train:
    uses: train
    inputs: { features: [features], segments: [segments], datasets: [data], labels: [labels] }
    with: { net: linear, phase: baseline1, epochs: 3, patience: 3, batch: 16, lr: 0.01 }
  eval: { uses: eval, inputs: { model: train, features: features, segments: segments, dataset: data, labels: labels }, with: { split: all, k: 2 } }
`

/** Eval on features of a third part, in a folder of its own (so the training imports do not depend on it). */
const EVAL_APART = `  segments_c: { uses: import-segments, inputs: { folder: featc, dataset: data }, with: { parts: [emotify-c] } }
  features_c: { uses: import-features, inputs: { folder: featc, segments: segments_c }, with: { parts: [emotify-c] } }
  eval: { uses: eval, inputs: { model: train, features: features_c, segments: segments_c, dataset: data, labels: labels }, with: { split: all, k: 2 } }
`

const setUp = (bad = "", yaml = PIPELINE): string => {
  const dir = project({ "p.yaml": yaml, "feats/.keep": "" })
  fs.rmSync(path.join(dir, "feats/.keep"))
  writeOriginal(dir, bad)
  return dir
}

const run = (dir: string, ...args: Array<string>) => cliAsync(["run", "p.yaml", ...args], dir).done
const status = async (dir: string) => (await cliAsync(["status", "p.yaml"], dir).done).stdout
const errorLines = (stderr: string, dir: string) =>
  stderr
    .replaceAll(dir, "<dir>")
    .split("\n")
    .filter((l) => l.startsWith("error:"))
    .join("\n")
const noTrace = (stderr: string) => {
  expect(stderr).not.toMatch(/^\s+at /m)
  expect(stderr).not.toMatch(/node:internal|\.ts:\d+:\d+\)/)
}

describe("Option B through a pipeline: import-segments + import-features, then train and eval", () => {
  it("runs end to end on NumPy-written files, copies no matrix, and a rerun computes nothing", async () => {
    const dir = setUp()
    const r = await run(dir, "--json")
    expect(r.stderr).not.toMatch(/^error/m)
    expect(r.code).toBe(0)
    const summary = JSON.parse(r.stdout) as { nodes: Array<{ id: string; status: string; output?: string }> }
    const byId = new Map(summary.nodes.map((n) => [n.id, n]))
    for (const id of ["data", "segments", "features", "labels", "train", "eval"]) expect(byId.get(id)?.status).toBe("ran")
    // By reference: no object in the cache is as large as a source file.
    const biggest = Math.max(...fs.readdirSync(path.join(dir, "feats")).map((f) => fs.statSync(path.join(dir, "feats", f)).size))
    const objects = path.join(dir, "cache", "objects")
    const sizes = fs.readdirSync(objects).flatMap((d) => fs.readdirSync(path.join(objects, d)).map((f) => fs.statSync(path.join(objects, d, f)).size))
    const show = await cliAsync(["show", "features", "--pipeline", "p.yaml", "--json"], dir).done
    const features = JSON.parse(show.stdout) as { extractor: string; rows: number; sources: Array<{ path: string; rows: number }> }
    expect(features).toMatchObject({ extractor: "imported", rows: 96 })
    expect(features.sources.map((s) => [path.relative(dir, s.path), s.rows])).toEqual([["feats/emotify-a_source.npy", 60], ["feats/emotify-b_source.npy", 36]])
    expect(sizes.filter((s) => s >= biggest - 1024)).toEqual([])
    // The evaluation scored every imported segment (96 rows of 48 tracks) and learned the rows' label direction.
    const ev = await cliAsync(["show", "eval", "--pipeline", "p.yaml", "--json"], dir).done
    const evaluation = JSON.parse(ev.stdout) as { rows: number; row_tracks: Array<string>; metrics: { f1_macro: number; map_macro: number }; chance: { f1_macro: number } }
    expect(evaluation.rows).toBe(96)
    expect(new Set(evaluation.row_tracks).size).toBe(48)
    expect(Number.isFinite(evaluation.metrics.map_macro)).toBe(true)
    expect(evaluation.metrics.f1_macro).toBeGreaterThan(evaluation.chance.f1_macro)
    const again = await run(dir)
    expect(again.code).toBe(0)
    expect(await status(dir)).not.toMatch(/^(stale|missing)/m)
  }, 240_000)

  const failures: ReadonlyArray<{ name: string; bad: string; node: string; says: ReadonlyArray<string | RegExp>; cached: ReadonlyArray<string> }> = [
    {
      name: "an index record whose track_id is not in the metadata",
      bad: `parts["emotify-b"] = (parts["emotify-b"][0], parts["emotify-b"][1][:-1] + ["999,jazz"])`,
      node: "segments",
      says: ["node 'segments'", "feats/emotify-b_index.npy: record 35 has track_id \"999,jazz\", which is not a track of data set 'emotify'"],
      cached: ["data", "labels"],
    },
    {
      name: "a source with a different row count than its index",
      bad: `parts["emotify-b"] = (parts["emotify-b"][0][:-2], parts["emotify-b"][1])`,
      node: "features",
      says: ["node 'features'", /feats\/emotify-b_source\.npy has 34 rows but .*feats\/emotify-b_index\.npy has 36 records; each row needs its index record/],
      cached: ["data", "segments", "labels"],
    },
    {
      name: "a source of float64",
      bad: `parts["emotify-a"] = (parts["emotify-a"][0].astype("float64"), parts["emotify-a"][1])`,
      node: "features",
      says: ["node 'features'", "feats/emotify-a_source.npy: expected float32 ('<f4'), found '<f8'"],
      cached: ["data", "segments", "labels"],
    },
    {
      name: "a source whose rows are not 13 layers",
      bad: `parts["emotify-b"] = (parts["emotify-b"][0][:, :12], parts["emotify-b"][1])`,
      node: "features",
      says: ["node 'features'", `feats/emotify-b_source.npy: rows are 12 x ${DIM}, expected 13 x ${DIM} (params layers, dim)`],
      cached: ["data", "segments", "labels"],
    },
    {
      name: "a NaN in the training rows' features",
      bad: `parts["emotify-a"][0][:, 6, 3] = np.nan`,
      node: "train",
      says: ["node 'train'", /feats\/emotify-a_source\.npy: row \d+, layer 6, value 3 is NaN; features must be finite numbers/],
      cached: ["data", "segments", "features", "labels"],
    },
    {
      // Zero-shot as in the paper: evaluated on features imported apart from the training ones.
      name: "an infinity in features only evaluation reads",
      bad: `parts["emotify-c"] = (parts["emotify-b"][0].copy(), parts["emotify-b"][1])\nparts["emotify-c"][0][35, 12, 0] = np.inf`,
      node: "eval",
      says: ["node 'eval'", "featc/emotify-c_source.npy: row 35, layer 12, value 0 is Infinity; features must be finite numbers"],
      cached: ["data", "segments", "features", "labels"],
    },
  ]
  for (const f of failures) {
    it(`${f.name}: node '${f.node}' fails naming the file and what was expected, exit 1, upstream kept`, async () => {
      const yaml = f.node === "eval" ? PIPELINE.replace(/  eval: .*\n/, EVAL_APART) : PIPELINE
      const dir = setUp(f.bad, yaml)
      const r = await run(dir)
      const error = errorLines(r.stderr, dir)
      expect({ code: r.code, error }).toMatchObject({ code: 1 })
      for (const s of f.says) expect(error).toMatch(typeof s === "string" ? new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : s)
      noTrace(r.stderr)
      const st = await status(dir)
      for (const id of f.cached) expect(st).toMatch(new RegExp(`^cached {2}${id} `, "m"))
    }, 240_000)
  }
})
