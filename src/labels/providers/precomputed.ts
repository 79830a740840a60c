/**
 * Label embeddings computed elsewhere: an .npz with a string array of labels and a float matrix (the reference's
 * label_expanded_*.npz: `labels`, `text_features`), an .npy matrix whose rows follow a given label list, or JSON
 * (`{"labels": [...], "embeddings": [[...], ...]}` or `{"<label>": [...], ...}`).
 */
import { Data, Either, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type NpyArray, readNpy } from "../../io/npy.ts"
import { readNpz } from "../../io/npz.ts"

export class PrecomputedError extends Data.TaggedError("PrecomputedError")<{ readonly message: string; readonly cause?: unknown }> {}

export interface LabelMatrix {
  readonly labels: ReadonlyArray<string>
  readonly dim: number
  /** labels.length x dim, row-major. */
  readonly matrix: Float32Array
}

const fail = (message: string): Either.Either<never, PrecomputedError> => Either.left(new PrecomputedError({ message }))
/** A reader's own error (NpyError, NpzError: they name the file) as this provider's, the original kept as its cause. */
const fromReader = (e: { readonly message: string }): PrecomputedError => new PrecomputedError({ message: e.message, cause: e })

const toFloat32 = (a: NpyArray, what: string): Either.Either<{ readonly rows: number; readonly dim: number; readonly data: Float32Array }, PrecomputedError> => {
  if (a.kind !== "numeric" || a.shape.length !== 2) {
    return fail(`${what}: expected a 2-D numeric matrix, found ${a.kind} of shape (${a.shape.join(", ")}), dtype ${a.dtype}`)
  }
  const data = a.data instanceof Float32Array ? a.data : Float32Array.from(a.data as ArrayLike<number>, Number)
  return Either.right({ rows: a.shape[0], dim: a.shape[1], data })
}

const JsonLists = Schema.Struct({ labels: Schema.Array(Schema.String), embeddings: Schema.Array(Schema.Array(Schema.Number)) })
const JsonMap = Schema.Record({ key: Schema.String, value: Schema.Array(Schema.Number) })

const fromRows = (labels: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<number>>, what: string): Either.Either<LabelMatrix, PrecomputedError> => {
  if (labels.length !== rows.length) return fail(`${what}: ${labels.length} labels but ${rows.length} embeddings`)
  if (rows.length === 0) return fail(`${what}: no embeddings`)
  const dim = rows[0].length
  const matrix = new Float32Array(rows.length * dim)
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]
    if (r.length !== dim) return fail(`${what}: embedding ${i} (${JSON.stringify(labels[i])}) has ${r.length} values, expected ${dim}`)
    matrix.set(r, i * dim)
  }
  return Either.right({ labels, dim, matrix })
}

export interface PrecomputedOptions {
  /** Array names inside an .npz. */
  readonly labelsKey: string
  readonly featuresKey: string
  /** Row labels for a bare .npy matrix. */
  readonly labels?: ReadonlyArray<string>
}

const fromNpz = (file: string, options: PrecomputedOptions): Either.Either<LabelMatrix, PrecomputedError> =>
  Either.flatMap(Either.mapLeft(readNpz(file), fromReader), (arrays) => {
    const names = Object.keys(arrays).join(", ")
    const labelsArr = arrays[options.labelsKey]
    if (labelsArr === undefined) return fail(`${file}: no array '${options.labelsKey}' (has ${names}); set labels_key`)
    const feats = arrays[options.featuresKey]
    if (feats === undefined) return fail(`${file}: no array '${options.featuresKey}' (has ${names}); set features_key`)
    if (labelsArr.kind !== "string") return fail(`${file}[${options.labelsKey}]: expected strings, found dtype ${labelsArr.dtype}`)
    return Either.flatMap(toFloat32(feats, `${file}[${options.featuresKey}]`), (m) => {
      const labels = labelsArr.data
      if (labels.length !== m.rows) return fail(`${file}: ${labels.length} labels but ${m.rows} embedding rows`)
      return Either.right({ labels, dim: m.dim, matrix: m.data })
    })
  })

const fromNpy = (file: string, options: PrecomputedOptions): Either.Either<LabelMatrix, PrecomputedError> =>
  Either.flatMap(Either.flatMap(Either.mapLeft(readNpy(file), fromReader), (a) => toFloat32(a, file)), (m) => {
    const labels = options.labels
    if (labels === undefined) return fail(`${file}: a bare .npy holds no label names; give the labels (dataset input or labels param)`)
    if (labels.length !== m.rows) return fail(`${file}: ${m.rows} rows but ${labels.length} labels were given`)
    return Either.right({ labels, dim: m.dim, matrix: m.data })
  })

const fromJson = (file: string): Either.Either<LabelMatrix, PrecomputedError> =>
  Either.flatMap(
    Either.try({
      try: (): unknown => JSON.parse(fs.readFileSync(file, "utf8")),
      catch: (cause) => new PrecomputedError({ message: `${file}: not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`, cause }),
    }),
    (raw) => {
      const lists = Schema.decodeUnknownEither(JsonLists)(raw)
      if (Either.isRight(lists)) return fromRows(lists.right.labels, lists.right.embeddings, file)
      const map = Schema.decodeUnknownEither(JsonMap)(raw)
      if (Either.isRight(map)) return fromRows(Object.keys(map.right), Object.values(map.right), file)
      return fail(`${file}: expected {"labels": [...], "embeddings": [[...]]} or {"<label>": [numbers]}`)
    },
  )

/** Reads a file of label embeddings; a reader's error (NpyError, NpzError) becomes the cause of a PrecomputedError. */
export const readLabelMatrix = (file: string, options: PrecomputedOptions): Either.Either<LabelMatrix, PrecomputedError> => {
  const ext = path.extname(file).toLowerCase()
  if (ext === ".npz") return fromNpz(file, options)
  if (ext === ".npy") return fromNpy(file, options)
  if (ext === ".json") return fromJson(file)
  return fail(`${file}: unknown embeddings file type '${ext}' (expected .npz, .npy or .json)`)
}

/** Rows reordered to `wanted`; every wanted label must be present. */
export const selectLabels = (m: LabelMatrix, wanted: ReadonlyArray<string>, what: string): Either.Either<LabelMatrix, PrecomputedError> => {
  const index = new Map(m.labels.map((l, i) => [l, i]))
  const missing = wanted.filter((l) => !index.has(l))
  if (missing.length > 0) {
    return fail(`${what}: no embedding for ${missing.map((l) => JSON.stringify(l)).join(", ")} (file has ${m.labels.map((l) => JSON.stringify(l)).join(", ")})`)
  }
  const matrix = new Float32Array(wanted.length * m.dim)
  wanted.forEach((l, i) => matrix.set(m.matrix.subarray(index.get(l)! * m.dim, (index.get(l)! + 1) * m.dim), i * m.dim))
  return Either.right({ labels: wanted, dim: m.dim, matrix })
}
