/**
 * `mea predict`, after argument parsing: resolve the model, check labels and audio, build the predict pipeline
 * (src/predict/graph.ts), run it with the engine, print the tags. Loaded by the command only when it runs.
 */
import { Data, Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Model, ModelSchema } from "../artifacts/model.ts"
import { readExportMetadata } from "../model/export.ts"
import type { Aggregation } from "../model/vote.ts"
import { Cache } from "../runtime/cache.ts"
import { CacheError, UsageError } from "../runtime/errors.ts"
import { loadArtifact, runGraph, type RunResult } from "../runtime/executor.ts"
import { buildGraph } from "../runtime/graph.ts"
import { resolveRef } from "../runtime/inspect.ts"
import type { StoreIoError } from "../runtime/store.ts"
import { reporterLayer } from "../runtime/reporter.ts"
import type { Artifact, Stage } from "../runtime/stage.ts"
import type { VocabularyName } from "../datasets/vocabularies.ts"
import type { Predictions } from "../artifacts/predictions.ts"
import { planAudio } from "./audio.ts"
import { renderPredictions, type OutputFormat } from "./format.ts"
import { chainNodes, LABELS_NODE, PREDICT_NODE, predictPipeline, type ModelInput, type PredictJob } from "./graph.ts"
import { type LabelSource, parseLabels, VOCABULARY_K } from "./labels.ts"

/** Some files could not be tagged; the others were, and their tags are printed. Exit code 1. */
export class SomeFilesFailed extends Data.TaggedError("SomeFilesFailed")<{ readonly message: string }> {}

export interface PredictOptions {
  readonly model: string
  readonly audio: ReadonlyArray<string>
  readonly labels?: string
  readonly labelsFile?: string
  readonly vocabulary?: VocabularyName
  readonly topK?: number
  readonly aggregation: Aggregation
  readonly segmentScores: boolean
  readonly format: OutputFormat
  readonly output?: string
  readonly mert?: string
  readonly jobs: number
  readonly quiet: boolean
  readonly pipeline?: string
}

const usage = (message: string) => Effect.fail(new UsageError({ message }))

const labelSource = (o: PredictOptions): Effect.Effect<LabelSource, UsageError> => {
  const given = [o.labels !== undefined, o.labelsFile !== undefined, o.vocabulary !== undefined].filter(Boolean).length
  if (given !== 1) {
    return usage(
      given === 0
        ? 'give the labels to score: --labels "calm, tense, euphoric", --labels-file labels.txt (one per line) or --vocabulary mtg|cal500|emotify'
        : "give only one of --labels, --labels-file and --vocabulary",
    )
  }
  if (o.labels !== undefined) return Effect.succeed({ _tag: "Inline", text: o.labels })
  if (o.vocabulary !== undefined) return Effect.succeed({ _tag: "Vocabulary", name: o.vocabulary })
  const file = o.labelsFile!
  return Effect.try({
    try: () => ({ _tag: "File" as const, file, text: fs.readFileSync(file, "utf8") }),
    catch: (e) => new UsageError({ message: `--labels-file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})` }),
  })
}

/** The model, from an exported .onnx file or a cached train artifact (node id or hash prefix). */
const resolveModel = (ref: string, pipeline: string | undefined): Effect.Effect<{ readonly input: ModelInput; readonly value: Model; readonly name: string }, UsageError | StoreIoError, Cache> =>
  Effect.gen(function* () {
    const asFile = path.resolve(ref)
    const st = fs.statSync(asFile, { throwIfNoEntry: false })
    if (st?.isFile() === true) {
      const value = yield* Effect.try({ try: () => readExportMetadata(asFile), catch: (e) => new UsageError({ message: e instanceof Error ? e.message : String(e) }) })
      return { input: { _tag: "Onnx", file: asFile }, value, name: ref }
    }
    if (ref.endsWith(".onnx")) return yield* usage(`${ref}: no such file`)
    const c = yield* Cache
    const info = yield* resolveRef(c, ref, pipeline)
    if (info.record !== undefined && info.record.stage !== "train") {
      return yield* usage(`'${ref}' is an output of stage '${info.record.stage}', not a trained model (stage 'train'); give a train node, its hash, or an .onnx file from mea export`)
    }
    const dir = c.store.objectDir(info.hash)
    const raw = yield* Effect.try({
      try: () => JSON.parse(fs.readFileSync(path.join(dir, "value.json"), "utf8")) as unknown,
      catch: () => new UsageError({ message: `'${ref}' (${info.hash.slice(0, 12)}) is not a trained mea model: it has no readable value.json` }),
    })
    const decoded = Schema.decodeUnknownEither(ModelSchema)(raw)
    if (decoded._tag === "Left" || !fs.existsSync(path.join(dir, decoded.right.weights))) {
      return yield* usage(`'${ref}' (${info.hash.slice(0, 12)}) is not a trained mea model`)
    }
    return { input: { _tag: "Dir", dir }, value: decoded.right, name: info.record?.node ?? ref }
  })

const chainFiles = (job: PredictJob, i: number): string => {
  const c = job.chains[i]
  return c._tag === "Folder" ? `the audio files in ${c.dir}` : c.file
}

