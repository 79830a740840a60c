/**
 * The two nets of the reference, with generic input width (the chosen feature layers concatenated).
 *   attention: Linear in->d, 2 x post-norm TransformerEncoderLayer(d, heads, ff, ReLU, dropout), LayerNorm, Linear d->out
 *   linear:    3 x [Linear ->hidden, ReLU, Dropout], Linear hidden->out
 * Both end in L2 normalisation.
 */
import { Schema } from "effect"
import { dropout, l2Normalize, layerNorm, linear, relu, sequential, transformerEncoderLayer, type Module, type ParamSpec } from "./layers.ts"
import type { Rng } from "./rng.ts"

export const NetConfig = Schema.Struct({
  net: Schema.Literal("attention", "linear"),
  in_dim: Schema.Int,
  out_dim: Schema.Int,
  /** attention: model width; linear: hidden width. */
  hidden: Schema.Int,
  heads: Schema.Int,
  ff: Schema.Int,
  num_layers: Schema.Int,
  dropout: Schema.Number,
})
export type NetConfig = typeof NetConfig.Type

/** The reference's sizes for an input width and an output (label embedding) width. */
export const referenceConfig = (net: NetConfig["net"], inDim: number, outDim: number): NetConfig =>
  net === "attention"
    ? { net, in_dim: inDim, out_dim: outDim, hidden: 768, heads: 8, ff: 3072, num_layers: 2, dropout: 0.1 }
    : { net, in_dim: inDim, out_dim: outDim, hidden: 3072, heads: 0, ff: 0, num_layers: 3, dropout: 0.1 }

export const buildNet = (c: NetConfig): Module => {
  if (c.net === "attention") {
    const layers: Array<Module> = [linear("input", c.in_dim, c.hidden)]
    for (let i = 0; i < c.num_layers; i++) layers.push(transformerEncoderLayer(`encoder.layers.${i}`, c.hidden, c.heads, c.ff, c.dropout))
    layers.push(layerNorm("norm", c.hidden), linear("output", c.hidden, c.out_dim), l2Normalize())
    return sequential(layers)
  }
  const layers: Array<Module> = []
  for (let i = 0; i < c.num_layers; i++) {
    layers.push(linear(`blocks.${i}.linear`, i === 0 ? c.in_dim : c.hidden, c.hidden), relu(), dropout(`blocks.${i}.dropout`, c.hidden, c.dropout))
  }
  layers.push(linear("output", c.num_layers === 0 ? c.in_dim : c.hidden, c.out_dim), l2Normalize())
  return sequential(layers)
}

export type Weights = Map<string, Float32Array>

const size = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** Fresh weights, drawn in the order the params are declared. */
export const initWeights = (params: ReadonlyArray<ParamSpec>, rng: Rng): Weights => {
  const w: Weights = new Map()
  for (const p of params) {
    const a = new Float32Array(size(p.shape))
    if (p.init.kind === "const") a.fill(p.init.value)
    else for (let i = 0; i < a.length; i++) a[i] = (rng.next() * 2 - 1) * p.init.bound
    w.set(p.name, a)
  }
  return w
}
