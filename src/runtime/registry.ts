/**
 * The stages a run can use, as a service: the built-in ones plus any loaded from plugins. Built as a Layer so that a
 * plugin that fails to load is an ordinary typed error of the program (exit 2, one line), not a crash at import time.
 */
import { Context, Effect, Layer } from "effect"
import { UsageError } from "./errors.ts"
import type { Stage } from "./stage.ts"

export class StageRegistry extends Context.Tag("mea/StageRegistry")<StageRegistry, ReadonlyMap<string, Stage>>() {}

/** One map by name; a name registered twice is an error that says where each came from. */
export const registryOf = (sources: ReadonlyArray<{ readonly from: string; readonly stages: ReadonlyArray<Stage> }>): Effect.Effect<ReadonlyMap<string, Stage>, UsageError> =>
  Effect.gen(function* () {
    const byName = new Map<string, Stage>()
    const origin = new Map<string, string>()
    for (const { from, stages } of sources) {
      for (const s of stages) {
        const first = origin.get(s.name)
        if (first !== undefined) {
          return yield* Effect.fail(new UsageError({ message: `${from} registers stage '${s.name}', which ${first} already registers; rename one of them` }))
        }
        byName.set(s.name, s)
        origin.set(s.name, from)
      }
    }
    return byName
  })

export const stageRegistryLayer = (
  builtin: ReadonlyArray<Stage>,
  plugins: Effect.Effect<ReadonlyArray<{ readonly from: string; readonly stages: ReadonlyArray<Stage> }>, UsageError>,
): Layer.Layer<StageRegistry, UsageError> =>
  Layer.effect(
    StageRegistry,
    Effect.flatMap(plugins, (loaded) => registryOf([{ from: "mea", stages: builtin }, ...loaded])),
  )
