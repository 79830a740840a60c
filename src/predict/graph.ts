/**
 * The job of `mea predict` as a pipeline the engine runs like any other: per chain audio-files -> decode -> segment ->
 * mert, one label-embed node with the model's recorded settings, and the predict node. Keys are made the same way as
 * in any pipeline, so a second predict over the same files and labels runs nothing, and the decode, segments and
 * features of a folder are shared by every model and label list trained on the same feature settings.
 */
import * as path from "node:path"
import type { FeatureSettings, Model } from "../artifacts/model.ts"
import type { Aggregation } from "../model/vote.ts"
import type { LoadedPipeline } from "../runtime/pipeline-load.ts"
import type { PipelineFile } from "../runtime/pipeline-schema.ts"
import { sha256 } from "../runtime/hash.ts"
import type { Chain } from "./audio.ts"

export type ModelInput = { readonly _tag: "Dir"; readonly dir: string } | { readonly _tag: "Onnx"; readonly file: string }

export interface PredictJob {
  readonly model: ModelInput
  readonly value: Model
  readonly chains: ReadonlyArray<Chain>
  readonly labels: ReadonlyArray<string>
  readonly labelsName: string
  readonly k: number
  readonly aggregation: Aggregation
  /** The MERT ONNX export, for models trained on MERT features. */
  readonly mert?: string
}

export const PREDICT_NODE = "predict"
export const LABELS_NODE = "labels"

/** Node ids of chain i. */
export const chainNodes = (i: number) => ({ songs: `songs.${i}`, decode: `decode.${i}`, segment: `segment.${i}`, features: `features.${i}` })

const featureParams = (f: FeatureSettings): Record<string, unknown> =>
  f.extractor === "builtin" ? { extractor: "builtin" } : { extractor: "onnx", pooling: f.pooling === "mean" ? "mean" : "first" }

const defined = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))

/** The pipeline spec; `model.label_embedding` and `model.features` must be present (checked by the caller). */
export const predictSpec = (job: PredictJob, only?: ReadonlySet<number>): PipelineFile => {
  const m = job.value
  const f = m.features!
  const { file, model_dir, ...settings } = m.label_embedding!
  const stages: Record<string, PipelineFile["stages"][string]> = {}
  stages[LABELS_NODE] = {
    uses: "label-embed",
    with: { ...defined(settings), labels: [...job.labels], name: job.labelsName },
    inputs: { ...(file !== undefined ? { file } : {}), ...(model_dir !== undefined ? { model: model_dir } : {}) },
  }
  const used: Array<number> = []
  job.chains.forEach((chain, i) => {
    if (only !== undefined && !only.has(i)) return
    used.push(i)
    const n = chainNodes(i)
    stages[n.songs] = { uses: "audio-files", inputs: chain._tag === "Folder" ? { files_in: chain.dir } : { file: chain.file } }
    stages[n.decode] = { uses: "decode", inputs: { dataset: n.songs }, with: { rate: f.rate, on_error: "skip" } }
    // Too short for one segment: reported by name (segment drops it and lists it).
    stages[n.segment] = { uses: "segment", inputs: { audio: n.decode }, with: { seconds: f.seconds, hop: f.hop, short: "drop" } }
    stages[n.features] = {
      uses: "mert",
      inputs: { audio: n.decode, segments: n.segment, ...(job.mert !== undefined ? { model: job.mert } : {}) },
      with: featureParams(f),
    }
  })
  stages[PREDICT_NODE] = {
    uses: "predict",
    with: { aggregation: job.aggregation, k: job.k },
    inputs: {
      ...(job.model._tag === "Dir" ? { model_dir: job.model.dir } : { onnx: job.model.file }),
      labels: LABELS_NODE,
      songs: used.map((i) => chainNodes(i).songs),
      audio: used.map((i) => chainNodes(i).decode),
      segments: used.map((i) => chainNodes(i).segment),
      features: used.map((i) => chainNodes(i).features),
    },
  }
  return { name: "mea-predict", stages }
}

/**
 * As a loaded pipeline. Its `file` names the job (model and audio) for the run records, so `mea gc` keeps the latest
 * predict of each model over each set of folders.
 */
export const predictPipeline = (job: PredictJob, cwd: string, only?: ReadonlySet<number>): LoadedPipeline => {
  const spec = predictSpec(job, only)
  const what = JSON.stringify([job.model, job.chains])
  return {
    file: path.join(cwd, `mea-predict-${sha256(what).slice(0, 12)}`),
    dir: cwd,
    source: "",
    spec,
    params: {},
    locate: () => undefined,
  }
}
