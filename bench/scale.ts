/**
 * The paper's scale on one machine. Synthetic features in mea's own on-disk format (features.npy, float32
 * (segments, 13, 768), 20 segments per track) at 20k, 80k and 215k segments (215k: the original's MTG train size,
 * 8.6 GB), written once into a scratch folder; then per size, each in a fresh process so peak RSS is per size:
 *   mea:     train (attention net, MERT layers 3/6/9/12, batch 256, triplet + v2 alignment regulariser, AdamW, one
 *            epoch, 1% of tracks held out for validation) through the train stage's core, then eval over the
 *            first 92k segments (the original's MTG test size; all of a smaller set) and the song vote;
 *   PyTorch: the same net, loss and optimiser, one epoch, over the same file read as the original reads it
 *            (numpy.load(mmap_mode="r"), a shuffled DataLoader indexing rows one by one).
 * Printed per size: wall time, samples/s, peak RSS, bytes read from disk (/proc/<pid>/io read_bytes: what missed the
 * page cache; rchar: what the process asked for), and the training step's GFLOP/s (from the median step, and over the
 * whole epoch with its set-up: column statistics, weight init, the first step's allocations, validation) next to this
 * machine's sgemm peak measured in the same run (onnxruntime MatMul, and numpy/OpenBLAS when available).
 *
 *   npx tsx bench/scale.ts [--sizes 20000,80000,215000] [--dir bench/out/scale] [--threads 2]
 *                          [--torch-steps N (cap PyTorch's epoch; default: the whole epoch)] [--no-torch]
 *                          [--in-memory-limit BYTES (training rows kept in memory up to this; default 256 MB)]
 */
import { Effect, Either } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { writeNpyFloat32, NpyFloat32Writer } from "../src/io/npy.ts"
import { MTG_LABELS } from "../src/datasets/vocabularies.ts"
import { evaluateModel, trainModel } from "../src/model/train-and-eval.ts"
import type { TrainSettings } from "../src/model/settings.ts"
import { EvaluationCodec, type Evaluation } from "../src/artifacts/evaluation.ts"
import type { Artifact, Progress } from "../src/runtime/stage.ts"
import { DatasetCodec, type Dataset } from "../src/artifacts/dataset.ts"
import { FEATURES_FILE, type Features } from "../src/artifacts/features.ts"
import { SEGMENT_FILE, type Segments } from "../src/artifacts/segments.ts"
import { VoteStage } from "../src/stages/vote.ts"
import { artifactOf, runStagePromise } from "../test/support/stage-harness.ts"
import { numpyPeak, ortPeak, python, stepFlops } from "./peak.ts"

const LAYERS = 13
const DIM = 768
const PER_TRACK = 20
const USED = [3, 6, 9, 12]
const BATCH = 256
const OUT = 384
const EVAL_ROWS = 92000

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i < 0 ? undefined : process.argv[i + 1]
}
const threads = Number(arg("--threads") ?? 2)
const root = path.resolve(import.meta.dirname, "..")
const scratch = path.resolve(arg("--dir") ?? path.join(root, "bench/out/scale"))

// ------------------------------------------------------------------------------------------------ shared helpers

/** A fixed random label per track (one of MTG's 56), and its tracks' splits: 1% validation, the rest train. */
const trackLabel = (t: number): number => (Math.imul(t + 1, 2654435761) >>> 0) % MTG_LABELS.length
const trackSplit = (t: number): "train" | "validation" => (t % 100 === 7 ? "validation" : "train")

const sizeDir = (rows: number) => path.join(scratch, `n${rows}`)

