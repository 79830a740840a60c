/**
 * eval: segment-level zero-shot evaluation of a trained model on a data set, with that data set's own label
 * embeddings: cosine scores of each segment's embedding against every label, top-k prediction, macro F1 / precision /
 * recall / Hamming, macro mAP and ROC-AUC, a per-label table and the chance level of a random top-k predictor.
 *
 * split: which of the data set's tracks are evaluated. The reference evaluates the held-out data set's test split
 * (its song-level Emotify test is ~13 songs), so "test" is the default; "all" evaluates every track, which for a data
 * set never seen in training is still zero-shot and gives a far larger sample.
 */
import { Effect, Schema } from "effect"
import { ModelCodec } from "../model/artifact.ts"
import { EvaluationCodec } from "../model/evaluation.ts"
import { evaluateModel } from "../model/run.ts"
import { defineStage, Input } from "../runtime/stage.ts"
import { DatasetCodec } from "./dataset.ts"
import { LabelEmbeddingsCodec, readLabelEmbeddings } from "./label-embed.ts"
import { FeaturesCodec } from "./mert.ts"
import { SegmentsCodec } from "./segment.ts"

/** The chance level's params, shared with vote: seeded draws of a random top-k predictor. */
export const ChanceParams = Schema.Struct({
  chance_draws: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 200 }),
  seed: Schema.optionalWith(Schema.Int, { default: () => 0 }),
})

export const EvalParams = Schema.Struct({
  /** Labels predicted per segment; defaults to the reference's k for the data set (2 MTG, 4 CAL500, 3 Emotify). */
  k: Schema.optional(Schema.Int.pipe(Schema.positive())),
  split: Schema.optionalWith(Schema.Literal("test", "validation", "train", "all"), { default: () => "test" as const }),
  ...ChanceParams.fields,
})

export const EvalStage = defineStage({
  name: "eval",
  // 3: the artifact keeps the model outputs and label embeddings, for vote's mean-embedding aggregation.
  version: 3,
  description: "Segment-level evaluation: cosine scores vs the data set's label embeddings, top-k, macro F1/P/R/Hamming, mAP, ROC-AUC, per-label table, chance level",
  params: EvalParams,
  inputs: {
    model: Input.node(ModelCodec),
    features: Input.node(FeaturesCodec),
    segments: Input.node(SegmentsCodec),
    dataset: Input.node(DatasetCodec),
    labels: Input.node(LabelEmbeddingsCodec),
  },
  output: EvaluationCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const labels = yield* readLabelEmbeddings(ctx.inputs.labels)
      return yield* evaluateModel(
        ctx.inputs.model,
        { features: ctx.inputs.features, segments: ctx.inputs.segments, dataset: ctx.inputs.dataset, labels },
        ctx.params,
        { outDir: ctx.outDir, threads: ctx.threads, progress: ctx.progress },
      )
    }),
})
