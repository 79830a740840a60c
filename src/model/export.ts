/**
 * Export of a trained model to a self-contained ONNX inference graph: input `x` (batch, in_dim) = the chosen feature
 * layers concatenated, output `embedding` (batch, out_dim), L2-normalised; dropout off; weights baked in.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import { attempt, type Artifact, type StageError } from "../runtime/stage.ts"
import { loadWeights, type Model } from "./artifact.ts"
import { buildInferenceGraph } from "./graphs.ts"
import { buildNet } from "./nets.ts"

export const exportOnnx = (model: Artifact<Model>, outPath: string): Effect.Effect<void, StageError> =>
  Effect.gen(function* () {
    const weights = yield* attempt(`reading the weights of model ${model.node}`, () => loadWeights(model))
    const bytes = yield* attempt(`building the ONNX graph of model ${model.node}`, () =>
      buildInferenceGraph(buildNet(model.value.config), model.value.config.in_dim, (f, name, shape) => {
        const w = weights.get(name)
        if (w === undefined) throw new Error(`no weight '${name}'`)
        return f.initializer(name, shape, w)
      }),
    )
    yield* attempt(`writing ${outPath}`, () => fs.writeFileSync(outPath, bytes))
  })
