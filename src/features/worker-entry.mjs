// Entry of every mea worker thread. Workers start in a bare Node context (no vitest transform, no bundle), so this file
// registers tsx and then loads the TypeScript module named in workerData. A plain .mjs file, so that it runs the same
// under the bundle (dist/mea.cjs), tsx and vitest.
import { workerData } from "node:worker_threads"
import { register } from "tsx/esm/api"

register()
await import(workerData.module)
