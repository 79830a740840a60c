/**
 * Export of a trained model to a self-contained ONNX inference graph: input `x` (batch, in_dim) = the chosen feature
 * layers concatenated (raw, as the feature files hold them), output `embedding` (batch, out_dim), L2-normalised;
 * dropout off; weights baked in. A model trained on standardised inputs gets (x - input_mean) / input_std as the
 * graph's first two ops, with the statistics baked in too.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import type onnxProto from "onnx-proto"
import { lazyRequire } from "../util/lazy.ts"
import { attempt, stageError, type Artifact, type StageError } from "../runtime/stage.ts"
import { INPUT_MEAN, INPUT_STD, loadStandardiser, loadWeights, ModelSchema, readModelTensors, type Model } from "../artifacts/model.ts"
import { buildInferenceGraph, type InputTransform } from "./graphs.ts"
import { buildNet } from "./nets.ts"

export const exportOnnx = (model: Artifact<Model>, outPath: string): Effect.Effect<void, StageError> =>
  Effect.gen(function* () {
    const tensors = yield* Effect.mapError(readModelTensors(model), stageError(`reading the weights of model ${model.node}`))
    const weights = yield* Effect.mapError(loadWeights(model, tensors), stageError(`reading the weights of model ${model.node}`))
    const standardiser = yield* Effect.mapError(loadStandardiser(model, tensors), stageError(`reading the input standardisation of model ${model.node}`))
    const inDim = model.value.config.in_dim
    const transform: InputTransform | undefined =
      standardiser === undefined
        ? undefined
        : (f, x) => f.op("Div", [f.op("Sub", [x, f.initializer(INPUT_MEAN, [inDim], standardiser.mean)]), f.initializer(INPUT_STD, [inDim], standardiser.std)])
    const bytes = yield* attempt(`building the ONNX graph of model ${model.node}`, () =>
      buildInferenceGraph(
        buildNet(model.value.config),
        inDim,
        (f, name, shape) => {
          const w = weights.get(name)
          if (w === undefined) throw new Error(`no weight '${name}'`)
          return f.initializer(name, shape, w)
        },
        "float32",
        transform,
      ),
    )
    yield* attempt(`writing ${outPath}`, () => fs.writeFileSync(outPath, withMeaMetadata(bytes, model.value)))
  })

/** The metadata key under which an export carries its model's value.json (layers, label embedding settings, ...). */
export const MEA_METADATA_KEY = "mea.model"

/** Loaded by the first export, not at start-up. */
const onnxLib = lazyRequire<typeof onnxProto>("onnx-proto")

const withMeaMetadata = (bytes: Uint8Array, model: Model): Uint8Array => {
  const proto = onnxLib().onnx.ModelProto.decode(bytes)
  proto.metadataProps = [onnxLib().onnx.StringStringEntryProto.create({ key: MEA_METADATA_KEY, value: JSON.stringify(Schema.encodeSync(ModelSchema)(model)) })]
  return onnxLib().onnx.ModelProto.encode(proto).finish()
}

/**
 * The mea model an exported ONNX file was made from, read from its metadata. Throws a readable error for a file
 * that is not ONNX, or an ONNX model that `mea export` did not write.
 */
export const readExportMetadata = (file: string): Model => {
  let proto: onnxProto.onnx.ModelProto
  try {
    proto = onnxLib().onnx.ModelProto.decode(fs.readFileSync(file))
  } catch (e) {
    throw new Error(`${file} is not an ONNX model (${e instanceof Error ? e.message : String(e)})`)
  }
  const entry = proto.metadataProps.find((p) => p.key === MEA_METADATA_KEY)
  if (entry === undefined || typeof entry.value !== "string") {
    throw new Error(`${file} is an ONNX model, but not one written by \`mea export\` (no '${MEA_METADATA_KEY}' metadata); mea predicts with trained mea models only`)
  }
  const decoded = Schema.decodeUnknownEither(ModelSchema)(JSON.parse(entry.value))
  if (decoded._tag === "Left") throw new Error(`${file}: its '${MEA_METADATA_KEY}' metadata is not a mea model: ${decoded.left.message}`)
  return decoded.right
}
