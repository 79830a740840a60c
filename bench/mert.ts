/**
 * MERT inference throughput: a full-size MERT-v1-95M-architecture ONNX model with random weights (generated here by
 * tools/make-mert-fixture.ts's builder into bench/out/, not committed) run through mea's real path (OnnxRuntime
 * service, contract check, normalisation, first-step pooling), next to PyTorch eager (Debian python3-torch,
 * bench/mert_torch.py) on the same architecture, input shape and thread count. Prints segments/s, x realtime and the
 * ratio (goal >= 1.0x).
 *
 *   npx tsx bench/mert.ts [runs=3] [threads=2] [batch=1] [seconds=10]
 */
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { MERT_SAMPLE_RATE, resolveMertContract, runMertBatch } from "../src/features/mert-onnx.ts"
import { OnnxRuntime, OnnxRuntimeLive, type GraphOptimization } from "../src/onnx/runtime.ts"
import { buildMertModel, MERT_95M } from "../tools/make-mert-fixture.ts"

const runs = Number(process.argv[2] ?? 3)
const threads = Number(process.argv[3] ?? 2)
const batch = Number(process.argv[4] ?? 1)
const seconds = Number(process.argv[5] ?? 10)
const warmup = 1
const samples = seconds * MERT_SAMPLE_RATE
const here = path.dirname(fileURLToPath(import.meta.url))
const modelFile = path.join(here, "out", "mert-v1-95m-random.onnx")

if (!fs.existsSync(modelFile)) {
  const t = performance.now()
  fs.mkdirSync(path.dirname(modelFile), { recursive: true })
  const bytes = buildMertModel(MERT_95M)
  fs.writeFileSync(`${modelFile}.tmp`, bytes)
  fs.renameSync(`${modelFile}.tmp`, modelFile)
  console.log(`generated ${modelFile} (${(bytes.length / 2 ** 20).toFixed(0)} MiB) in ${((performance.now() - t) / 1000).toFixed(1)} s`)
}

let seed = 1
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32)
const segments = Array.from({ length: batch }, () => Float32Array.from({ length: samples }, () => rand() - 0.5))

const runOrt = (graphOptimization: GraphOptimization) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const session = yield* (yield* OnnxRuntime).session(modelFile, { threads, graphOptimization })
      const contract = yield* resolveMertContract(session)
      let shape = ""
      for (let i = 0; i < warmup; i++) {
        const r = yield* runMertBatch(session, contract, segments, "first")
        shape = `${batch} x ${r.layers} x ${r.dim} (from ${r.frames} frames)`
      }
      const t = performance.now()
      for (let i = 0; i < runs; i++) yield* runMertBatch(session, contract, segments, "first")
      const s = (performance.now() - t) / 1000
      return { seconds: s, segmentsPerS: (batch * runs) / s, shape }
    }).pipe(Effect.scoped, Effect.provide(OnnxRuntimeLive)),
  )

console.log(`bench/mert: MERT-v1-95M architecture, random weights, batch ${batch} x ${seconds} s at 24 kHz, ${runs} timed runs, ${threads} threads`)
const ort = await runOrt("all")
console.log(`mea (onnxruntime-node, graph optimisation all): ${ort.segmentsPerS.toFixed(3)} segments/s, ${(ort.segmentsPerS * seconds).toFixed(2)}x realtime  [${ort.shape}]`)

const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3"
const r = spawnSync(python, [path.join(here, "mert_torch.py"), String(batch), String(samples), String(runs), String(warmup), String(threads)], {
  encoding: "utf8",
  maxBuffer: 1 << 20,
})
if (r.status !== 0) {
  console.error(`PyTorch side failed (is python3-torch installed? apt-get install -y python3-torch):\n${r.stderr}`)
  process.exit(1)
}
const torch = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { torch: string; segments_per_s: number; shape: Array<number> }
console.log(`PyTorch ${torch.torch} eager:                      ${torch.segments_per_s.toFixed(3)} segments/s, ${(torch.segments_per_s * seconds).toFixed(2)}x realtime  [output ${torch.shape.join(" x ")}]`)
// Other processes on the machine skew wall-clock figures; say how busy it was.
console.log(`load average (1 min) at the end: ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} cores`)
console.log(`ratio mea / PyTorch: ${(ort.segmentsPerS / torch.segments_per_s).toFixed(2)}x (goal >= 1.0x)`)
