/**
 * The cores of the train and eval stages, written against upstream artifacts (features, segments, dataset) and label
 * embeddings as a plain matrix, so the stage files only wire codecs to them.
 */
import { Effect, Either, Fiber, Queue } from "effect"
import * as path from "node:path"
import { attempt, attemptPromise, StageError, stageError, type Artifact, type Progress } from "../runtime/stage.ts"
import type { Dataset } from "../artifacts/dataset.ts"
import type { Features } from "../artifacts/features.ts"
import type { Segments } from "../artifacts/segments.ts"
import { loadStandardiser, loadWeights, readModelTensors, saveWeights, WEIGHTS_FILE, type Model } from "../artifacts/model.ts"
import { alignEmbeddings, chooseLayers, featureFiles, referenceTopK, rowTracks, segmentNumbers, splitRows, truthMatrix } from "./data.ts"
import { NetEngine } from "./forward-backward.ts"
import { inPlaceUnavailable } from "./graph-session.ts"
import { writeEvaluation, type Evaluation } from "../artifacts/evaluation.ts"
import { topK } from "./metrics.ts"
import { buildNet, referenceConfig, type NetConfig } from "./nets.ts"
import { compileRows, openRows, type CompileOptions, type RowSource } from "./rows.ts"
import type { EvalSettings, TrainSettings } from "./settings.ts"
import { standardisedRows } from "./standardise.ts"
import { cosineScores, embedRows, train, type EpochRecord, type TrainingSet } from "./train.ts"

/** Label embeddings of one data set: `labels.length` rows of `dim`. */
export interface LabelMatrix {
  readonly labels: ReadonlyArray<string>
  readonly dim: number
  readonly matrix: Float32Array
}

export interface ClusterAssignment {
  readonly dataset: string
  readonly label: string
  readonly cluster: number
}

export interface DatasetInputs {
  readonly features: Artifact<Features>
  readonly segments: Artifact<Segments>
  readonly dataset: Artifact<Dataset>
  readonly labels: LabelMatrix
}

/** How rows are held (benches and tests): in memory up to `inMemoryLimit` bytes, else on disk in blocks. */
export type RowsOptions = Pick<CompileOptions, "inMemoryLimit" | "blockRows" | "cacheBlocks">

const fail = (message: string) => Effect.fail(new StageError({ message }))

