/**
 * How a run shows itself. On a terminal: a live view with one line per running node and a bar with items/s and ETA.
 * Elsewhere (CI, pipes): plain log lines, with progress at most every few seconds. Stages report progress through the
 * engine, which forwards it here; they never print.
 */
import type cliProgressType from "cli-progress"
import { lazyRequire } from "../util/lazy.ts"
import { Context, Effect, Layer } from "effect"

export type NodeStatus = "ran" | "cached" | "failed" | "skipped"

export interface ReporterService {
  readonly nodeStart: (id: string, stage: string) => Effect.Effect<void>
  readonly progress: (id: string, done: number, total: number, unit: string) => Effect.Effect<void>
  readonly nodeEnd: (id: string, status: NodeStatus, ms: number, detail?: string) => Effect.Effect<void>
  readonly info: (message: string) => Effect.Effect<void>
  readonly warn: (id: string, message: string) => Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

export class Reporter extends Context.Tag("mea/Reporter")<Reporter, ReporterService>() {}

export const formatMs = (ms: number): string =>
  ms < 1000 ? `${Math.round(ms)}ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`

const symbol: Record<NodeStatus, string> = { ran: "ran   ", cached: "cached", failed: "FAILED", skipped: "skipped" }

/** Plain lines on a stream (stderr by default). `showCached` lists cached nodes too. */
export const plainReporter = (write: (line: string) => void, options: { readonly showCached?: boolean } = {}): ReporterService => {
  const lastShown = new Map<string, number>()
  const started = new Map<string, number>()
  return {
    nodeStart: (id, stage) =>
      Effect.sync(() => {
        started.set(id, Date.now())
        write(`start  ${id} (${stage})`)
      }),
    progress: (id, done, total, unit) =>
      Effect.sync(() => {
        const now = Date.now()
        if (done < total && now - (lastShown.get(id) ?? 0) < 5000) return
        lastShown.set(id, now)
        const elapsed = (now - (started.get(id) ?? now)) / 1000
        const rate = elapsed > 0 ? done / elapsed : 0
        const eta = rate > 0 ? (total - done) / rate : 0
        write(`       ${id}: ${done}/${total} ${unit} (${rate.toFixed(1)} ${unit}/s, ETA ${formatMs(eta * 1000)})`)
      }),
    nodeEnd: (id, status, ms, detail) =>
      Effect.sync(() => {
        if (status === "cached" && options.showCached !== true) return
        write(`${symbol[status]} ${id}${status === "cached" ? "" : ` ${formatMs(ms)}`}${detail !== undefined ? `: ${detail}` : ""}`)
      }),
    info: (message) => Effect.sync(() => write(message)),
    warn: (id, message) => Effect.sync(() => write(`warn   ${id}: ${message}`)),
    close: Effect.void,
  }
}

/** Only a live terminal view needs the progress bars. */
const cliProgressLib = lazyRequire<typeof cliProgressType>("cli-progress")

/** The live terminal view. Finished nodes scroll up as log lines; running ones keep a bar each. */
export const ttyReporter = (stream: NodeJS.WriteStream): ReporterService => {
  const cliProgress = cliProgressLib()
  const multi = new cliProgress.MultiBar(
    {
      stream,
      clearOnComplete: true,
      hideCursor: true,
      format: " {bar} {node} {value}/{total} {unit} {rate}/s ETA {eta_formatted}",
      barsize: 24,
      etaBuffer: 50,
      fps: 8,
    },
    cliProgress.Presets.shades_grey,
  )
  const bars = new Map<string, cliProgressType.SingleBar>()
  const started = new Map<string, number>()
  const rate = (id: string, done: number) => {
    const s = (Date.now() - (started.get(id) ?? Date.now())) / 1000
    return s > 0 ? (done / s).toFixed(1) : "-"
  }
  return {
    nodeStart: (id, stage) =>
      Effect.sync(() => {
        started.set(id, Date.now())
        bars.set(id, multi.create(1, 0, { node: `${id} (${stage})`, unit: "", rate: "-" }))
      }),
    progress: (id, done, total, unit) =>
      Effect.sync(() => {
        const bar = bars.get(id)
        if (bar === undefined) return
        bar.setTotal(Math.max(total, 1))
        bar.update(done, { unit, rate: rate(id, done) })
      }),
    nodeEnd: (id, status, ms, detail) =>
      Effect.sync(() => {
        const bar = bars.get(id)
        if (bar !== undefined) {
          multi.remove(bar)
          bars.delete(id)
        }
        if (status !== "cached") multi.log(`${symbol[status]} ${id} ${formatMs(ms)}${detail !== undefined ? `: ${detail}` : ""}\n`)
      }),
    info: (message) => Effect.sync(() => multi.log(`${message}\n`)),
    warn: (id, message) => Effect.sync(() => multi.log(`warn   ${id}: ${message}\n`)),
    // update() flushes log lines still buffered for the next frame; stop() alone would drop them
    close: Effect.sync(() => {
      multi.update()
      multi.stop()
    }),
  }
}

export const silentReporter: ReporterService = {
  nodeStart: () => Effect.void,
  progress: () => Effect.void,
  nodeEnd: () => Effect.void,
  info: () => Effect.void,
  warn: () => Effect.void,
  close: Effect.void,
}

/** The reporter for this process: live view on a TTY, plain lines on stderr otherwise. */
export const reporterLayer = (options: { readonly quiet?: boolean } = {}): Layer.Layer<Reporter> =>
  Layer.sync(Reporter, () => {
    if (options.quiet === true) return silentReporter
    if (process.stderr.isTTY && process.env.CI === undefined) return ttyReporter(process.stderr)
    return plainReporter((line) => process.stderr.write(`${line}\n`))
  })
