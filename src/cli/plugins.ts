/**
 * Extra stages from user modules: MEA_PLUGINS=path/a.ts,path/b.js, each exporting `stages` (an array of stages made
 * with defineStage). TypeScript modules are loaded through tsx.
 */
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import type { Stage } from "../runtime/stage.ts"

const isStage = (s: unknown): s is Stage =>
  s !== null && typeof s === "object" && typeof (s as Stage).name === "string" && typeof (s as Stage).run === "function"

export const loadPlugins = async (spec: string | undefined): Promise<ReadonlyArray<Stage>> => {
  const files = (spec ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")
  if (files.length === 0) return []
  if (files.some((f) => f.endsWith(".ts"))) {
    const { register } = await import("tsx/esm/api")
    register()
  }
  const out: Array<Stage> = []
  for (const f of files) {
    const mod = (await import(pathToFileURL(path.resolve(f)).href)) as { stages?: unknown }
    if (!Array.isArray(mod.stages) || !mod.stages.every(isStage)) {
      throw new Error(`MEA_PLUGINS: ${f} must export 'stages', an array of stages made with defineStage`)
    }
    out.push(...mod.stages)
  }
  return out
}
