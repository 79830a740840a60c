/**
 * The training loop: seeded batching over several training data sets, positive/negative targets, triplet loss (+ the
 * alignment regulariser), ONNX forward/backward, AdamW; per epoch the validation macro F1 of the first training data
 * set drives ReduceLROnPlateau, early stopping and the choice of the kept (best) weights.
 *
 * Phases:
 *   baseline1  no clusters. Negatives: 5 random labels of the segment's own data set that are not among its labels.
 *   baseline2  cluster-aware targets. Negatives: 5 random labels from the UNION of the training data sets' label
 *              spaces whose cluster differs from the cluster of every positive label (a label of another data set
 *              that means the same thing is never pushed away). Positive target as in baseline1. No regulariser.
 *   alignment  baseline2's targets + the alignment regulariser (v1/v2/v3) weighted by alpha.
 * With `standardise`, every input column is z-scored with the mean and standard deviation of the training rows of all
 * training data sets (each row once, upsampling aside); validation rows go through the same transform.
 * Positive target: mean embedding of the segment's labels. Segments of tracks without labels are not trained on.
 */
import { Either } from "effect"
import { AdamW } from "./adamw.ts"
import { planEpoch, upsampledPool, type BlockShuffle, type StepBatch } from "./batching.ts"
import { DropoutMasks, NetEngine, type FloatMap } from "./forward-backward.ts"
import { KeptBySize } from "./kept-by-size.ts"
import { alignmentRegulariser, tripletLoss } from "./loss.ts"
import { classificationMetrics, topK } from "./metrics.ts"
import { buildNet, initWeights, type NetConfig, type Weights } from "./nets.ts"
import { Rng } from "./rng.ts"
import type { RowSource } from "./rows.ts"
import { ReduceLROnPlateau } from "./scheduler.ts"
import type { TrainSettings } from "./settings.ts"
import { columnStatistics, type StandardiseError, standardisedRows, type Standardiser } from "./standardise.ts"

export type Phase = "baseline1" | "baseline2" | "alignment"

export interface TrainingSet {
  readonly name: string
  readonly labels: ReadonlyArray<string>
  /** labels x dim label embeddings, rows in `labels` order. */
  readonly embeddings: Float32Array
  readonly source: RowSource
  /** Training rows: feature row number and label indices of each. */
  readonly train: ReadonlyArray<{ readonly row: number; readonly labels: ReadonlyArray<number> }>
  readonly upsample: number
  /** Cluster id of each label (required by baseline2 and alignment). */
  readonly clusters?: ReadonlyArray<number>
}

export interface ValidationSet {
  readonly source: RowSource
  readonly rows: ReadonlyArray<number>
  /** rows x labels binary truth, labels of the first training set. */
  readonly truth: Uint8Array
  readonly k: number
}

/** What training needs beyond its settings: the resolved net configuration and the threads it may use. */
export interface TrainRun {
  readonly config: NetConfig
  readonly threads: number
  /** Called after each training step (benchmarks time the steps apart from the epoch's set-up and validation). */
  readonly onStep?: () => void
}

export const DEFAULT_SHUFFLE_WINDOW = 16

/** The block shuffle of a training set's rows, or undefined for a full permutation (see TrainSettings.shuffle). */
export const shuffleOf = (source: RowSource, o: Pick<TrainSettings, "shuffle" | "shuffle_block" | "shuffle_window">): BlockShuffle | undefined => {
  if (o.shuffle === "random" || (o.shuffle === "auto" && source.blockRows === undefined)) return undefined
  return { blockRows: source.blockRows ?? o.shuffle_block ?? 256, window: o.shuffle_window ?? DEFAULT_SHUFFLE_WINDOW }
}

export interface EpochRecord {
  readonly epoch: number
  readonly steps: number
  readonly train_loss: number
  readonly triplet_loss: number
  readonly regulariser_loss: number
  readonly val_f1: number
  readonly lr: number
}

