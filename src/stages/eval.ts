/**
 * eval: segment-level zero-shot evaluation of a trained model on a data set, with that data set's own label
 * embeddings: cosine scores of each segment's embedding against every label, top-k prediction, macro F1 / precision /
 * recall / Hamming, macro mAP and ROC-AUC, a per-label table and the chance level of a random top-k predictor.
 *
 * split: which of the data set's tracks are evaluated. The reference evaluates the held-out data set's test split
 * (its song-level Emotify test is ~13 songs), so "test" is the default; "all" evaluates every track, which for a data
 * set never seen in training is still zero-shot and gives a far larger sample.
 */
import { Effect } from "effect"
import { EvalSettings } from "../model/settings.ts"
import { ModelCodec } from "../artifacts/model.ts"
import { EvaluationCodec } from "../artifacts/evaluation.ts"
import { evaluateModel } from "../model/train-and-eval.ts"
import { defineStage, Input } from "../runtime/stage.ts"
import { DatasetCodec } from "../artifacts/dataset.ts"
import { LabelEmbeddingsCodec, readLabelEmbeddings } from "../artifacts/label-embeddings.ts"
import { FeaturesCodec } from "../artifacts/features.ts"
import { SegmentsCodec } from "../artifacts/segments.ts"

export const EvalStage = defineStage({
  name: "eval",
  // 3: the artifact keeps the model outputs and label embeddings, for vote's mean-embedding aggregation.
  version: 3,
  description: "Segment-level evaluation: cosine scores vs the data set's label embeddings, top-k, macro F1/P/R/Hamming, mAP, ROC-AUC, per-label table, chance level",
  params: EvalSettings,
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