export const trainModel = (
  inputs: ReadonlyArray<DatasetInputs>,
  clusters: ReadonlyArray<ClusterAssignment> | undefined,
  s: TrainSettings,
  env: { readonly outDir: string; readonly threads: number; readonly progress: Progress; readonly rows?: RowsOptions; readonly onStep?: () => void },
): Effect.Effect<Model, StageError> => {
  // Feature files opened below are closed however training ends.
  const sources: Array<RowSource> = []
  return Effect.gen(function* () {
    if (inputs.length === 0) return yield* fail("train: no training data sets (features, segments, datasets and labels are empty lists)")
    const slower = inPlaceUnavailable()
    if (slower !== undefined) yield* env.progress.note(`train: onnxruntime runs through onnxruntime-node, which copies every output (the in-place binding is unavailable: ${slower})`)
    const first = inputs[0].features.value
    const layers = chooseLayers(first, s.layers)
    const sets: Array<TrainingSet> = []
    let validation: { source: RowSource; rows: Array<number>; labels: Array<Array<number>> } | undefined
    let outDim = 0
    for (const [i, d] of inputs.entries()) {
      const f = d.features.value
      const name = d.dataset.value.name
      if (f.dim !== first.dim || f.layers !== first.layers) {
        return yield* fail(`train: features ${d.features.node} are ${f.layers} x ${f.dim} per segment, but ${inputs[0].features.node} are ${first.layers} x ${first.dim}; all training features must come from the same extractor`)
      }
      if (i === 0) outDim = d.labels.dim
      else if (d.labels.dim !== outDim) return yield* fail(`train: label embeddings of '${name}' are ${d.labels.dim}-d, those of '${inputs[0].dataset.value.name}' ${outDim}-d`)
      const what = `train: data set '${name}'`
      const tracks = yield* Effect.mapError(rowTracks(d.features, d.segments), stageError(what))
      const trainRows = yield* Effect.mapError(splitRows(d.dataset.value, tracks, "train", what), stageError(what))
      const embeddings = yield* Effect.mapError(alignEmbeddings(d.dataset.value.labels, d.labels.labels, d.labels.matrix, d.labels.dim, `${what}, label embeddings`), stageError(what))
      const labelled = trainRows.rows.flatMap((row, j) => (trainRows.labels[j].length > 0 ? [{ row, labels: trainRows.labels[j] }] : []))
      if (labelled.length < trainRows.rows.length) {
        yield* env.progress.note(`${name}: ${trainRows.rows.length - labelled.length} training segments of unlabelled tracks left out`)
      }
      if (labelled.length === 0) return yield* fail(`${what} has no labelled segments in its train split`)
      // Only the chosen layers of the training rows, read once; row j of the source is labelled[j].
      const files = yield* Effect.mapError(featureFiles(d.features), stageError(what))
      const source = yield* attempt(what, () =>
        compileRows(files, layers, labelled.map((t) => t.row), { scratch: path.join(env.outDir, `.train-rows-${i}.npy`), ...env.rows }),
      )
      sources.push(source)
      let clusterOf: Array<number> | undefined
      if (s.phase !== "baseline1") {
        if (clusters === undefined) return yield* fail(`train: phase '${s.phase}' needs the clusters input (cluster assignments of the training labels)`)
        const map = new Map(clusters.filter((c) => c.dataset === name).map((c) => [c.label, c.cluster]))
        const missing = d.dataset.value.labels.filter((l) => !map.has(l))
        if (missing.length > 0) return yield* fail(`train: the clusters input has no cluster for label(s) ${missing.slice(0, 5).map((l) => `'${l}'`).join(", ")} of data set '${name}'`)
        clusterOf = d.dataset.value.labels.map((l) => map.get(l)!)
      }
      const upsample = s.upsample[name] ?? 1
      const train = labelled.map((t, j) => ({ row: j, labels: t.labels }))
      sets.push({ name, labels: d.dataset.value.labels, embeddings, source, train, upsample, ...(clusterOf === undefined ? {} : { clusters: clusterOf }) })
      if (i === 0) {
        const v = yield* Effect.mapError(splitRows(d.dataset.value, tracks, "validation", what), stageError(what))
        if (v.rows.length > 0) {
          const vs = yield* attempt(what, () => compileRows(files, layers, v.rows, { scratch: path.join(env.outDir, ".validation-rows.npy"), ...env.rows }))
          sources.push(vs)
          validation = { source: vs, rows: v.rows.map((_, j) => j), labels: v.labels }
        }
      }
    }
    // One `upsample` map can serve every split of an experiment, so a held-out data set named in it is only noted.
    for (const name of Object.keys(s.upsample)) {
      if (!sets.some((t) => t.name === name)) {
        yield* env.progress.note(`upsample: '${name}' is not among the training data sets (${sets.map((t) => t.name).join(", ")}); ignored`)
      }
    }
    if (validation === undefined || validation.rows.length === 0) {
      return yield* fail(`train: the first training data set '${sets[0].name}' has no segments in its validation split; its validation macro F1 drives the schedule and the checkpoint choice`)
    }
    const k = s.val_k ?? referenceTopK(inputs[0].dataset.value)
    if (k === undefined) return yield* fail(`train: no reference top-k for data set '${sets[0].name}'; set val_k`)
    const base = referenceConfig(s.net, layers.length * first.dim, outDim)
    const config: NetConfig = {
      ...base,
      hidden: s.hidden ?? base.hidden,
      ff: s.ff ?? base.ff,
      heads: s.heads ?? base.heads,
      num_layers: s.num_layers ?? base.num_layers,
      dropout: s.dropout ?? base.dropout,
    }
    yield* env.progress.start(s.epochs, "epochs")
    // The training loop reports each epoch from outside Effect: a queue carries the records, in order, to one fiber
    // that reports them; `null` after the last one lets that fiber finish, so no epoch line is lost.
    const epochs = yield* Queue.unbounded<EpochRecord | null>()
    const report = (r: EpochRecord) =>
      Effect.zipRight(
        env.progress.advance(),
        env.progress.note(`epoch ${r.epoch}: loss ${r.train_loss.toFixed(4)}, validation F1 ${r.val_f1.toFixed(4)}, lr ${r.lr.toExponential(2)}`),
      )
    const reporting = yield* Effect.fork(
      Effect.iterate(true, {
        while: (more) => more,
        body: () => Effect.flatMap(Queue.take(epochs), (r) => (r === null ? Effect.succeed(false) : Effect.as(report(r), true))),
      }),
    )
    const result = yield* attemptPromise("train", () =>
      train(
        sets,
        { source: validation.source, rows: validation.rows, truth: truthMatrix(validation.labels, sets[0].labels.length), k },
        s,
        { config, threads: env.threads, ...(env.onStep === undefined ? {} : { onStep: env.onStep }) },
        (r) => void Queue.unsafeOffer(epochs, r),
      ),
    ).pipe(Effect.ensuring(Effect.zipRight(Queue.offer(epochs, null), Fiber.join(reporting))))
    yield* Effect.mapError(saveWeights(path.join(env.outDir, WEIGHTS_FILE), config, result.weights, result.standardiser), stageError("train: writing the weights"))
    const model: Model = {
      config,
      weights: WEIGHTS_FILE,
      layers,
      feature_dim: first.dim,
      standardised: result.standardiser !== undefined,
      datasets: sets.map((t) => t.name),
      phase: s.phase,
      regulariser: s.regulariser,
      alpha: s.alpha,
      seed: s.seed,
      curves: [...result.curves],
      best_epoch: result.bestEpoch,
      best_val_f1: result.bestValF1,
      stopped_early: result.stoppedEarly,
    }
    return model
  }).pipe(Effect.ensuring(Effect.sync(() => sources.forEach((src) => src.close()))))
}

