/**
 * Parameter sweeps: the cartesian grid of `key=v1,v2` arguments. Each grid point is the pipeline with those params;
 * nodes that do not depend on a swept param have the same key at every point and so run once.
 */
import { Effect, Either } from "effect"
import * as YAML from "yaml"
import { PipelineError, PipelineErrors } from "./errors.ts"
import type { Graph } from "./graph.ts"
import type { ResultColumn } from "./pipeline-schema.ts"

export interface GridAxis {
  readonly key: string
  readonly values: ReadonlyArray<string>
}

/** Parses `alpha=1,2.5` arguments. Values stay text here; they are typed when applied as `-p` overrides. */
export const parseGrid = (file: string, args: ReadonlyArray<string>): Either.Either<ReadonlyArray<GridAxis>, PipelineErrors> => {
  const axes: Array<GridAxis> = []
  for (const a of args) {
    const eq = a.indexOf("=")
    const values = eq < 0 ? [] : a.slice(eq + 1).split(",").map((v) => v.trim())
    if (eq <= 0 || values.some((v) => v === "")) {
      return Either.left(new PipelineErrors({ errors: [new PipelineError({ file, path: [], message: `sweep axis '${a}': expected key=value1,value2,...` })] }))
    }
    if (axes.some((x) => x.key === a.slice(0, eq))) {
      return Either.left(new PipelineErrors({ errors: [new PipelineError({ file, path: [], message: `sweep axis '${a.slice(0, eq)}' is given twice` })] }))
    }
    axes.push({ key: a.slice(0, eq), values })
  }
  if (axes.length === 0) {
    return Either.left(new PipelineErrors({ errors: [new PipelineError({ file, path: [], message: "sweep needs at least one axis, e.g. alpha=1,2.5" })] }))
  }
  return Either.right(axes)
}

/** Every grid point as `key=value` overrides, first axis slowest. */
export const gridPoints = (axes: ReadonlyArray<GridAxis>): ReadonlyArray<ReadonlyArray<string>> =>
  axes.reduce<Array<Array<string>>>((acc, axis) => acc.flatMap((p) => axis.values.map((v) => [...p, `${axis.key}=${v}`])), [[]])

export const pointParams = (point: ReadonlyArray<string>): Record<string, unknown> =>
  Object.fromEntries(point.map((kv) => [kv.slice(0, kv.indexOf("=")), YAML.parse(kv.slice(kv.indexOf("=") + 1)) as unknown]))

/** Reads `a.b[2].c` out of a JSON value. */
export const jsonPath = (value: unknown, p: string): unknown => {
  let cur: unknown = value
  for (const part of p.split(".").flatMap((s) => s.split(/\[(\d+)\]/).filter((x) => x !== ""))) {
    if (cur === null || typeof cur !== "object") return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

export interface ResultCell {
  readonly column: string
  readonly node: string
  readonly path: string
}

/** The result columns a pipeline declares, expanded over node globs. */
export const resultCells = (graph: Graph, declared: ReadonlyArray<ResultColumn>): ReadonlyArray<ResultCell> =>
  declared.flatMap((c) => {
    const re = new RegExp(`^${c.node.replace(/[.+^$()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`)
    return graph.nodes
      .filter((n) => re.test(n.id))
      .map((n) => ({ column: c.node.includes("*") ? `${c.name ?? c.path} ${n.id}` : (c.name ?? `${n.id} ${c.path}`), node: n.id, path: c.path }))
  })

export const formatCell = (v: unknown): string =>
  typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : v === undefined ? "-" : typeof v === "string" ? v : JSON.stringify(v)

/** A plain aligned text table. */
export const renderTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")
}

export const noResultsDeclared = (file: string): Effect.Effect<never, PipelineErrors> =>
  Effect.fail(
    new PipelineErrors({
      errors: [new PipelineError({ file, path: ["results"], message: "the pipeline declares no 'results' columns for the sweep table" })],
    }),
  )
