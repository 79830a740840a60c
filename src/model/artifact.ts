/**
 * The trained model as an artifact: weights in safetensors (`model.safetensors`; linear weights stored (in, out),
 * i.e. transposed with respect to torch.nn.Linear) and everything else in value.json: the net's configuration, which
 * feature layers form its input, the training settings, the per-epoch curves and the chosen epoch.
 */
import { Schema } from "effect"
import { codec, type Artifact } from "../runtime/stage.ts"
import { buildNet, NetConfig, type Weights } from "./nets.ts"
import { readSafetensors, writeSafetensors } from "./safetensors.ts"

export const WEIGHTS_FILE = "model.safetensors"

export const EpochRecordSchema = Schema.Struct({
  epoch: Schema.Int,
  steps: Schema.Int,
  train_loss: Schema.Number,
  triplet_loss: Schema.Number,
  regulariser_loss: Schema.Number,
  val_f1: Schema.Number,
  lr: Schema.Number,
})

export const ModelSchema = Schema.Struct({
  config: NetConfig,
  weights: Schema.String,
  /** Feature layers concatenated (in this order) to form the input, and the width of one layer. */
  layers: Schema.Array(Schema.Int),
  feature_dim: Schema.Int,
  /** Training data sets, in order (the first one's validation F1 drove the schedule). */
  datasets: Schema.Array(Schema.String),
  phase: Schema.Literal("baseline1", "baseline2", "alignment"),
  regulariser: Schema.Literal("v1", "v2", "v3"),
  alpha: Schema.Number,
  seed: Schema.Int,
  curves: Schema.Array(EpochRecordSchema),
  best_epoch: Schema.Int,
  best_val_f1: Schema.Number,
  stopped_early: Schema.Boolean,
})
export type Model = typeof ModelSchema.Type

export const ModelCodec = codec("model", ModelSchema, {
  summarize: (m) =>
    `${m.config.net} net ${m.config.in_dim}->${m.config.out_dim} (${m.phase}${m.phase === "alignment" ? ` ${m.regulariser}, alpha ${m.alpha}` : ""}) on ${m.datasets.join("+")}: ` +
    `best validation F1 ${m.best_val_f1.toFixed(4)} at epoch ${m.best_epoch}/${m.curves.length}`,
})

export const saveWeights = (file: string, config: NetConfig, weights: Weights): void => {
  const net = buildNet(config)
  writeSafetensors(
    file,
    new Map(net.params.map((p) => [p.name, { shape: p.shape, data: weights.get(p.name)! }])),
    { format: "mea", net: config.net, layout: "linear weights (in, out)" },
  )
}

/** The model's weights, checked against its configuration (every parameter present with its shape). */
export const loadWeights = (model: Artifact<Model>): Weights => {
  const file = model.file(model.value.weights)
  const tensors = readSafetensors(file)
  const weights: Weights = new Map()
  for (const p of buildNet(model.value.config).params) {
    const t = tensors.get(p.name)
    if (t === undefined) throw new Error(`${file}: missing tensor '${p.name}'`)
    if (t.shape.join(",") !== p.shape.join(",")) throw new Error(`${file}: tensor '${p.name}' has shape (${t.shape.join(", ")}), expected (${p.shape.join(", ")})`)
    weights.set(p.name, t.data)
  }
  return weights
}
