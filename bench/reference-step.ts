/**
 * One training step of the reference attention net on random data, as bench/train.ts and bench/step.ts time it:
 * batch 256, triplet loss plus the v2 alignment regulariser, AdamW. `mark` is called at the end of each phase, so a
 * caller can time them.
 */
import { AdamW } from "../src/model/adamw.ts"
import { DropoutMasks, NetEngine } from "../src/model/forward-backward.ts"
import { alignmentRegulariser, tripletLoss } from "../src/model/loss.ts"
import { buildNet, initWeights, referenceConfig } from "../src/model/nets.ts"
import { Rng } from "../src/model/rng.ts"

export type StepPhase = "masks" | "forward" | "loss" | "backward" | "AdamW"

export interface ReferenceStep {
  /** "in-place" or "onnxruntime-node". */
  readonly binding: string
  readonly run: (mark?: (phase: StepPhase) => void) => Promise<void>
  readonly release: () => Promise<void>
}

/**
 * `native: false` runs the step as mea did before its native binding: graphs through onnxruntime-node (every output
 * also handed back in a new buffer), AdamW in WebAssembly, masks in JS; the same numbers, bit for bit.
 */
export const referenceStep = async (inDim: number, outDim: number, batch: number, threads: number, native = true): Promise<ReferenceStep> => {
  const net = buildNet(referenceConfig("attention", inDim, outDim))
  const rng = new Rng(0, "bench")
  const weights = initWeights(net.params, rng)
  const engine = await NetEngine.create(net, inDim, { threads, binding: native ? "auto" : "onnxruntime-node" })
  const opt = new AdamW({ lr: 1e-4, weightDecay: 0.01, threads, native })
  const x = Float32Array.from({ length: batch * inDim }, () => rng.next() * 2 - 1)
  const positives = Float64Array.from({ length: batch * outDim }, () => rng.next() * 2 - 1)
  const negatives = Float64Array.from({ length: batch * outDim }, () => rng.next() * 2 - 1)
  const group = new Int32Array(batch)
  const clusters = Int32Array.from({ length: batch }, () => rng.int(8))
  const dropout = new DropoutMasks(net.masks, "float32", { native })
  return {
    binding: engine.binding,
    run: async (mark = () => undefined) => {
      const masks = dropout.draw(batch, rng)
      mark("masks")
      const f = await engine.forward(weights, x, batch, masks)
      mark("forward")
      const t = tripletLoss({ rows: batch, dim: outDim, anchors: f.anchors, positives, negatives, group })
      const r = alignmentRegulariser(f.similarity, batch, clusters, "v2", 2.5)
      const dA = Float32Array.from(t.dA)
      const dS = Float32Array.from(r.dS)
      mark("loss")
      const grads = await engine.backward(weights, f, masks, dA, dS)
      mark("backward")
      opt.update(weights, grads)
      mark("AdamW")
    },
    release: () => engine.release(),
  }
}
