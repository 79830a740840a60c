/**
 * vote: song-level evaluation from a segment-level one. `aggregation` says how a song's segments become its
 * prediction (src/model/vote.ts): `vote` (the reference's majority vote of segment top-k, ties broken by summed
 * similarity; the default), `mean-score` (top-k of the mean cosine) or `mean-embedding` (top-k of the cosine of the
 * mean model output). Truth per song comes from the data set. Same metrics and chance level as eval.
 */
import { Effect, Either, Schema } from "effect"
import { truthMatrix } from "../model/data.ts"
import { EvaluationCodec, readEmbeddings, readScores, writeEvaluation } from "../artifacts/evaluation.ts"
import { aggregateSongs, Aggregation, songRows } from "../model/vote.ts"
import { attempt, defineStage, Input, StageError, stageError } from "../runtime/stage.ts"
import { DatasetCodec } from "../artifacts/dataset.ts"
import { ChanceSettings } from "../model/settings.ts"

export const VoteParams = Schema.Struct({
  /** Labels per song; defaults to the segment evaluation's k. */
  k: Schema.optional(Schema.Int.pipe(Schema.positive())),
  aggregation: Schema.optionalWith(Aggregation, { default: () => "vote" as const }),
  ...ChanceSettings.fields,
})

export const VoteStage = defineStage({
  name: "vote",
  // 3: the aggregation param (and the artifact records it).
  version: 3,
  description: "Song-level evaluation from a segment-level one: majority vote of segment top-k (ties: summed similarity), mean score or mean embedding; macro F1/P/R/Hamming, mAP, ROC-AUC, chance level",
  params: VoteParams,
  inputs: { segments: Input.node(EvaluationCodec), dataset: Input.node(DatasetCodec) },
  output: EvaluationCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const seg = ctx.inputs.segments
      const dataset = ctx.inputs.dataset.value
      const aggregation = ctx.params.aggregation
      if (seg.value.level !== "segment") {
        return yield* Effect.fail(new StageError({ message: `vote: input ${seg.node} is a ${seg.value.level}-level evaluation; expected the segment level (an eval node)` }))
      }
      if (seg.value.dataset !== dataset.name) {
        return yield* Effect.fail(new StageError({ message: `vote: ${seg.node} evaluates data set '${seg.value.dataset}' but the dataset input is '${dataset.name}'` }))
      }
      if (seg.value.labels.join("\u0000") !== dataset.labels.join("\u0000")) {
        return yield* Effect.fail(new StageError({ message: `vote: the labels of ${seg.node} differ from the vocabulary of data set '${dataset.name}'` }))
      }
      const k = ctx.params.k ?? seg.value.k
      const scores = yield* Effect.mapError(readScores(seg), stageError(`vote: reading ${seg.node}`))
      const embeddings = aggregation === "mean-embedding" ? yield* Effect.mapError(readEmbeddings(seg), stageError(`vote: reading ${seg.node}`)) : undefined
      if (aggregation === "mean-embedding" && embeddings === undefined) {
        return yield* Effect.fail(new StageError({ message: `vote: aggregation mean-embedding needs the model outputs, and ${seg.node} was made by an eval stage older than version 3, which did not keep them; rerun it` }))
      }
      const songs = songRows(seg.value.row_tracks)
      const byId = new Map(dataset.tracks.map((t) => [t.id, t]))
      const labelIndex = new Map(dataset.labels.map((l, i) => [l, i]))
      const truthLabels: Array<Array<number>> = []
      for (const id of songs.ids) {
        const t = byId.get(id)
        if (t === undefined) return yield* Effect.fail(new StageError({ message: `vote: track '${id}' of ${seg.node} is not in data set '${dataset.name}'` }))
        truthLabels.push(t.labels.flatMap((l) => (labelIndex.has(l) ? [labelIndex.get(l)!] : [])))
      }
      const nLabels = dataset.labels.length
      const v = aggregateSongs(aggregation, { scores, labels: nLabels, ...(embeddings === undefined ? {} : { embeddings }) }, songs, k)
      yield* ctx.progress.note(`${songs.songs} songs from ${seg.value.rows} segments (${aggregation})`)
      return yield* writeEvaluation(ctx.outDir, {
        level: "song",
        dataset: dataset.name,
        split: seg.value.split,
        k,
        labels: dataset.labels,
        rowTracks: songs.ids,
        scores: v.scores,
        truth: truthMatrix(truthLabels, nLabels),
        predicted: v.predicted,
        model: seg.value.model,
        aggregation,
        chanceDraws: ctx.params.chance_draws,
        seed: ctx.params.seed,
      })
    }),
})
