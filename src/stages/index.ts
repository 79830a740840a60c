/**
 * The stage registry. Adding a stage = one file in src/stages and one line here.
 */
import type { Stage } from "../runtime/stage.ts"
import { DatasetStage } from "./dataset.ts"
import { DemoStage } from "./demo-data.ts"
import { DecodeStage } from "./decode.ts"
import { SegmentStage } from "./segment.ts"
import { MertStage } from "./mert.ts"
import { ImportSegmentsStage } from "./import-segments.ts"
import { ImportFeaturesStage } from "./import-features.ts"
import { LabelEmbedStage } from "./label-embed.ts"
import { ClusterStage } from "./cluster.ts"
import { TrainStage } from "./train.ts"
import { EvalStage } from "./eval.ts"
import { VoteStage } from "./vote.ts"
import { ReportStage } from "./report.ts"
import { AudioFilesStage } from "./audio-files.ts"
import { PredictStage } from "./predict.ts"

export const stages: ReadonlyArray<Stage> = [
  DemoStage,
  DatasetStage,
  DecodeStage,
  SegmentStage,
  MertStage,
  ImportSegmentsStage,
  ImportFeaturesStage,
  LabelEmbedStage,
  ClusterStage,
  TrainStage,
  EvalStage,
  VoteStage,
  ReportStage,
  AudioFilesStage,
  PredictStage,
]