/** features.npy (rows x 13 x 768), segments.u32, labels.npy (one label id per row, for the PyTorch side). */
const writeSize = (rows: number): void => {
  const dir = sizeDir(rows)
  const file = path.join(dir, FEATURES_FILE)
  const expected = 128 + rows * LAYERS * DIM * 4
  if (fs.existsSync(file) && fs.statSync(file).size === expected && fs.existsSync(path.join(dir, "done"))) return
  fs.mkdirSync(dir, { recursive: true })
  const t0 = performance.now()
  // A bench fixture: a failed write should stop the bench with its message.
  const w = Either.getOrThrow(NpyFloat32Writer.open(file, rows, [LAYERS, DIM]))
  const chunk = 1024
  const buf = new Float32Array(chunk * LAYERS * DIM)
  // Each track's rows sit around a label-dependent pattern, so the loss has something to learn; xorshift noise.
  let s = 0x9e3779b9 ^ rows
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const n = Math.min(chunk, rows - r0)
    for (let r = 0; r < n; r++) {
      const label = trackLabel(Math.floor((r0 + r) / PER_TRACK))
      const base = r * LAYERS * DIM
      for (let i = 0; i < LAYERS * DIM; i++) {
        s ^= s << 13
        s ^= s >>> 17
        s ^= s << 5
        buf[base + i] = ((s >>> 0) / 4294967296 - 0.5) * 2 + ((i * 31 + label * 17) % 97 < 5 ? 1 : 0)
      }
    }
    Either.getOrThrow(w.write(n === chunk ? buf : buf.subarray(0, n * LAYERS * DIM)))
  }
  Either.getOrThrow(w.close())
  const table = new Uint32Array(rows * 4)
  const labels = new Int32Array(rows)
  for (let r = 0; r < rows; r++) {
    const t = Math.floor(r / PER_TRACK)
    table.set([t, r % PER_TRACK, 0, 0], r * 4)
    labels[r] = trackLabel(t)
  }
  fs.writeFileSync(path.join(dir, SEGMENT_FILE), new Uint8Array(table.buffer))
  Either.getOrThrow(writeNpyFloat32(path.join(dir, "labels.npy"), [rows], Float32Array.from(labels)))
  fs.writeFileSync(path.join(dir, "done"), "")
  console.log(`wrote ${file} (${(expected / 1e9).toFixed(2)} GB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
}

const labelEmbeddings = (): Float32Array => {
  let s = 12345
  return Float32Array.from({ length: MTG_LABELS.length * OUT }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    return s / 4294967296 - 0.5
  })
}

const procIo = (): { read_bytes: number; rchar: number } => {
  const text = fs.readFileSync("/proc/self/io", "utf8")
  const get = (k: string) => Number(new RegExp(`${k}: (\\d+)`).exec(text)?.[1] ?? 0)
  return { read_bytes: get("read_bytes"), rchar: get("rchar") }
}

// ------------------------------------------------------------------------------------------------ child: one size

interface MeaResult {
  readonly rows: number
  readonly prep_s: number
  readonly train_s: number
  readonly epoch_s: number
  readonly eval_s: number
  readonly vote_s: number
  readonly wall_s: number
  readonly samples: number
  readonly peak_rss_mb: number
  readonly read_bytes: number
  readonly rchar: number
  readonly val_f1: number
  readonly eval_rows: number
  /** Median time of a training step after the first (the first learns output shapes and allocates AdamW's memory). */
  readonly median_step_s: number
}

const child = async (rows: number): Promise<void> => {
  const t0 = performance.now()
  const dir = sizeDir(rows)
  const tracks = Math.ceil(rows / PER_TRACK)
  const datasetValue: Dataset = {
    name: "mtg",
    format: "reference-json",
    labels: [...MTG_LABELS],
    tracks: Array.from({ length: tracks }, (_, t) => ({ id: String(t), audio: `${t}.mp3`, labels: [MTG_LABELS[trackLabel(t)]], split: trackSplit(t) })),
    skipped: [],
  }
  const work = fs.mkdtempSync(path.join(scratch, "run-"))
  const dataset = artifactOf(DatasetCodec, datasetValue, fs.mkdtempSync(path.join(work, "d-")))
  const art = <A>(value: A): Artifact<A> => ({ value, hash: "bench", dir, node: `bench.n${rows}`, file: (n) => path.join(dir, n) })
  const features = art<Features>({
    dataset: "mtg",
    extractor: "onnx",
    pooling: "first",
    layers: LAYERS,
    dim: DIM,
    rows,
    file: FEATURES_FILE,
    layerNames: Array.from({ length: LAYERS }, (_, i) => `layer_${i}`),
    sampleRate: 24000,
  })
  const segments = art<Segments>({
    dataset: "mtg",
    rate: 24000,
    seconds: 10,
    hop: 10,
    length: 240000,
    short: "drop",
    file: SEGMENT_FILE,
    count: rows,
    tracks: datasetValue.tracks.map((t) => t.id),
    short_tracks: [],
  })
  const inputs = { features, segments, dataset, labels: { labels: [...MTG_LABELS], dim: OUT, matrix: labelEmbeddings() } }
  const clusters = MTG_LABELS.map((label, i) => ({ dataset: "mtg", label, cluster: i % 12 }))
  const settings: TrainSettings = {
    net: "attention",
    layers: USED,
    phase: "alignment",
    regulariser: "v2",
    alpha: 2.5,
    epochs: 1,
    patience: 20,
    batch: BATCH,
    lr: 1e-4,
    weight_decay: 0.01,
    seed: 0,
    batching: "max_size_cycle",
    upsample: {},
    negatives: 5,
    val_k: 2,
    lr_factor: 0.2,
    lr_patience: 10,
    lr_cooldown: 5,
    min_lr: 1.6e-7,
    standardise: true,
    shuffle: "auto",
  }
  const rowsOptions = arg("--in-memory-limit") === undefined ? {} : { rows: { inMemoryLimit: Number(arg("--in-memory-limit")) } }
  let trainStart = 0
  let epochEnd = 0
  const progress: Progress = {
    start: () => Effect.sync(() => void (trainStart = performance.now())),
    advance: () => Effect.sync(() => void (epochEnd = performance.now())),
    note: () => Effect.void,
    warn: () => Effect.void,
  }
  const modelDir = fs.mkdtempSync(path.join(work, "m-"))
  const stepEnds: Array<number> = []
  const onStep = () => void stepEnds.push(performance.now())
  const model = await Effect.runPromise(trainModel([inputs], clusters, settings, { outDir: modelDir, threads, progress, onStep, ...rowsOptions }))
  const stepTimes = stepEnds.slice(1).map((t, i) => t - stepEnds[i]).sort((a, b) => a - b)
  const trained = performance.now()
  const modelArt: Artifact<typeof model> = { value: model, hash: "bench", dir: modelDir, node: "bench.train", file: (n) => path.join(modelDir, n) }
  // Evaluation covers the first 92k segments (the size of the original's MTG test split), or all of a smaller set.
  const testTracks = Math.ceil(EVAL_ROWS / PER_TRACK)
  const evalDataset = artifactOf(
    DatasetCodec,
    { ...datasetValue, tracks: datasetValue.tracks.map((t, i) => ({ ...t, split: i < testTracks ? ("test" as const) : ("train" as const) })) },
    fs.mkdtempSync(path.join(work, "d-")),
  )
  const evalInputs = { ...inputs, dataset: evalDataset }
  const evalDir = fs.mkdtempSync(path.join(work, "e-"))
  const { NodeContext } = await import("@effect/platform-node")
  const evaluation = await Effect.runPromise(
    evaluateModel(modelArt, evalInputs, { split: "test", chance_draws: 20, seed: 0, k: 2 }, { outDir: evalDir, threads, progress, ...rowsOptions }).pipe(Effect.provide(NodeContext.layer)),
  )
  const evaluated = performance.now()
  const evalArt = artifactOf(EvaluationCodec, evaluation as Evaluation, evalDir)
  await runStagePromise(VoteStage, { params: { chance_draws: 20 }, inputs: { segments: evalArt, dataset: evalDataset } })
  const voted = performance.now()
  const trainRows = datasetValue.tracks.filter((t) => t.split === "train").length * PER_TRACK
  const io = procIo()
  const result: MeaResult = {
    rows,
    prep_s: (trainStart - t0) / 1000,
    train_s: (trained - t0) / 1000,
    epoch_s: (epochEnd - trainStart) / 1000,
    eval_s: (evaluated - trained) / 1000,
    vote_s: (voted - evaluated) / 1000,
    wall_s: (voted - t0) / 1000,
    samples: Math.min(trainRows, rows),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    read_bytes: io.read_bytes,
    rchar: io.rchar,
    val_f1: model.best_val_f1,
    median_step_s: (stepTimes[Math.floor(stepTimes.length / 2)] ?? NaN) / 1000,
    eval_rows: (evaluation as Evaluation).rows,
  }
  fs.rmSync(work, { recursive: true, force: true })
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

// ------------------------------------------------------------------------------------------------ parent

interface TorchResult {
  readonly rows: number
  readonly steps: number
  readonly samples: number
  readonly train_s: number
  readonly wall_s: number
  readonly samples_per_s: number
  readonly peak_rss_mb: number
  readonly read_bytes: number
  readonly rchar: number
}

const runTorch = (rows: number, maxSteps: number | undefined): TorchResult | string => {
  const r = spawnSync(
    python,
    [path.join(import.meta.dirname, "scale_torch.py"), sizeDir(rows), String(threads), String(BATCH), String(maxSteps ?? 0), USED.join(",")],
    { encoding: "utf8", maxBuffer: 1 << 24 },
  )
  if (r.status !== 0) return `PyTorch side failed (python3-torch and python3-numpy installed?): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`
  return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as TorchResult
}

const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`

const parent = async (): Promise<void> => {
  const sizes = (arg("--sizes") ?? "20000,80000,215000").split(",").map(Number)
  const noTorch = process.argv.includes("--no-torch")
  const torchSteps = arg("--torch-steps") === undefined ? undefined : Number(arg("--torch-steps"))
  fs.mkdirSync(scratch, { recursive: true })
  console.log(`scale bench: sizes ${sizes.join(", ")} segments x ${LAYERS} x ${DIM} float32, ${threads} threads, ${os.availableParallelism()} cores, node ${process.version}`)
  console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}; scratch ${scratch}`)
  const ort = await ortPeak(BATCH, threads)
  const np = numpyPeak(BATCH, threads)
  const peak = Math.max(ort, np ?? 0)
  console.log(`sgemm peak (256 x 3072 x 768): onnxruntime ${ort.toFixed(1)} GFLOP/s, numpy/OpenBLAS ${np === undefined ? "n/a" : `${np.toFixed(1)} GFLOP/s`}`)
  const flops = stepFlops(BATCH, USED.length * DIM, OUT)
  console.log(`training step: ${(flops / 1e9).toFixed(1)} GFLOP at batch ${BATCH}`)
  const results: Array<{ mea: MeaResult; torch?: TorchResult | string }> = []
  for (const n of sizes) {
    writeSize(n)
    const limit = arg("--in-memory-limit") === undefined ? [] : ["--in-memory-limit", arg("--in-memory-limit")!]
    const c = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, "--child", String(n), "--dir", scratch, "--threads", String(threads), ...limit], {
      encoding: "utf8",
      maxBuffer: 1 << 24,
    })
    if (c.status !== 0) {
      console.log(`n=${n}: mea failed: ${c.stderr.trim().split("\n").slice(-5).join(" | ")}`)
      continue
    }
    const mea = JSON.parse(c.stdout.trim().split("\n").at(-1)!) as MeaResult
    const sps = mea.samples / mea.epoch_s
    const steps = Math.ceil(mea.samples / BATCH)
    const gflops = (steps * flops) / mea.epoch_s / 1e9
    const stepGflops = flops / mea.median_step_s / 1e9
    const ofPeak = (g: number) => `${((100 * g) / peak).toFixed(0)}%`
    console.log(
      `n=${n} mea:     wall ${mea.wall_s.toFixed(1)} s (compile rows ${mea.prep_s.toFixed(1)} s, epoch ${mea.epoch_s.toFixed(1)} s, eval ${mea.eval_s.toFixed(1)} s, vote ${mea.vote_s.toFixed(1)} s); ` +
        `${sps.toFixed(1)} samples/s; median step ${(mea.median_step_s * 1000).toFixed(1)} ms, ${stepGflops.toFixed(1)} GFLOP/s = ${ofPeak(stepGflops)} of sgemm peak ` +
        `(whole epoch with its set-up and validation: ${gflops.toFixed(1)} GFLOP/s = ${ofPeak(gflops)}); eval ${mea.eval_rows} segments at ${(mea.eval_rows / mea.eval_s).toFixed(0)}/s; ` +
        `peak RSS ${mea.peak_rss_mb.toFixed(0)} MB; read from disk ${gb(mea.read_bytes)} (asked ${gb(mea.rchar)}); load ${os.loadavg()[0].toFixed(2)}`,
    )
    let torch: TorchResult | string | undefined
    if (!noTorch) {
      torch = runTorch(n, torchSteps)
      if (typeof torch === "string") console.log(`n=${n} PyTorch: ${torch}`)
      else {
        console.log(
          `n=${n} PyTorch: wall ${torch.wall_s.toFixed(1)} s (${torch.steps} steps${torchSteps !== undefined ? `, capped at ${torchSteps}` : ""}); ${torch.samples_per_s.toFixed(1)} samples/s; ` +
            `peak RSS ${torch.peak_rss_mb.toFixed(0)} MB; read from disk ${gb(torch.read_bytes)} (asked ${gb(torch.rchar)}); mea / PyTorch ${(sps / torch.samples_per_s).toFixed(2)}x; load ${os.loadavg()[0].toFixed(2)}`,
        )
      }
    }
    results.push({ mea, ...(torch === undefined ? {} : { torch }) })
  }
  if (results.length >= 2) {
    const sps = (m: MeaResult) => m.samples / m.epoch_s
    const first = results[0].mea
    const last = results[results.length - 1].mea
    const ratio = sps(last) / sps(first)
    console.log(`samples/s at ${last.rows} / at ${first.rows}: ${ratio.toFixed(2)} (goal >= 0.90: ${ratio >= 0.9 ? "met" : "NOT met"})`)
  }
  const maxRss = Math.max(...results.map((r) => r.mea.peak_rss_mb))
  if (results.length > 0) console.log(`largest mea peak RSS ${maxRss.toFixed(0)} MB (goal < 2048 MB: ${maxRss < 2048 ? "met" : "NOT met"})`)
  console.log(`load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
}

if (process.argv.includes("--child")) await child(Number(arg("--child")))
else await parent()
