/**
 * vote: song-level evaluation from a segment-level one. Every segment of a song votes for its top-k labels; the song
 * is predicted the k labels with most votes, ties broken by the labels' similarity summed over the song's segments.
 * Truth per song comes from the data set. Same metrics and chance level as eval.
 */
import { Effect, Schema } from "effect"
import { truthMatrix } from "../model/data.ts"
import { EvaluationCodec, readScores, writeEvaluation } from "../artifacts/evaluation.ts"
import { songVote } from "../model/vote.ts"
import { attempt, defineStage, Input, StageError } from "../runtime/stage.ts"
import { DatasetCodec } from "../artifacts/dataset.ts"
import { ChanceSettings } from "../model/settings.ts"

export const VoteParams = Schema.Struct({
  /** Labels per song; defaults to the segment evaluation's k. */
  k: Schema.optional(Schema.Int.pipe(Schema.positive())),
  ...ChanceSettings.fields,
})

export const VoteStage = defineStage({
  name: "vote",
  version: 2,
  description: "Song-level majority vote over a segment evaluation's top-k (ties: summed similarity); macro F1/P/R/Hamming, mAP, ROC-AUC, chance level",
  params: VoteParams,
  inputs: { segments: Input.node(EvaluationCodec), dataset: Input.node(DatasetCodec) },
  output: EvaluationCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const seg = ctx.inputs.segments
      const dataset = ctx.inputs.dataset.value
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
      const scores = yield* attempt(`vote: reading ${seg.node}`, () => readScores(seg))
      const songIndex = new Map<string, number>()
      const songOf = Int32Array.from(seg.value.row_tracks, (t) => {
        const existing = songIndex.get(t)
        if (existing !== undefined) return existing
        songIndex.set(t, songIndex.size)
        return songIndex.size - 1
      })
      const songs = [...songIndex.keys()]
      const byId = new Map(dataset.tracks.map((t) => [t.id, t]))
      const labelIndex = new Map(dataset.labels.map((l, i) => [l, i]))
      const truthLabels: Array<Array<number>> = []
      for (const id of songs) {
        const t = byId.get(id)
        if (t === undefined) return yield* Effect.fail(new StageError({ message: `vote: track '${id}' of ${seg.node} is not in data set '${dataset.name}'` }))
        truthLabels.push(t.labels.flatMap((l) => (labelIndex.has(l) ? [labelIndex.get(l)!] : [])))
      }
      const nLabels = dataset.labels.length
      const v = songVote(scores, songOf, songs.length, nLabels, k)
      yield* ctx.progress.note(`${songs.length} songs from ${seg.value.rows} segments`)
      return yield* writeEvaluation(ctx.outDir, {
        level: "song",
        dataset: dataset.name,
        split: seg.value.split,
        k,
        labels: dataset.labels,
        rowTracks: songs,
        scores: v.scores,
        truth: truthMatrix(truthLabels, nLabels),
        predicted: v.predicted,
        model: seg.value.model,
        chanceDraws: ctx.params.chance_draws,
        seed: ctx.params.seed,
      })
    }),
})
