/**
 * `mea predict MODEL AUDIO...`: zero-shot tags for anyone's music with any label list. Only the argument parsing lives
 * here; the work (engine, stages, onnxruntime) is imported when the command runs, so `mea --help` stays light.
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import * as os from "node:os"
import { cacheLayer, resolveCacheDir } from "../runtime/cache.ts"
import { UsageError } from "../runtime/errors.ts"
import { StageRegistry } from "../runtime/registry.ts"

const opt = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)

export const predictCommand = Command.make(
  "predict",
  {
    model: Args.text({ name: "model" }).pipe(Args.withDescription("A trained model: train node id, hash prefix, or an .onnx file from mea export")),
    audio: Args.text({ name: "audio" }).pipe(Args.withDescription("Audio files or folders (mp3, wav, flac, ogg, m4a; folders recursively)"), Args.atLeast(1)),
    labels: Options.text("labels").pipe(Options.withDescription('Comma-separated labels: "nostalgic, euphoric, tense"'), Options.optional),
    labelsFile: Options.file("labels-file").pipe(Options.withDescription("A file with one label per line"), Options.optional),
    vocabulary: Options.choice("vocabulary", ["mtg", "cal500", "emotify"]).pipe(Options.withDescription("A data set's label vocabulary"), Options.optional),
    topK: Options.integer("top-k").pipe(Options.withDescription("Labels per song (default: 3, or the data set's k with --vocabulary)"), Options.optional),
    aggregation: Options.choice("aggregation", ["vote", "mean-score", "mean-embedding"]).pipe(
      Options.withDescription("Segments to song: majority vote of segment top-k (the reference), mean score, or mean embedding"),
      Options.withDefault("vote" as const),
    ),
    segmentScores: Options.boolean("segment-scores").pipe(Options.withDescription("Also show the top labels of every segment")),
    format: Options.choice("format", ["table", "csv", "json"]).pipe(Options.withDefault("table" as const)),
    output: Options.file("output").pipe(Options.withAlias("o"), Options.withDescription("Write the result to this file"), Options.optional),
    mert: Options.file("mert").pipe(Options.withDescription("The MERT ONNX export, for a model trained on MERT features"), Options.optional),
    pipeline: Options.file("pipeline").pipe(Options.withDescription("Resolve the model's node id in this pipeline only"), Options.optional),
    jobs: Options.integer("jobs").pipe(Options.withAlias("j"), Options.optional),
    quiet: Options.boolean("quiet").pipe(Options.withAlias("q")),
    cache: Options.directory("cache").pipe(Options.withDescription("Cache folder (default: $MEA_CACHE or ./cache)"), Options.optional),
  },
  (a) =>
    Effect.gen(function* () {
      const jobs = opt(a.jobs) ?? os.availableParallelism()
      if (jobs < 1) return yield* Effect.fail(new UsageError({ message: `--jobs must be at least 1, found ${jobs}` }))
      const stages = yield* StageRegistry
      const { runPredict } = yield* Effect.promise(() => import("../predict/run.ts"))
      yield* runPredict(
        {
          model: a.model,
          audio: a.audio,
          ...(opt(a.labels) !== undefined ? { labels: opt(a.labels)! } : {}),
          ...(opt(a.labelsFile) !== undefined ? { labelsFile: opt(a.labelsFile)! } : {}),
          ...(opt(a.vocabulary) !== undefined ? { vocabulary: opt(a.vocabulary)! } : {}),
          ...(opt(a.topK) !== undefined ? { topK: opt(a.topK)! } : {}),
          ...(opt(a.output) !== undefined ? { output: opt(a.output)! } : {}),
          ...(opt(a.mert) !== undefined ? { mert: opt(a.mert)! } : {}),
          ...(opt(a.pipeline) !== undefined ? { pipeline: opt(a.pipeline)! } : {}),
          aggregation: a.aggregation,
          segmentScores: a.segmentScores,
          format: a.format,
          jobs,
          quiet: a.quiet,
        },
        stages,
      ).pipe(Effect.provide(cacheLayer(resolveCacheDir(opt(a.cache)))))
    }),
).pipe(Command.withDescription("Zero-shot tags for audio files or folders with any label list (cached like every pipeline)"))