export interface TrainResult {
  readonly weights: Weights
  readonly curves: ReadonlyArray<EpochRecord>
  readonly bestEpoch: number
  readonly bestValF1: number
  readonly stoppedEarly: boolean
  /** The statistics the net's inputs were standardised with (absent without `standardise`). */
  readonly standardiser?: Standardiser
}

const normalizedRows = (m: Float32Array, dim: number): Float64Array => {
  const out = new Float64Array(m.length)
  for (let r = 0; r < m.length / dim; r++) {
    let n = 0
    for (let k = 0; k < dim; k++) n += m[r * dim + k] ** 2
    n = Math.sqrt(n) || 1
    for (let k = 0; k < dim; k++) out[r * dim + k] = m[r * dim + k] / n
  }
  return out
}

/** Cosine scores (rows x labels) of unit-norm embeddings against label embeddings. */
export const cosineScores = (emb: ArrayLike<number>, rows: number, labelEmb: Float32Array, dim: number): Float32Array => {
  const labels = labelEmb.length / dim
  const L = normalizedRows(labelEmb, dim)
  const out = new Float32Array(rows * labels)
  for (let r = 0; r < rows; r++) {
    let n = 0
    for (let k = 0; k < dim; k++) n += emb[r * dim + k] ** 2
    n = Math.sqrt(n) || 1
    for (let l = 0; l < labels; l++) {
      let s = 0
      for (let k = 0; k < dim; k++) s += emb[r * dim + k] * L[l * dim + k]
      out[r * labels + l] = s / n
    }
  }
  return out
}

/** Embeds rows in chunks with the inference graph. */
export const embedRows = async (
  engine: NetEngine,
  weights: FloatMap,
  outDim: number,
  source: RowSource,
  rows: ReadonlyArray<number>,
  chunk = 512,
): Promise<Float32Array> => {
  const result = new Float32Array(rows.length * outDim)
  for (let s = 0; s < rows.length; s += chunk) {
    const n = Math.min(chunk, rows.length - s)
    const x = new Float32Array(n * source.dim)
    source.gather(rows.slice(s, s + n), x)
    result.set(await engine.embed(weights, x, n), s * outDim)
  }
  return result
}

/** Target sampling for one training data set, fixed for the run. */
class Targets {
  private readonly candidates = new Map<string, Array<number>>()
  private readonly own: Float64Array
  private readonly union: Float64Array
  constructor(
    private readonly sets: ReadonlyArray<TrainingSet>,
    private readonly d: number,
    private readonly dim: number,
    private readonly clusterAware: boolean,
    private readonly unionIndex: ReadonlyArray<{ readonly set: number; readonly label: number }>,
  ) {
    this.own = Float64Array.from(sets[d].embeddings)
    this.union = new Float64Array(unionIndex.length * dim)
    unionIndex.forEach((u, i) => this.union.set(sets[u.set].embeddings.subarray(u.label * dim, (u.label + 1) * dim), i * dim))
  }

  /** Negative candidates for a label set: indices into the union (cluster-aware) or into the own vocabulary. */
  private pool(labels: ReadonlyArray<number>): Array<number> {
    const key = labels.join(",")
    const cached = this.candidates.get(key)
    if (cached !== undefined) return cached
    const set = this.sets[this.d]
    let pool: Array<number> = []
    if (this.clusterAware && set.clusters !== undefined) {
      const taken = new Set(labels.map((l) => set.clusters![l]))
      pool = this.unionIndex.flatMap((u, i) => (taken.has(this.sets[u.set].clusters![u.label]) ? [] : [i]))
    }
    if (pool.length === 0) pool = set.labels.flatMap((_, l) => (labels.includes(l) ? [] : [-1 - l]))
    this.candidates.set(key, pool)
    return pool
  }

