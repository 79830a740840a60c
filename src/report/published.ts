/**
 * The published results of the method (macro F1), as listed under "Published results (macro F1)" in
 * ../shared/REFERENCE.md, and the chance levels of a random top-k predictor listed there under "Known flaws of the
 * original". Reference data to print next to mea's own numbers; nothing here is computed.
 */

export const SPLITS = ["emo", "mtg", "cal"] as const
export type SplitKey = (typeof SPLITS)[number]

export const PHASES = ["baseline1", "baseline2", "alignment"] as const
export type Phase = (typeof PHASES)[number]

export const LEVELS = ["segment", "song"] as const
export type Level = (typeof LEVELS)[number]

export interface SplitInfo {
  readonly key: SplitKey
  /** The held-out (evaluated) data set. */
  readonly test: string
  readonly train: ReadonlyArray<string>
  readonly title: string
  /** Macro F1 of a random top-k predictor on the held-out data set (REFERENCE.md, "Known flaws of the original"). */
  readonly publishedChanceF1: number
}

/** Leave-one-dataset-out splits, keyed by the held-out data set, in the column order of the published table. */
export const SPLIT_INFO: Readonly<Record<SplitKey, SplitInfo>> = {
  emo: { key: "emo", test: "Emotify", train: ["MTG-Jamendo", "CAL500"], title: "train MTG+CAL, test EMO", publishedChanceF1: 0.323 },
  mtg: { key: "mtg", test: "MTG-Jamendo", train: ["CAL500", "Emotify"], title: "train CAL+EMO, test MTG", publishedChanceF1: 0.03 },
  cal: { key: "cal", test: "CAL500", train: ["Emotify", "MTG-Jamendo"], title: "train EMO+MTG, test CAL", publishedChanceF1: 0.239 },
}

export const PHASE_TITLES: Readonly<Record<Phase, string>> = {
  baseline1: "baseline 1",
  baseline2: "baseline 2 (clustering)",
  alignment: "alignment regularisation",
}

export interface PublishedCell {
  readonly f1_macro: number
  /** The regulariser weight (lambda) the paper reports for the alignment phase. */
  readonly alpha: number | null
}

const cell = (f1_macro: number, alpha: number | null = null): PublishedCell => ({ f1_macro, alpha })

export const PUBLISHED: Readonly<Record<Level, Readonly<Record<Phase, Readonly<Record<SplitKey, PublishedCell>>>>>> = {
  segment: {
    baseline1: { emo: cell(0.324), mtg: cell(0.0215), cal: cell(0.255) },
    baseline2: { emo: cell(0.341), mtg: cell(0.024), cal: cell(0.262) },
    alignment: { emo: cell(0.402, 2.5), mtg: cell(0.0248, 2.5), cal: cell(0.262, 1) },
  },
  song: {
    baseline1: { emo: cell(0.315), mtg: cell(0.0129), cal: cell(0.252) },
    baseline2: { emo: cell(0.346), mtg: cell(0.0175), cal: cell(0.267) },
    alignment: { emo: cell(0.4, 2.5), mtg: cell(0.0202, 2.5), cal: cell(0.229, 1) },
  },
}

export const PUBLISHED_SOURCE = "../shared/REFERENCE.md, \"Published results (macro F1)\"; chance levels from \"Known flaws of the original\""
