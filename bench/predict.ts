/**
 * `mea predict` throughput. A small model is trained first (demo MTG + CAL500, 2 epochs: the model's quality does not
 * matter here), then the demo Emotify audio (default size: 60 songs, 20-30 s each) is tagged with its vocabulary:
 *  - predict, cold: decode, segment, features, label embeddings and predict all run;
 *  - predict, warm: the same command again (a stat per file, every node cached);
 * beside the baseline, the same work written as a pipeline (audio-files -> decode -> segment -> mert, label-embed,
 * predict) and run with `mea run`, cold on a copy of the same cache and then warm. Prints songs/s and the ratios, and
 * the bare CLI start as the floor of a warm run.
 * Usage: npx tsx bench/predict.ts [songs=60]
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const songs = Number(process.argv[2] ?? 60)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "mea-bench-predict-"))

const mea = (args: ReadonlyArray<string>, cache: string): number => {
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [path.join(root, "bin/mea.mjs"), ...args, "--cache", cache], { cwd: work, env: { ...process.env, CI: "1" }, encoding: "utf8", maxBuffer: 1 << 26 })
  if (r.status !== 0) throw new Error(`mea ${args.join(" ")} failed: ${r.stderr}`)
  return (performance.now() - t0) / 1000
}

const train = fs
  .readFileSync(path.join(root, "test/predict/tiny.yaml"), "utf8")
  .replace("emotify: 10 }", `emotify: ${songs} }`)
fs.writeFileSync(path.join(work, "train.yaml"), train)
const cacheA = path.join(work, "cache-a")
console.log(`predict bench: ${songs} demo Emotify songs, ${os.availableParallelism()} cores, node ${process.version}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`)
const trainS = mea(["run", "train.yaml", "-q"], cacheA)
console.log(`(setup: demo data and a 2-epoch model in ${trainS.toFixed(1)} s)`)

const objects = path.join(cacheA, "objects")
const demoDir = fs
  .readdirSync(objects)
  .flatMap((d) => fs.readdirSync(path.join(objects, d)).map((h) => path.join(objects, d, h)))
  .find((dir) => fs.existsSync(path.join(dir, "emotify")) && fs.existsSync(path.join(dir, "mtg")))
if (demoDir === undefined) throw new Error("no demo-data artifact in the cache")
const audio = path.join(demoDir, "emotify")

const listed = spawnSync(process.execPath, [path.join(root, "bin/mea.mjs"), "ls", "--json", "--cache", cacheA], { cwd: work, encoding: "utf8" })
const trained = (JSON.parse(listed.stdout) as ReadonlyArray<{ hash: string; node: string | null }>).find((a) => a.node === "train")
if (trained === undefined) throw new Error("no trained model in the cache")
const modelDir = path.join(objects, trained.hash.slice(0, 2), trained.hash)

// The baseline pipeline: the same chain of stages with the same params predict uses, the model given as its stored
// folder (as predict does), so both runs hold the same nodes.
fs.writeFileSync(
  path.join(work, "tag.yaml"),
  `stages:
  songs:
    uses: audio-files
    inputs: { folder: ${JSON.stringify(audio)} }
  songs_decoded:
    uses: decode
    inputs: { dataset: songs }
    with: { on_error: skip }
  songs_segments:
    uses: segment
    inputs: { audio: songs_decoded }
    with: { short: drop }
  songs_features:
    uses: mert
    inputs: { audio: songs_decoded, segments: songs_segments }
  emotify_labels:
    uses: label-embed
    with: { labels: [amazement, solemnity, tenderness, nostalgia, calmness, power, joyful_activation, tension, sadness], name: emotify }
  tags:
    uses: predict
    inputs: { model_dir: ${JSON.stringify(modelDir)}, labels: emotify_labels, songs: [songs], audio: [songs_decoded], segments: [songs_segments], features: [songs_features] }
`,
)
const cacheB = path.join(work, "cache-b")
fs.cpSync(cacheA, cacheB, { recursive: true })

const predictArgs = ["predict", "train", audio, "--vocabulary", "emotify", "-q", "-o", path.join(work, "tags.txt")]
const coldPredict = mea(predictArgs, cacheA)
const warmPredict = Math.min(...[0, 1, 2].map(() => mea(predictArgs, cacheA)))
const coldPipeline = mea(["run", "tag.yaml", "-q"], cacheB)
const warmPipeline = Math.min(...[0, 1, 2].map(() => mea(["run", "tag.yaml", "-q"], cacheB)))

const t0 = performance.now()
for (let i = 0; i < 3; i++) spawnSync(process.execPath, [path.join(root, "bin/mea.mjs"), "stages"], { cwd: work, env: { ...process.env, CI: "1" } })
const bare = (performance.now() - t0) / 3000

const row = (name: string, s: number, note = "") =>
  console.log(`${name.padEnd(34)} ${s.toFixed(2).padStart(7)} s ${(songs / s).toFixed(1).padStart(8)} songs/s  ${note}`)
row("mea predict, cold", coldPredict, `${(coldPipeline / coldPredict).toFixed(2)}x the pipeline's speed`)
row("mea run of the same pipeline, cold", coldPipeline, "(baseline)")
row("mea predict, warm", warmPredict, `${(warmPipeline / warmPredict).toFixed(2)}x the pipeline's speed`)
row("mea run of the same pipeline, warm", warmPipeline, "(baseline)")
console.log(`${"bare CLI start (mea stages; the floor)".padEnd(34)} ${bare.toFixed(2).padStart(7)} s`)
console.log(`load average after: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`)
fs.rmSync(work, { recursive: true, force: true })
