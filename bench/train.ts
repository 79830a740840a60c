/**
 * Training throughput: mea's engine (ONNX forward/backward graphs on onnxruntime through mea's in-place binding, loss in
 * JS, AdamW and dropout masks on the binding's native kernels; or their fallbacks where it cannot be built) against
 * PyTorch (Debian python3-torch) on the same work: the attention net, 3072 -> 384, batch 256, triplet loss plus the
 * v2 alignment regulariser, AdamW; random data; both on the same number of threads.
 *
 *   npx tsx bench/train.ts [steps=10] [threads=2]
 */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { python } from "./peak.ts"
import { referenceStep } from "./reference-step.ts"

const steps = Number(process.argv[2] ?? 10)
const threads = Number(process.argv[3] ?? 2)
const warmup = 2
const inDim = 3072
const outDim = 384
const batch = 256

interface Throughput {
  /** Over all timed steps. */
  readonly mean: number
  /** From the median step time: less sensitive to other load on the machine. */
  readonly median: number
}

let binding = ""
const runMea = async (): Promise<Throughput> => {
  const step = await referenceStep(inDim, outDim, batch, threads)
  binding = step.binding
  for (let i = 0; i < warmup; i++) await step.run()
  const times: Array<number> = []
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now()
    await step.run()
    times.push((performance.now() - t0) / 1000)
  }
  await step.release()
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]
  return { mean: (steps * batch) / times.reduce((a, b) => a + b, 0), median: batch / median }
}

const runTorch = (): Throughput | undefined => {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "train_torch.py")
  const r = spawnSync(python, [script, String(inDim), String(outDim), String(batch), String(steps), String(warmup), String(threads)], {
    encoding: "utf8",
  })
  if (r.status !== 0) {
    console.error(`PyTorch side failed (is python3-torch installed? apt-get install -y python3-torch):\n${r.stderr}`)
    return undefined
  }
  const line = r.stdout.trim().split("\n").at(-1) ?? ""
  const out = JSON.parse(line) as { samples_per_s: number; median_samples_per_s: number }
  return { mean: out.samples_per_s, median: out.median_samples_per_s }
}

const show = (t: Throughput): string => `${t.mean.toFixed(1)} samples/s (median step: ${t.median.toFixed(1)} samples/s)`
console.log(`attention net ${inDim}->${outDim}, batch ${batch}, ${steps} timed steps after ${warmup} warm-up, ${threads} threads`)
const mea = await runMea()
console.log(`mea (onnxruntime fwd/bwd graphs, ${binding} binding): ${show(mea)}`)
const torch = runTorch()
if (torch !== undefined) {
  console.log(`PyTorch:                          ${show(torch)}`)
  console.log(`ratio mea / PyTorch:              ${(mea.mean / torch.mean).toFixed(2)}x (median steps: ${(mea.median / torch.median).toFixed(2)}x)`)
}
