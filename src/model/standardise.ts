/**
 * Per-input-column standardisation (z-score). Feature columns come on very different scales (the built-in extractor's
 * kurtosis next to log-mel means next to tempo), which the net's first linear layer cannot undo fast enough; every
 * column is shifted by its training mean and divided by its training standard deviation before the net sees it.
 *
 * The statistics are population moments (divide by n) over the given rows, streamed in chunks through the row
 * readers and accumulated in float64: each chunk's mean and sum of squared deviations (two passes over the chunk in
 * memory) are merged with Chan et al.'s pairwise update, which stays accurate for columns whose mean is large next to
 * their spread. The standard deviation is floored so a constant column maps to 0 rather than NaN.
 */
import { Data, Either } from "effect"
import { meaNativeIfWanted } from "../native/mea-native.ts"
import type { RowSource } from "./rows.ts"

export class StandardiseError extends Data.TaggedError("StandardiseError")<{ readonly message: string }> {}

const fail = (message: string): Either.Either<never, StandardiseError> => Either.left(new StandardiseError({ message }))

export interface Standardiser {
  /** Column means, float32 as stored and applied. */
  readonly mean: Float32Array
  /** Column standard deviations, already floored. */
  readonly std: Float32Array
}

export const STD_FLOOR = 1e-6

export interface StatisticsInput {
  /** Names the rows in error messages (a data set name). */
  readonly name: string
  readonly source: RowSource
  /** File row numbers; a row listed twice counts twice. */
  readonly rows: ReadonlyArray<number>
}

/**
 * One chunk's column means and sums of squared deviations, in float64; returns the index of the first non-finite value
 * (rows in order), or -1. mea's native kernel (src/native/mea-native.c) computes the same bits about 10x faster.
 */
const chunkMoments = (buffer: Float32Array, k: number, dim: number, chunkMean: Float64Array, chunkM2: Float64Array): number => {
  chunkMean.fill(0)
  chunkM2.fill(0)
  for (let r = 0; r < k; r++) {
    for (let j = 0; j < dim; j++) {
      const v = buffer[r * dim + j]
      if (!Number.isFinite(v)) return r * dim + j
      chunkMean[j] += v
    }
  }
  for (let j = 0; j < dim; j++) chunkMean[j] /= k
  for (let r = 0; r < k; r++) {
    for (let j = 0; j < dim; j++) {
      const d = buffer[r * dim + j] - chunkMean[j]
      chunkM2[j] += d * d
    }
  }
  return -1
}

/**
 * Fails on no rows, mismatched widths or a non-finite value; a row source that throws (see rows.ts) still throws.
 * `native: false` keeps the JS loops.
 */
export const columnStatistics = (
  inputs: ReadonlyArray<StatisticsInput>,
  chunk = 1024,
  floor = STD_FLOOR,
  options: { readonly native?: boolean } = {},
): Either.Either<Standardiser, StandardiseError> => {
  const kernel = meaNativeIfWanted(options.native)?.columnChunk
  if (inputs.length === 0) return fail("standardisation: no rows to compute column statistics from")
  const dim = inputs[0].source.dim
  const mean = new Float64Array(dim)
  const m2 = new Float64Array(dim)
  const chunkMean = new Float64Array(dim)
  const chunkM2 = new Float64Array(dim)
  let n = 0
  for (const input of inputs) {
    if (input.source.dim !== dim) return fail(`standardisation: rows of '${input.name}' have ${input.source.dim} columns, those of '${inputs[0].name}' ${dim}`)
    // Ascending order reads a file kept on disk front to back.
    const rows = Int32Array.from(input.rows).sort()
    const buffer = new Float32Array(Math.min(chunk, rows.length) * dim)
    for (let s = 0; s < rows.length; s += chunk) {
      const k = Math.min(chunk, rows.length - s)
      input.source.gather(rows.subarray(s, s + k), buffer)
      const bad = kernel !== undefined ? kernel(buffer, k, dim, chunkMean, chunkM2) : chunkMoments(buffer, k, dim, chunkMean, chunkM2)
      if (bad >= 0) {
        const [r, j] = [Math.floor(bad / dim), bad % dim]
        return fail(`standardisation: '${input.name}' feature row ${rows[s + r]}, column ${j} is ${buffer[bad]}; features must be finite`)
      }
      const total = n + k
      for (let j = 0; j < dim; j++) {
        const delta = chunkMean[j] - mean[j]
        mean[j] += (delta * k) / total
        m2[j] += chunkM2[j] + (delta * delta * n * k) / total
      }
      n = total
    }
  }
  if (n === 0) return fail(`standardisation: no rows to compute column statistics from (${inputs.map((i) => `'${i.name}'`).join(", ")} list none)`)
  return Either.right({
    mean: Float32Array.from(mean),
    std: Float32Array.from(m2, (v) => Math.max(Math.sqrt(v / n), floor)),
  })
}

/**
 * `(x - mean) / std` in float32 arithmetic, one rounding per operation, exactly as the ONNX Sub and Div of the
 * exported graph compute it.
 */
export const standardiseInPlace = (s: Standardiser, data: Float32Array, offset: number, rows: number): void => {
  const dim = s.mean.length
  for (let r = 0; r < rows; r++) {
    const base = (offset + r) * dim
    for (let j = 0; j < dim; j++) data[base + j] = Math.fround(data[base + j] - s.mean[j]) / s.std[j]
  }
}

/** The same rows, standardised as they are gathered. */
export const standardisedRows = (source: RowSource, s: Standardiser): Either.Either<RowSource, StandardiseError> => {
  if (s.mean.length !== source.dim || s.std.length !== source.dim) {
    return fail(`standardisation: statistics for ${s.mean.length} columns applied to rows of ${source.dim}`)
  }
  return Either.right({
    dim: source.dim,
    gather: (indices, out, offset = 0) => {
      source.gather(indices, out, offset)
      standardiseInPlace(s, out, offset, indices.length)
    },
    ...(source.blockRows === undefined ? {} : { blockRows: source.blockRows }),
    ...(source.prefetch === undefined ? {} : { prefetch: (indices: ArrayLike<number>) => source.prefetch!(indices) }),
    ...(source.ready === undefined ? {} : { ready: (indices: ArrayLike<number>) => source.ready!(indices) }),
    close: () => source.close(),
  })
}
