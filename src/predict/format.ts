/** The output of `mea predict`: a table for people, CSV (long form: one row per song or segment and rank) or JSON. */
import * as path from "node:path"
import { Either } from "effect"
import type { ArtifactReadError } from "../artifacts/errors.ts"
import type { Artifact } from "../runtime/stage.ts"
import { type Predictions, readPredictionScores } from "../artifacts/predictions.ts"

export type OutputFormat = "table" | "csv" | "json"

export interface RenderOptions {
  readonly format: OutputFormat
  readonly segmentScores: boolean
  readonly cwd: string
  /** Files that could not be tagged, listed in the JSON output (the table and CSV leave them to stderr). */
  readonly failed: ReadonlyArray<{ readonly file: string; readonly reason: string }>
}

const shown = (file: string, cwd: string): string => {
  const rel = path.relative(cwd, file)
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file
}

const clock = (s: number): string => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`

/** The k best labels of one score row, best first (ties: label order). */
const topOf = (labels: ReadonlyArray<string>, scores: Float32Array, row: number, k: number) =>
  labels
    .map((label, j) => ({ label, score: scores[row * labels.length + j], j }))
    .sort((a, b) => b.score - a.score || a.j - b.j)
    .slice(0, k)
    .map(({ label, score }) => ({ label, score }))

const csvCell = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)

export const renderPredictions = (a: Artifact<Predictions>, o: RenderOptions): Either.Either<string, ArtifactReadError> =>
  Either.map(readPredictionScores(a), (scores) => render(a, o, scores))

const render = (a: Artifact<Predictions>, o: RenderOptions, scores: { readonly songs: Float32Array; readonly segments: Float32Array }): string => {
  const p = a.value
  const k = Math.min(p.k, p.labels.length)
  const segmentsOf = (song: Predictions["songs"][number]) =>
    Array.from({ length: song.segments }, (_, j) => ({
      segment: j,
      start: j * p.hop,
      end: j * p.hop + p.seconds,
      top: topOf(p.labels, scores.segments, song.first_row + j, k),
      row: song.first_row + j,
    }))
  switch (o.format) {
    case "json": {
      const L = p.labels.length
      const row = (m: Float32Array, r: number) => Object.fromEntries(p.labels.map((l, j) => [l, m[r * L + j]]))
      const doc = {
        model: p.model,
        labels: p.labels,
        k: p.k,
        aggregation: p.aggregation,
        songs: p.songs.map((song, i) => ({
          file: shown(song.file, o.cwd),
          top: song.top,
          scores: row(scores.songs, i),
          ...(o.segmentScores
            ? { segments: segmentsOf(song).map((s) => ({ segment: s.segment, start: s.start, end: s.end, top: s.top, scores: row(scores.segments, s.row) })) }
            : {}),
        })),
        failed: o.failed.map((f) => ({ file: shown(f.file, o.cwd), reason: f.reason })),
      }
      return `${JSON.stringify(doc, null, 1)}\n`
    }
    case "csv": {
      const lines = ["file,segment,start_s,end_s,rank,label,score"]
      for (const song of p.songs) {
        const file = csvCell(shown(song.file, o.cwd))
        song.top.forEach((t, r) => lines.push([file, "", "", "", String(r + 1), csvCell(t.label), String(t.score)].join(",")))
        if (o.segmentScores) {
          for (const s of segmentsOf(song)) s.top.forEach((t, r) => lines.push([file, String(s.segment), String(s.start), String(s.end), String(r + 1), csvCell(t.label), String(t.score)].join(",")))
        }
      }
      return `${lines.join("\n")}\n`
    }
    case "table": {
      const rows: Array<[string, string]> = []
      const tags = (top: ReadonlyArray<{ label: string; score: number }>) => top.map((t) => `${t.label} ${t.score.toFixed(3)}`).join("  ")
      for (const song of p.songs) {
        rows.push([shown(song.file, o.cwd), tags(song.top)])
        if (o.segmentScores) for (const s of segmentsOf(song)) rows.push([`  ${clock(s.start)}-${clock(s.end)}`, tags(s.top)])
      }
      const width = Math.max(4, ...rows.map((r) => r[0].length))
      const head = `${"song".padEnd(width)}  top ${k} (${p.aggregation}; cosine score)`
      return `${[head, `${"-".repeat(width)}  ${"-".repeat(head.length - width - 2)}`, ...rows.map(([a, b]) => `${a.padEnd(width)}  ${b}`)].join("\n")}\n`
    }
  }
}
