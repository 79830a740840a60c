/**
 * From the upstream artifacts (features, segments, dataset, label embeddings) to what training and evaluation need:
 * which feature rows belong to which split, their labels as indices of the vocabulary, and the label embeddings in
 * vocabulary order. Every mismatch between artifacts is reported with both sides named.
 */
import { Data, Either } from "effect"
import * as fs from "node:fs"
import type { Artifact } from "../runtime/stage.ts"
import type { Dataset } from "../artifacts/dataset.ts"
import type { Features } from "../artifacts/features.ts"
import { readSegmentTable, type Segments } from "../artifacts/segments.ts"

/** Upstream artifacts that do not fit together (or a features file imported by reference that is gone or changed). */
export class DataError extends Data.TaggedError("DataError")<{ readonly message: string; readonly cause?: unknown }> {}

const fail = (message: string): Either.Either<never, DataError> => Either.left(new DataError({ message }))

/** The feature matrix of a features artifact: its own file, or the files it was imported from by reference. */
export const featureFiles = (features: Artifact<Features>): Either.Either<Array<string>, DataError> => {
  const sources = features.value.sources
  if (sources === undefined) return Either.right([features.file(features.value.file)])
  return Either.all(
    sources.map((src) => {
      const bytes = Either.try({
        try: () => fs.statSync(src.path).size,
        catch: (cause) => new DataError({ message: `features ${features.node} refer to ${src.path}, which no longer exists; restore it or rerun the import`, cause }),
      })
      return Either.flatMap(bytes, (n) =>
        n !== src.bytes
          ? fail(`features ${features.node} refer to ${src.path}, which has changed since it was imported (${src.bytes} bytes then, ${n} now); rerun the pipeline to import it again`)
          : Either.right(src.path),
      )
    }),
  )
}

export type SplitChoice = "train" | "validation" | "test" | "all"

/** The track id of every feature row (features are one row per segment, in the segment index's order). */
export const rowTracks = (features: Artifact<Features>, segments: Artifact<Segments>): Either.Either<Array<string>, DataError> => {
  if (features.value.rows !== segments.value.count) {
    return fail(
      `features ${features.node} have ${features.value.rows} rows but segments ${segments.node} list ${segments.value.count} segments; ` +
        `the features must be computed from these segments`,
    )
  }
  return Either.map(tableOf(segments), (table) => Array.from({ length: segments.value.count }, (_, i) => segments.value.tracks[table[i * 4]]))
}

const tableOf = (segments: Artifact<Segments>): Either.Either<Uint32Array, DataError> =>
  Either.mapLeft(readSegmentTable(segments), (e) => new DataError({ message: e.message, cause: e }))

/** The segment number (within its track) of each of the given feature rows. */
export const segmentNumbers = (segments: Artifact<Segments>, rows: ReadonlyArray<number>): Either.Either<Array<number>, DataError> =>
  Either.map(tableOf(segments), (table) => rows.map((r) => table[r * 4 + 1]))

export interface SplitRows {
  /** Feature row numbers. */
  readonly rows: Array<number>
  /** Track id of each row. */
  readonly tracks: Array<string>
  /** Label indices (into dataset.labels) of each row. */
  readonly labels: Array<Array<number>>
}

export const splitRows = (dataset: Dataset, trackOfRow: ReadonlyArray<string>, split: SplitChoice, what: string): Either.Either<SplitRows, DataError> => {
  const byId = new Map(dataset.tracks.map((t) => [t.id, t]))
  const labelIndex = new Map(dataset.labels.map((l, i) => [l, i]))
  const out: SplitRows = { rows: [], tracks: [], labels: [] }
  for (let r = 0; r < trackOfRow.length; r++) {
    const t = byId.get(trackOfRow[r])
    if (t === undefined) return fail(`${what}: feature row ${r} belongs to track '${trackOfRow[r]}', which data set '${dataset.name}' does not list`)
    if (split !== "all" && t.split !== split) continue
    const labels: Array<number> = []
    for (const l of t.labels) {
      const i = labelIndex.get(l)
      if (i === undefined) return fail(`${what}: track '${t.id}' has label '${l}', which is not in the vocabulary of '${dataset.name}'`)
      labels.push(i)
    }
    out.rows.push(r)
    out.tracks.push(t.id)
    out.labels.push(labels)
  }
  return Either.right(out)
}

/** Binary truth matrix (rows x labels). */
export const truthMatrix = (labels: ReadonlyArray<ReadonlyArray<number>>, nLabels: number): Uint8Array => {
  const m = new Uint8Array(labels.length * nLabels)
  labels.forEach((ls, r) => ls.forEach((l) => (m[r * nLabels + l] = 1)))
  return m
}

/**
 * Label embeddings re-ordered to the data set's vocabulary; every vocabulary label must have an embedding.
 * `embedded` names the embedded labels, `matrix` is their rows (embedded.length x dim).
 */
export const alignEmbeddings = (
  vocabulary: ReadonlyArray<string>,
  embedded: ReadonlyArray<string>,
  matrix: Float32Array,
  dim: number,
  what: string,
): Either.Either<Float32Array, DataError> => {
  const index = new Map(embedded.map((l, i) => [l, i]))
  const out = new Float32Array(vocabulary.length * dim)
  for (let i = 0; i < vocabulary.length; i++) {
    const l = vocabulary[i]
    const j = index.get(l)
    if (j === undefined) return fail(`${what}: no embedding for label '${l}' (embedded labels: ${embedded.slice(0, 8).join(", ")}${embedded.length > 8 ? ", ..." : ""})`)
    out.set(matrix.subarray(j * dim, (j + 1) * dim), i * dim)
  }
  return Either.right(out)
}

/** The feature layers to use: given, or all layers of the built-in extractor, or MERT's 3, 6, 9, 12. */
export const chooseLayers = (features: Features, given: ReadonlyArray<number> | undefined): Array<number> => {
  if (given !== undefined && given.length > 0) return [...given]
  if (features.extractor === "builtin" || features.layers < 13) return Array.from({ length: features.layers }, (_, i) => i)
  return [3, 6, 9, 12]
}

/** The reference's top-k per data set (2 MTG-Jamendo, 4 CAL500, 3 Emotify), recognised by format or name. */
export const referenceTopK = (dataset: Dataset): number | undefined => {
  const key = `${dataset.format} ${dataset.name}`.toLowerCase()
  if (/mtg|jamendo/.test(key)) return 2
  if (/cal500/.test(key)) return 4
  if (/emotify/.test(key)) return 3
  return undefined
}
