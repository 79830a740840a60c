/**
 * Where one training step's time goes: the attention net (3072 -> 384, batch 256, triplet + v2 regulariser, AdamW) on
 * random data, the median over timed steps of each phase (dropout masks, forward, loss, backward, AdamW), the step's
 * GFLOP/s next to this machine's sgemm peak measured in the same run (bench/peak.ts), and the ArrayBuffer bytes a
 * step allocates; beside the same step as mea ran it before its native binding (onnxruntime-node, which hands every
 * output back in a new buffer as well as writing the one it was given; AdamW in WebAssembly; masks in JS).
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

const phases = ["masks", "forward", "loss", "backward", "AdamW", "step"] as const
type Times = Record<(typeof phases)[number], Array<number>>

/** Median phase times of `steps` steps, and the most ArrayBuffer bytes one step allocated. */
const measure = async (native: boolean): Promise<{ readonly binding: string; readonly times: Times; readonly allocated: number }> => {
  const step = await referenceStep(inDim, outDim, batch, threads, native)
  const times: Times = { masks: [], forward: [], loss: [], backward: [], AdamW: [], step: [] }
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
  return { binding: step.binding, times, allocated }
}

// The baseline (onnxruntime-node, WebAssembly AdamW, JS masks) first and then mea's path, alternating twice, so that
// a slow minute of the machine does not favour either.
const runs = [await measure(false), await measure(true), await measure(false), await measure(true)]
const merged = (native: boolean): Times => {
  const of = runs.filter((r, i) => i % 2 === (native ? 1 : 0))
  return Object.fromEntries(phases.map((p) => [p, of.flatMap((r) => r.times[p])])) as Times
}
const current = merged(true)
const baseline = merged(false)
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const ort = await ortPeak(batch, threads)
const np = numpyPeak(batch, threads)
const peak = Math.max(ort, np ?? 0)
const flops = stepFlops(batch, inDim, outDim)
const gflops = (ms: number) => flops / (ms / 1000) / 1e9
console.log(`step bench: attention net ${inDim} -> ${outDim}, batch ${batch}, 2 x ${steps} steps each, ${threads} threads, load average ${os.loadavg()[0].toFixed(2)}`)
console.log(`sgemm peak (${batch} x 3072 x 768): onnxruntime ${ort.toFixed(1)} GFLOP/s, numpy/OpenBLAS ${np === undefined ? "n/a" : `${np.toFixed(1)} GFLOP/s`}`)
console.log(`phase      mea (${runs[1].binding} binding, native AdamW and masks)   baseline (${runs[0].binding}, WebAssembly AdamW, JS masks)`)
for (const p of phases) {
  const [a, b] = [median(current[p]), median(baseline[p])]
  const share = (t: Times, x: number) => (p === "step" ? "    " : `${((100 * x) / median(t.step)).toFixed(0).padStart(3)}%`)
  console.log(`${p.padEnd(9)} ${a.toFixed(1).padStart(8)} ms ${share(current, a)}                              ${b.toFixed(1).padStart(8)} ms ${share(baseline, b)}`)
}
const [now, before] = [median(current.step), median(baseline.step)]
console.log(`step: ${(flops / 1e9).toFixed(1)} GFLOP at ${gflops(now).toFixed(1)} GFLOP/s = ${((100 * gflops(now)) / peak).toFixed(0)}% of the sgemm peak (goal >= 50%: ${gflops(now) >= peak / 2 ? "met" : "NOT met"}); ${(batch / (now / 1000)).toFixed(0)} samples/s`)
console.log(`baseline: ${gflops(before).toFixed(1)} GFLOP/s = ${((100 * gflops(before)) / peak).toFixed(0)}% of the peak; mea / baseline ${(before / now).toFixed(2)}x`)
console.log(`ArrayBuffers allocated per step: up to ${(Math.max(runs[1].allocated, runs[3].allocated) / 1e6).toFixed(1)} MB (baseline ${(Math.max(runs[0].allocated, runs[2].allocated) / 1e6).toFixed(1)} MB)`)