export const runPredict = (o: PredictOptions, registry: ReadonlyMap<string, Stage>) =>
  Effect.gen(function* () {
    const source = yield* labelSource(o)
    const parsed = parseLabels(source)
    if ("error" in parsed) return yield* usage(parsed.error)
    if (o.topK !== undefined && o.topK < 1) return yield* usage(`--top-k must be at least 1, found ${o.topK}`)
    const cwd = process.cwd()
    const plan = planAudio(o.audio, cwd)
    if ("error" in plan) return yield* usage(plan.error)
    const model = yield* resolveModel(o.model, o.pipeline)
    const m = model.value
    if (m.label_embedding === undefined || m.features === undefined) {
      return yield* usage(
        `model ${model.name} does not record how its training labels and features were made (it was trained by an older mea: train stage v2 or earlier); ` +
          "rerun its pipeline to retrain it, then predict",
      )
    }
    if (m.features.extractor === "onnx" && o.mert === undefined) {
      return yield* usage(`model ${model.name} was trained on MERT features (${m.features.mert?.file ?? "an ONNX export"}); give that model with --mert FILE.onnx`)
    }
    if (o.mert !== undefined && !fs.existsSync(o.mert)) return yield* usage(`--mert ${o.mert}: no such file`)
    const k = o.topK ?? (source._tag === "Vocabulary" ? VOCABULARY_K[source.name] : 3)
    const job: PredictJob = {
      model: model.input,
      value: m,
      chains: plan.chains,
      labels: parsed.labels,
      labelsName: source._tag === "Vocabulary" ? source.name : "labels",
      k,
      aggregation: o.aggregation,
      ...(o.mert !== undefined ? { mert: path.resolve(o.mert) } : {}),
    }
    const failed: Array<{ readonly file: string; readonly reason: string }> = plan.notAudio.map((f) => ({ file: f, reason: "not an audio file (by its extension)" }))

    // Chains whose nodes fail (every file of a folder unreadable, or too short) are reported and left out; the rest
    // are tagged by a second run that finds everything else cached.
    let only: Set<number> | undefined
    let result: RunResult
    let graph
    for (;;) {
      graph = yield* buildGraph(predictPipeline(job, cwd, only), registry)
      result = yield* runGraph(graph, { jobs: o.jobs }).pipe(Effect.provide(reporterLayer({ quiet: o.quiet })))
      const labelsFailed = result.nodes.find((n) => n.id === LABELS_NODE && n.status === "failed")
      if (labelsFailed !== undefined) return yield* usage(`the labels cannot be embedded the way the model's training labels were: ${labelsFailed.error ?? "failed"}`)
      const bad = new Set<number>()
      job.chains.forEach((_, i) => {
        const ids = Object.values(chainNodes(i))
        const r = result.nodes.find((n) => ids.includes(n.id) && n.status === "failed")
        if (r !== undefined) {
          bad.add(i)
          failed.push({ file: chainFiles(job, i), reason: r.error ?? "failed" })
        }
      })
      if (bad.size === 0) break
      only = new Set(job.chains.map((_, i) => i).filter((i) => !bad.has(i) && (only === undefined || only.has(i))))
      if (only.size === 0) break
    }
    const predicted = result.nodes.find((n) => n.id === PREDICT_NODE)
    if (predicted === undefined || predicted.status === "failed" || predicted.status === "skipped" || predicted.output === undefined) {
      const why = predicted?.error ?? "no file could be read"
      const list = failed.map((f) => `\n  ${f.file}: ${f.reason}`).join("")
      return yield* Effect.fail(new SomeFilesFailed({ message: `nothing was tagged: ${why}${list}` }))
    }
    const c = yield* Cache
    const artifact = (yield* loadArtifact(c, graph.byId.get(PREDICT_NODE)!, predicted.output).pipe(
      Effect.mapError((e) => new CacheError({ message: e.message })),
    )) as Artifact<Predictions>
    for (const s of artifact.value.skipped) failed.push(s)
    const text = yield* Effect.mapError(
      renderPredictions(artifact, { format: o.format, segmentScores: o.segmentScores, cwd, failed }),
      (e) => new CacheError({ message: `reading the predictions: ${e.message}` }),
    )
    if (o.output !== undefined) {
      yield* Effect.try({ try: () => fs.writeFileSync(o.output!, text), catch: (e) => new UsageError({ message: `-o ${o.output}: cannot write it (${String(e)})` }) })
    } else yield* Effect.sync(() => process.stdout.write(text))
    if (!o.quiet) {
      const ran = result.nodes.filter((n) => n.status === "ran").length
      yield* Effect.sync(() => process.stderr.write(`${artifact.value.songs.length} songs tagged; ${ran} of ${result.nodes.length} nodes ran\n`))
    }
    if (failed.length > 0) {
      return yield* Effect.fail(
        new SomeFilesFailed({
          message: `${failed.length} file${failed.length === 1 ? "" : "s"} could not be tagged (the other ${artifact.value.songs.length} were):${failed.map((f) => `\n  ${display(f.file, cwd)}: ${f.reason}`).join("")}`,
        }),
      )
    }
  })

export const display = (file: string, cwd: string): string => {
  const rel = path.relative(cwd, file)
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file
}