/**
 * The model's output (rows x out_dim, L2-normalised) for the given rows of a features artifact: the model's layers
 * concatenated, standardised as in training, through the inference graph. Eval and predict both embed through here,
 * so the same features give the same outputs.
 */
export const embedFeatureRows = (
  model: Artifact<Model>,
  features: Artifact<Features>,
  rows: ReadonlyArray<number>,
  threads: number,
  who: string,
  /** Features up to this many bytes (the chosen layers) are read into memory at once, larger ones in runs from disk. */
  inMemoryLimit?: number,
): Effect.Effect<Float32Array, StageError> =>
  Effect.gen(function* () {
    const m = model.value
    const { weights, standardiser } = yield* Either.flatMap(readModelTensors(model), (tensors) =>
      Either.all({ weights: loadWeights(model, tensors), standardiser: loadStandardiser(model, tensors) }),
    ).pipe(Effect.mapError(stageError(`${who}: reading model ${model.node}`)))
    const files = yield* Effect.mapError(featureFiles(features), stageError(`${who}: features ${features.node}`))
    return yield* Effect.acquireUseRelease(
      attempt(`${who}: features ${features.node}`, () => openRows(files, m.layers, inMemoryLimit)).pipe(
        Effect.flatMap((raw) =>
          standardiser === undefined
            ? Effect.succeed(raw)
            : Either.match(standardisedRows(raw, standardiser), {
                onLeft: (e) => Effect.sync(() => raw.close()).pipe(Effect.zipRight(Effect.fail(stageError(`${who}: features ${features.node}`)(e)))),
                onRight: (rows) => Effect.succeed(rows),
              }),
        ),
      ),
      (source) =>
        Effect.acquireUseRelease(
          attemptPromise(`${who}: starting onnxruntime`, () => NetEngine.create(buildNet(m.config), m.config.in_dim, { threads })),
          (engine) => attemptPromise(`${who}: embedding the segments`, () => embedRows(engine, weights, m.config.out_dim, source, rows)),
          (engine) => Effect.promise(() => engine.release()),
        ),
      (source) => Effect.sync(() => source.close()),
    )
  })

export const evaluateModel = (
  model: Artifact<Model>,
  d: DatasetInputs,
  s: EvalSettings,
  env: { readonly outDir: string; readonly threads: number; readonly progress: Progress; readonly rows?: RowsOptions },
): Effect.Effect<Evaluation, StageError> =>
  Effect.gen(function* () {
    const m = model.value
    const f = d.features.value
    const dataset = d.dataset.value
    const what = `eval: data set '${dataset.name}'`
    if (f.dim !== m.feature_dim || m.layers.some((l) => l >= f.layers)) {
      return yield* fail(`eval: model ${model.node} takes layers [${m.layers.join(", ")}] of ${m.feature_dim}-d features; ${d.features.node} has ${f.layers} layers of ${f.dim}`)
    }
    if (d.labels.dim !== m.config.out_dim) {
      return yield* fail(`eval: model ${model.node} embeds into ${m.config.out_dim} dimensions, the label embeddings of '${dataset.name}' are ${d.labels.dim}-d`)
    }
    const k = s.k ?? referenceTopK(dataset)
    if (k === undefined) return yield* fail(`eval: no reference top-k for data set '${dataset.name}'; set k`)
    const tracks = yield* Effect.mapError(rowTracks(d.features, d.segments), stageError(what))
    const rows = yield* Effect.mapError(splitRows(dataset, tracks, s.split, what), stageError(what))
    if (rows.rows.length === 0) return yield* fail(`${what} has no segments in split '${s.split}'`)
    const embeddings = yield* Effect.mapError(alignEmbeddings(dataset.labels, d.labels.labels, d.labels.matrix, d.labels.dim, `${what}, label embeddings`), stageError(what))
    const emb = yield* embedFeatureRows(model, d.features, rows.rows, env.threads, "eval", env.rows?.inMemoryLimit)
    const n = rows.rows.length
    const scores = cosineScores(emb, n, embeddings, m.config.out_dim)
    const segTable = yield* Effect.mapError(segmentNumbers(d.segments, rows.rows), stageError(what))
    return yield* writeEvaluation(env.outDir, {
      level: "segment",
      dataset: dataset.name,
      split: s.split,
      k,
      labels: dataset.labels,
      rowTracks: rows.tracks,
      rowSegments: segTable,
      scores,
      truth: truthMatrix(rows.labels, dataset.labels.length),
      predicted: topK(scores, n, dataset.labels.length, k),
      model: { node: model.node, datasets: m.datasets, phase: m.phase, regulariser: m.regulariser, alpha: m.alpha, best_epoch: m.best_epoch },
      embeddings: { rows: emb, labels: embeddings, dim: m.config.out_dim },
      chanceDraws: s.chance_draws,
      seed: s.seed,
    })
  })
