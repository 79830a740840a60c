/**
 * The stage registry. Adding a stage = one file in src/stages and one line here.
 */
import type { Stage } from "../runtime/stage.ts"
import { DatasetStage } from "./dataset.ts"

export const stages: ReadonlyArray<Stage> = [
  DatasetStage,
]