  fill(labels: ReadonlyArray<number>, rng: Rng, count: number, pos: Float64Array, neg: Float64Array, off: number): void {
    const dim = this.dim
    for (const l of labels) for (let k = 0; k < dim; k++) pos[off + k] += this.own[l * dim + k] / labels.length
    const picks = rng.sample(this.pool(labels), count)
    for (const p of picks) {
      const src = p < 0 ? this.own : this.union
      const row = p < 0 ? -1 - p : p
      for (let k = 0; k < dim; k++) neg[off + k] += src[row * dim + k] / picks.length
    }
  }
}

/** The training and validation rows standardised by the training rows' column statistics, if asked. */
const standardiseInputs = (
  rawSets: ReadonlyArray<TrainingSet>,
  rawValidation: ValidationSet,
  standardise: boolean,
): Either.Either<{ readonly standardiser: Standardiser | undefined; readonly sets: ReadonlyArray<TrainingSet>; readonly validation: ValidationSet }, StandardiseError> => {
  if (!standardise) return Either.right({ standardiser: undefined, sets: rawSets, validation: rawValidation })
  return Either.gen(function* () {
    const standardiser = yield* columnStatistics(rawSets.map((s) => ({ name: s.name, source: s.source, rows: s.train.map((t) => t.row) })))
    const sets: Array<TrainingSet> = []
    for (const s of rawSets) sets.push({ ...s, source: yield* standardisedRows(s.source, standardiser) })
    const validation = { ...rawValidation, source: yield* standardisedRows(rawValidation.source, standardiser) }
    return { standardiser, sets, validation }
  })
}

