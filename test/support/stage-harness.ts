/**
 * Runs one stage's `run` outside the engine, for unit tests of stages: no cache, no pipeline. Inputs are given already
 * resolved (build node inputs with `artifactOf`).
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Artifact, Codec, InputSpec, Progress, Stage, StageContext, StageError } from "../../src/runtime/stage.ts"

export const tempDir = (prefix = "mea-test-"): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

export interface HarnessResult {
  readonly value: unknown
  readonly outDir: string
  readonly notes: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  readonly progress: { total: number; done: number }
}

/** An artifact for a value that a test made itself (dir defaults to a fresh temp folder). */
export const artifactOf = <A, I>(codec: Codec<A, I>, value: A, dir: string = tempDir(), node = "test"): Artifact<A> => {
  // Round-trip through the codec's schema so the test sees what a stored artifact would give.
  const encoded = Schema.encodeSync(codec.schema)(value)
  fs.writeFileSync(path.join(dir, "value.json"), JSON.stringify(encoded))
  const decoded = Schema.decodeUnknownSync(codec.schema)(JSON.parse(fs.readFileSync(path.join(dir, "value.json"), "utf8")))
  return { value: decoded, hash: "test", dir, node, file: (name) => path.join(dir, name) }
}

export const runStage = (
  stage: Stage,
  options: { readonly params?: unknown; readonly inputs?: Record<string, unknown>; readonly outDir?: string; readonly threads?: number },
): Effect.Effect<HarnessResult, StageError> =>
  Effect.gen(function* () {
    const outDir = options.outDir ?? tempDir("mea-out-")
    const notes: Array<string> = []
    const warnings: Array<string> = []
    const counter = { total: 0, done: 0 }
    const progress: Progress = {
      start: (total) => Effect.sync(() => void (counter.total = total)),
      advance: (n = 1) => Effect.sync(() => void (counter.done += n)),
      note: (m) => Effect.sync(() => void notes.push(m)),
      warn: (m) => Effect.sync(() => void warnings.push(m)),
    }
    const params = yield* stage.canonicalParams(options.params ?? {}).pipe(Effect.orDie)
    const value = yield* stage.run({
      nodeId: `${stage.name}.test`,
      params,
      inputs: (options.inputs ?? {}) as StageContext<unknown, Record<string, InputSpec>>["inputs"],
      outDir,
      progress,
      threads: options.threads ?? 2,
    })
    // Prove the value survives the codec, as it must in the engine.
    const encoded = Schema.encodeUnknownSync(stage.output.schema)(value)
    Schema.decodeUnknownSync(stage.output.schema)(JSON.parse(JSON.stringify(encoded)))
    return { value, outDir, notes, warnings, progress: counter }
  }).pipe(Effect.provide(NodeContext.layer))

/** Runs a stage to completion as a Promise (for plain vitest tests). */
export const runStagePromise = (stage: Stage, options: Parameters<typeof runStage>[1]): Promise<HarnessResult> =>
  Effect.runPromise(runStage(stage, options))

/** The artifact a stage's result would be, for feeding it to the next stage in a test. */
export const artifactFromResult = <A>(result: HarnessResult, node = "test"): Artifact<A> => ({
  value: result.value as A,
  hash: "test",
  dir: result.outDir,
  node,
  file: (name) => path.join(result.outDir, name),
})
