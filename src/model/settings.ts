/**
 * The settings of training and evaluation, defined once: the train/eval/vote stages take them as their params and the
 * model code reads the decoded values (defaults applied) as they are.
 */
import { Schema } from "effect"

const PositiveInt = Schema.Int.pipe(Schema.positive())
const Positive = Schema.Number.pipe(Schema.positive())
const NonNegative = Schema.Number.pipe(Schema.nonNegative())

export const TrainSettings = Schema.Struct({
  net: Schema.optionalWith(Schema.Literal("attention", "linear"), { default: () => "attention" as const }),
  /** Feature layers concatenated into the input; default: all layers of the built-in extractor, 3/6/9/12 of MERT. */
  layers: Schema.optional(Schema.Array(Schema.Int.pipe(Schema.nonNegative()))),
  phase: Schema.optionalWith(Schema.Literal("baseline1", "baseline2", "alignment"), { default: () => "alignment" as const }),
  regulariser: Schema.optionalWith(Schema.Literal("v1", "v2", "v3"), { default: () => "v2" as const }),
  alpha: Schema.optionalWith(NonNegative, { default: () => 2.5 }),
  epochs: Schema.optionalWith(PositiveInt, { default: () => 100 }),
  /** Early stopping: epochs without a better validation F1 before training stops. */
  patience: Schema.optionalWith(PositiveInt, { default: () => 20 }),
  batch: Schema.optionalWith(PositiveInt, { default: () => 256 }),
  lr: Schema.optionalWith(NonNegative, { default: () => 1e-4 }),
  weight_decay: Schema.optionalWith(NonNegative, { default: () => 0.01 }),
  seed: Schema.optionalWith(Schema.Int, { default: () => 0 }),
  batching: Schema.optionalWith(Schema.Literal("max_size_cycle", "max_size"), { default: () => "max_size_cycle" as const }),
  /** Per data set name, how many times its training rows are repeated per epoch (reference: emotify 3). */
  upsample: Schema.optionalWith(Schema.Record({ key: Schema.String, value: PositiveInt }), { default: () => ({}) }),
  /** Labels averaged into the negative target. */
  negatives: Schema.optionalWith(PositiveInt, { default: () => 5 }),
  /** top-k for the validation F1; default: the reference's k of the first data set. */
  val_k: Schema.optional(PositiveInt),
  lr_factor: Schema.optionalWith(Positive, { default: () => 0.2 }),
  lr_patience: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 10 }),
  lr_cooldown: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 5 }),
  min_lr: Schema.optionalWith(NonNegative, { default: () => 1.6e-7 }),
  /** Size overrides (default: the reference's sizes for the chosen net). */
  hidden: Schema.optional(PositiveInt),
  ff: Schema.optional(PositiveInt),
  heads: Schema.optional(PositiveInt),
  num_layers: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  dropout: Schema.optional(Schema.Number.pipe(Schema.between(0, 0.99))),
  /** z-score every input column with the training rows' mean and standard deviation (std floored at 1e-6). */
  standardise: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /**
   * Row order within an epoch: random (a full permutation), block (runs of rows that share a 256-row disk block are
   * permuted, then the rows of every `shuffle_window` runs among themselves), or auto: block when the training rows
   * are kept on disk (over 256 MB of chosen layers), random when they fit in memory.
   */
  shuffle: Schema.optionalWith(Schema.Literal("auto", "random", "block"), { default: () => "auto" as const }),
  /** Block shuffle: rows per block when the rows are in memory (on disk the block is the read unit, 256 rows). */
  shuffle_block: Schema.optional(PositiveInt),
  /** Block shuffle: how many blocks' rows are mixed together (default 16: 4096 rows). */
  shuffle_window: Schema.optional(PositiveInt),
})
export type TrainSettings = typeof TrainSettings.Type

/** The chance level's params, shared with vote: seeded draws of a random top-k predictor. */
export const ChanceSettings = Schema.Struct({
  chance_draws: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 200 }),
  seed: Schema.optionalWith(Schema.Int, { default: () => 0 }),
})

export const EvalSettings = Schema.Struct({
  /** Labels predicted per segment; defaults to the reference's k for the data set (2 MTG, 4 CAL500, 3 Emotify). */
  k: Schema.optional(Schema.Int.pipe(Schema.positive())),
  split: Schema.optionalWith(Schema.Literal("test", "validation", "train", "all"), { default: () => "test" as const }),
  ...ChanceSettings.fields,
})
export type EvalSettings = typeof EvalSettings.Type
