/**
 * Training throughput: mea's engine (ONNX forward/backward graphs on onnxruntime, loss in JS, AdamW in WebAssembly) against
 * PyTorch (Debian python3-torch) on the same work: the attention net, 3072 -> 384, batch 256, triplet loss plus the
 * v2 alignment regulariser, AdamW; random data; both on the same number of threads.
 *
 *   npx tsx bench/train.ts [steps=10] [threads=2]
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { AdamW } from "../src/model/adamw.ts"
import { DropoutMasks, NetEngine } from "../src/model/forward-backward.ts"
import { alignmentRegulariser, tripletLoss } from "../src/model/loss.ts"
import { buildNet, initWeights, referenceConfig } from "../src/model/nets.ts"
import { Rng } from "../src/model/rng.ts"

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

const runMea = async (): Promise<Throughput> => {
  const config = referenceConfig("attention", inDim, outDim)
  const net = buildNet(config)
  const rng = new Rng(0, "bench")
  const weights = initWeights(net.params, rng)
  const engine = await NetEngine.create(net, inDim, { threads })
  const opt = new AdamW({ lr: 1e-4, weightDecay: 0.01 })
  const x = Float32Array.from({ length: batch * inDim }, () => rng.next() * 2 - 1)
  const positives = Float64Array.from({ length: batch * outDim }, () => rng.next() * 2 - 1)
  const negatives = Float64Array.from({ length: batch * outDim }, () => rng.next() * 2 - 1)
  const group = new Int32Array(batch)
  const clusters = Int32Array.from({ length: batch }, () => rng.int(8))
  const dropout = new DropoutMasks(net.masks)
  const step = async (): Promise<void> => {
    const masks = dropout.draw(batch, rng)
    const f = await engine.forward(weights, x, batch, masks)
    const t = tripletLoss({ rows: batch, dim: outDim, anchors: f.anchors, positives, negatives, group })
    const r = alignmentRegulariser(f.similarity, batch, clusters, "v2", 2.5)
    const grads = await engine.backward(weights, f, masks, Float32Array.from(t.dA), Float32Array.from(r.dS))
    opt.update(weights, grads)
  }
  for (let i = 0; i < warmup; i++) await step()
  const times: Array<number> = []
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now()
    await step()
    times.push((performance.now() - t0) / 1000)
  }
  await engine.release()
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]
  return { mean: (steps * batch) / times.reduce((a, b) => a + b, 0), median: batch / median }
}

const runTorch = (): Throughput | undefined => {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "train_torch.py")
  // Prefer Debian's interpreter, where python3-torch lives, over any python3 earlier on PATH.
  const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3"
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
console.log(`mea (onnxruntime fwd/bwd graphs): ${show(mea)}`)
const torch = runTorch()
if (torch !== undefined) {
  console.log(`PyTorch:                          ${show(torch)}`)
  console.log(`ratio mea / PyTorch:              ${(mea.mean / torch.mean).toFixed(2)}x (median steps: ${(mea.median / torch.median).toFixed(2)}x)`)
}
