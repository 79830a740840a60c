/**
 * Where one training step's time goes: the attention net (3072 -> 384, batch 256, triplet + v2 regulariser, AdamW) on
 * random data, the median over timed steps of each phase (dropout masks, forward, loss, backward, AdamW), the step's
 * GFLOP/s next to this machine's sgemm peak measured in the same run (bench/peak.ts), and the ArrayBuffer bytes a
 * step allocates (onnxruntime-node hands every output back in a new buffer as well as writing the one it was given).
 *
 *   npx tsx bench/step.ts [steps=20] [threads=2]
 */
import * as os from "node:os"
import { numpyPeak, ortPeak, stepFlops } from "./peak.ts"
import { referenceStep, type StepPhase } from "./reference-step.ts"

const steps = Number(process.argv[2] ?? 20)
const threads = Number(process.argv[3] ?? 2)
const inDim = 3072
const outDim = 384
const batch = 256
const warmup = 3

const step = await referenceStep(inDim, outDim, batch, threads)
const phases = ["masks", "forward", "loss", "backward", "AdamW", "step"] as const
const times: Record<(typeof phases)[number], Array<number>> = { masks: [], forward: [], loss: [], backward: [], AdamW: [], step: [] }
let allocated = 0
for (let i = 0; i < warmup + steps; i++) {
  const buffers = process.memoryUsage().arrayBuffers
  const spans: Partial<Record<StepPhase, number>> = {}
  const t0 = performance.now()
  let last = t0
  await step.run((phase) => {
    const now = performance.now()
    spans[phase] = now - last
    last = now
  })
  if (i < warmup) continue
  // A garbage collection inside the step makes this an undercount, never an overcount.
  allocated = Math.max(allocated, process.memoryUsage().arrayBuffers - buffers)
  for (const p of phases) times[p].push(p === "step" ? last - t0 : spans[p]!)
}
await step.release()

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const ort = await ortPeak(batch, threads)
const np = numpyPeak(batch, threads)
const peak = Math.max(ort, np ?? 0)
const flops = stepFlops(batch, inDim, outDim)
console.log(`step bench: attention net ${inDim} -> ${outDim}, batch ${batch}, ${steps} steps, ${threads} threads, load average ${os.loadavg()[0].toFixed(2)}`)
console.log(`sgemm peak (${batch} x 3072 x 768): onnxruntime ${ort.toFixed(1)} GFLOP/s, numpy/OpenBLAS ${np === undefined ? "n/a" : `${np.toFixed(1)} GFLOP/s`}`)
for (const p of phases) console.log(`${p.padEnd(9)} ${median(times[p]).toFixed(1).padStart(7)} ms${p === "step" ? "" : `  ${((100 * median(times[p])) / median(times.step)).toFixed(0).padStart(3)}%`}`)
const gflops = flops / (median(times.step) / 1000) / 1e9
console.log(`step: ${(flops / 1e9).toFixed(1)} GFLOP at ${gflops.toFixed(1)} GFLOP/s = ${((100 * gflops) / peak).toFixed(0)}% of the sgemm peak (goal >= 50%: ${gflops >= peak / 2 ? "met" : "NOT met"}); ${(batch / (median(times.step) / 1000)).toFixed(0)} samples/s`)
console.log(`ArrayBuffers allocated per step: up to ${(allocated / 1e6).toFixed(1)} MB`)
