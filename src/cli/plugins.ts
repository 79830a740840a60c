/**
 * Extra stages from user modules: MEA_PLUGINS=path/a.ts,path/b.js, each exporting `stages` (an array of stages made
 * with defineStage). TypeScript modules are loaded through tsx. Every problem (a missing file, a module that throws
 * while loading, a wrong export) is a UsageError naming the module.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { UsageError } from "../runtime/errors.ts"
import type { Stage } from "../runtime/stage.ts"
import { importModule } from "../util/lazy.ts"

const isStage = (s: unknown): s is Stage =>
  s !== null && typeof s === "object" && typeof (s as Stage).name === "string" && typeof (s as Stage).run === "function"

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0]

export const loadPlugins = (spec: string | undefined): Effect.Effect<ReadonlyArray<{ readonly from: string; readonly stages: ReadonlyArray<Stage> }>, UsageError> =>
  Effect.gen(function* () {
    const files = (spec ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")
    if (files.length === 0) return []
    const usage = (message: string) => new UsageError({ message: `MEA_PLUGINS: ${message}` })
    for (const f of files) {
      if (!fs.existsSync(f)) return yield* Effect.fail(usage(`${f}: no such file (paths are relative to ${process.cwd()})`))
    }
    if (files.some((f) => f.endsWith(".ts"))) {
      yield* Effect.tryPromise({
        try: async () => (await importModule<typeof import("tsx/esm/api")>("tsx/esm/api")).register(),
        catch: (e) => usage(`cannot load TypeScript plugins (tsx): ${firstLine(e)}`),
      })
    }
    const out: Array<{ from: string; stages: ReadonlyArray<Stage> }> = []
    for (const f of files) {
      const mod = yield* Effect.tryPromise({
        try: () => importModule<{ stages?: unknown }>(pathToFileURL(path.resolve(f)).href),
        catch: (e) => usage(`${f} failed to load: ${firstLine(e)}`),
      })
      if (!Array.isArray(mod.stages) || !mod.stages.every(isStage)) {
        return yield* Effect.fail(usage(`${f} must export 'stages', an array of stages made with defineStage`))
      }
      out.push({ from: `MEA_PLUGINS module ${f}`, stages: mod.stages })
    }
    return out
  })