export const train = async (
  rawSets: ReadonlyArray<TrainingSet>,
  rawValidation: ValidationSet,
  o: TrainSettings,
  run: TrainRun,
  onEpoch: (r: EpochRecord) => void = () => undefined,
): Promise<TrainResult> => {
  const prepared = standardiseInputs(rawSets, rawValidation, o.standardise)
  // A Promise API: its failure is a rejection, which the stage's attemptPromise turns into a StageError (tag as cause).
  if (Either.isLeft(prepared)) return Promise.reject(prepared.left)
  const { standardiser, sets, validation } = prepared.right
  const extra = standardiser === undefined ? {} : { standardiser }
  const dim = run.config.out_dim
  const clusterAware = o.phase !== "baseline1"
  if (clusterAware && sets.some((s) => s.clusters === undefined)) throw new Error(`phase ${o.phase} needs cluster assignments for every training data set`)
  const unionIndex = sets.flatMap((s, set) => s.labels.map((_, label) => ({ set, label })))
  const targets = sets.map((_, d) => new Targets(sets, d, dim, clusterAware, unionIndex))
  const net = buildNet(run.config)
  const weights = initWeights(net.params, new Rng(o.seed, "init"))
  const engine = await NetEngine.create(net, run.config.in_dim, { threads: run.threads })
  const opt = new AdamW({ lr: o.lr, weightDecay: o.weight_decay, threads: run.threads })
  try {
    const plateau = new ReduceLROnPlateau(o.lr, { factor: o.lr_factor, patience: o.lr_patience, cooldown: o.lr_cooldown, minLr: o.min_lr })
    const batchRng = new Rng(o.seed, "batches")
    const dropRng = new Rng(o.seed, "dropout")
    const dropout = new DropoutMasks(net.masks)
    const targetRng = new Rng(o.seed, "targets")
    const pools = sets.map((s) => upsampledPool(s.train.length, s.upsample))
    const shuffles = sets.map((s) => shuffleOf(s.source, o))
    const fileRows = (b: StepBatch): Array<number> => Array.from(b.rows, (i) => sets[b.dataset].train[i].row)
    // The next step's rows are read from disk (where they live there) while this step computes.
    const prefetch = (step: ReadonlyArray<StepBatch> | undefined): void => {
      for (const b of step ?? []) sets[b.dataset].source.prefetch?.(fileRows(b))
    }
    // A step's inputs and targets, kept per row count. Targets are sums, so they start from zero each step.
    const kept = new KeptBySize<{ x: Float32Array; pos: Float64Array; neg: Float64Array; group: Int32Array; cluster: Int32Array }>()
    const stepBuffers = (rows: number) => {
      const b = kept.get(rows)
      if (b !== undefined) {
        b.pos.fill(0)
        b.neg.fill(0)
        return b
      }
      const fresh = { x: new Float32Array(rows * run.config.in_dim), pos: new Float64Array(rows * dim), neg: new Float64Array(rows * dim), group: new Int32Array(rows), cluster: new Int32Array(rows) }
      kept.set(rows, fresh)
      return fresh
    }
    const curves: Array<EpochRecord> = []
    let best: Weights | undefined
    let bestF1 = -Infinity
    let bestEpoch = 0
    let sinceBest = 0
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const plan = planEpoch(pools, o.batch, o.batching, batchRng, shuffles)
      let sumLoss = 0
      let sumTriplet = 0
      let sumReg = 0
      prefetch(plan[0])
      for (const [s, step] of plan.entries()) {
        const rows = step.reduce((n, b) => n + b.rows.length, 0)
        for (const b of step) await sets[b.dataset].source.ready?.(fileRows(b))
        const { x, pos, neg, group, cluster } = stepBuffers(rows)
        let r = 0
        for (const b of step) {
          const set = sets[b.dataset]
          set.source.gather(fileRows(b), x, r)
          for (const i of b.rows) {
            const labels = set.train[i].labels
            targets[b.dataset].fill(labels, targetRng, o.negatives, pos, neg, r * dim)
            group[r] = b.dataset
            cluster[r] = set.clusters === undefined ? 0 : set.clusters[labels[targetRng.int(labels.length)]]
            r++
          }
        }
        prefetch(plan[s + 1])
        const masks = dropout.draw(rows, dropRng)
        const f = await engine.forward(weights, x, rows, masks)
        const t = tripletLoss({ rows, dim, anchors: f.anchors, positives: pos, negatives: neg, group })
        const reg = o.phase === "alignment" ? alignmentRegulariser(f.similarity, rows, cluster, o.regulariser, o.alpha) : undefined
        const grads = await engine.backward(weights, f, masks, Float32Array.from(t.dA), reg === undefined ? new Float32Array(rows * rows) : Float32Array.from(reg.dS))
        opt.update(weights, grads)
        run.onStep?.()
        sumTriplet += t.loss
        sumReg += reg?.loss ?? 0
        sumLoss += t.loss + (reg?.loss ?? 0)
      }
      const emb = await embedRows(engine, weights, dim, validation.source, validation.rows)
      const scores = cosineScores(emb, validation.rows.length, sets[0].embeddings, dim)
      const labels = sets[0].labels.length
      const valF1 = classificationMetrics(validation.truth, topK(scores, validation.rows.length, labels, validation.k), validation.rows.length, labels).f1_macro
      const record: EpochRecord = {
        epoch,
        steps: plan.length,
        train_loss: sumLoss / Math.max(1, plan.length),
        triplet_loss: sumTriplet / Math.max(1, plan.length),
        regulariser_loss: sumReg / Math.max(1, plan.length),
        val_f1: valF1,
        lr: opt.lr,
      }
      curves.push(record)
      onEpoch(record)
      if (valF1 > bestF1) {
        bestF1 = valF1
        bestEpoch = epoch
        sinceBest = 0
        best = new Map([...weights].map(([k, v]) => [k, Float32Array.from(v)]))
      } else {
        sinceBest++
      }
      opt.lr = plateau.step(valF1)
      if (sinceBest >= o.patience) return { weights: best ?? weights, curves, bestEpoch, bestValF1: bestF1, stoppedEarly: epoch < o.epochs, ...extra }
    }
    return { weights: best ?? weights, curves, bestEpoch, bestValF1: bestF1, stoppedEarly: false, ...extra }
  } finally {
    await engine.release()
  }
}
