/**
 * Export of a trained model to a self-contained ONNX inference graph: input `x` (batch, in_dim) = the chosen feature
 * layers concatenated (raw, as the feature files hold them), output `embedding` (batch, out_dim), L2-normalised;
 * dropout off; weights baked in. A model trained on standardised inputs gets (x - input_mean) / input_std as the
 * graph's first two ops, with the statistics baked in too.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import { attempt, type Artifact, type StageError } from "../runtime/stage.ts"
import { INPUT_MEAN, INPUT_STD, loadStandardiser, loadWeights, type Model } from "../artifacts/model.ts"
import { buildInferenceGraph, type InputTransform } from "./graphs.ts"
import { buildNet } from "./nets.ts"

export const exportOnnx = (model: Artifact<Model>, outPath: string): Effect.Effect<void, StageError> =>
  Effect.gen(function* () {
    const weights = yield* attempt(`reading the weights of model ${model.node}`, () => loadWeights(model))
    const standardiser = yield* attempt(`reading the input standardisation of model ${model.node}`, () => loadStandardiser(model))
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
    yield* attempt(`writing ${outPath}`, () => fs.writeFileSync(outPath, bytes))
  })
