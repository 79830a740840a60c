/**
 * Feature rows for training and evaluation: the chosen layers of a (rows, L, D) float32 .npy, concatenated into one
 * vector per segment.
 *
 * - `openRows` reads a features file as it is: small selections are loaded into memory once; large ones stay on disk
 *   and are read on demand, one read call per run of consecutive rows (evaluation and statistics ask for ascending
 *   rows, so a split is read in large sequential blocks). Memory stays bounded by one run's buffer.
 * - `compileRows` is for training, which reads every training row once per epoch: one sequential pass copies only the
 *   layers the net uses of only the training rows into a (rows, dim) float32 .npy (4 of 13 MERT layers: 31% of the
 *   bytes), read afterwards in blocks of `blockRows` consecutive rows. Blocks are read asynchronously (`prefetch`, on
 *   libuv's thread pool, while onnxruntime computes on the main thread) into a small cache of recently used blocks.
 *   Below `inMemoryLimit` the compiled rows are simply kept in memory.
 */
import { Either } from "effect"
import * as fs from "node:fs"
import { NpyFloat32Reader, NpyFloat32Writer, parseHeader } from "../io/npy.ts"

/**
 * This module's row sources are synchronous (training gathers rows in a tight loop) and report bad files as plain
 * Errors, which the stages wrap with \`attempt\`; a reader's typed error is carried over by its message.
 */
const orThrow = <A>(r: Either.Either<A, { readonly message: string }>): A => Either.getOrThrowWith(r, (e) => new Error(e.message, { cause: e }))

export interface RowSource {
  readonly dim: number
  /** Copies the rows `indices` (file row numbers) into `out` from `offset` (in rows). */
  gather(indices: ArrayLike<number>, out: Float32Array, offset?: number): void
  /**
   * Rows `blockRows` apart live in different blocks of a file on disk: batches should be drawn block-wise (see
   * `blockShuffle` in batching.ts). Absent for rows in memory, where any order costs the same.
   */
  readonly blockRows?: number
  /** Starts reading the blocks of these rows in the background; `gather` then finds them in memory. */
  prefetch?(indices: ArrayLike<number>): void
  /** Resolves once every block of these rows is in memory (reading those that are not). */
  ready?(indices: ArrayLike<number>): Promise<void>
  close(): void
}

/** Above this many bytes of selected features the rows stay on disk (bounds memory at the paper's scale). */
export const IN_MEMORY_LIMIT = 256 << 20
/** Most rows one coalesced read of a raw features file covers (13 x 768 float32 rows: 10 MB). */
const RUN_ROWS = 256

const checkLayers = (reader: NpyFloat32Reader, layers: ReadonlyArray<number>): [number, number] => {
  const file = reader.file
  if (reader.rowShape.length !== 2) {
    throw new Error(`${file}: expected features of shape (rows, layers, dim), found (${[reader.rows, ...reader.rowShape].join(", ")})`)
  }
  const [L, D] = reader.rowShape
  if (layers.length === 0) throw new Error(`${file}: no feature layers chosen`)
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= L) throw new Error(`${file}: layer ${l} requested, the features have layers 0..${L - 1}`)
  }
  return [L, D]
}

/**
 * Copies the chosen layers of one (L x D) row at `srcOff` into `out` at `outOff`, refusing a NaN or an infinity: one
 * would turn every loss, gradient and score after it into NaN without a word, so it is named here, where the file
 * and its row are known (features imported from elsewhere are not computed by mea and may hold anything).
 */
const selector = (file: string, layers: ReadonlyArray<number>, D: number) => (src: Float32Array, srcOff: number, out: Float32Array, outOff: number, fileRow: number): void => {
  for (let j = 0; j < layers.length; j++) {
    const from = srcOff + layers[j] * D
    for (let k = 0; k < D; k++) {
      const v = src[from + k]
      // v - v is 0 for every finite float and NaN for NaN and both infinities: one subtraction and compare per value.
      if (v - v !== 0) {
        throw new Error(`${file}: row ${fileRow}, layer ${layers[j]}, value ${k} is ${v}; features must be finite numbers (recompute or repair this file)`)
      }
    }
    out.set(src.subarray(from, from + D), outOff + j * D)
  }
}

/**
 * The rows of one features file, or of several read as one matrix (rows of the first file, then of the second, ...;
 * features imported in parts, e.g. one file per split).
 */
export const openRows = (files: string | ReadonlyArray<string>, layers: ReadonlyArray<number>, inMemoryLimit = IN_MEMORY_LIMIT): RowSource => {
  if (typeof files === "string") return openFile(files, layers, inMemoryLimit)
  if (files.length === 1) return openFile(files[0], layers, inMemoryLimit)
  const parts: Array<RowSource> = []
  const counts: Array<number> = []
  let width = 0
  try {
    for (const f of files) {
      const reader = orThrow(NpyFloat32Reader.open(f))
      counts.push(reader.rows)
      width = Math.max(width, reader.rowShape[reader.rowShape.length - 1] ?? 0)
      reader.close()
    }
    const total = counts.reduce((a, b) => a + b, 0)
    // The memory budget is for the whole matrix, not per part.
    const inMemory = total * layers.length * width * 4 <= inMemoryLimit
    for (const f of files) parts.push(openFile(f, layers, inMemory ? Infinity : 0))
  } catch (e) {
    parts.forEach((p) => p.close())
    throw e
  }
  return concatRows(parts, counts)
}

/** Several row sources as one: row numbers run through the first source's rows, then the second's, ... */
const concatRows = (parts: ReadonlyArray<RowSource>, counts: ReadonlyArray<number>): RowSource => {
  const dim = parts[0].dim
  parts.forEach((p, i) => {
    if (p.dim !== dim) throw new Error(`feature parts differ in width: part 1 has ${dim} values per row, part ${i + 1} has ${p.dim}`)
  })
  const starts = [0]
  for (const c of counts) starts.push(starts[starts.length - 1] + c)
  const total = starts[starts.length - 1]
  const partOf = (r: number): number => {
    if (r < 0 || r >= total) throw new Error(`row ${r} outside 0..${total - 1}`)
    let p = 0
    while (r >= starts[p + 1]) p++
    return p
  }
  return {
    dim,
    gather: (indices, out, offset = 0) => {
      // Consecutive indices in the same part go to that part in one call (keeping its runs of rows together).
      for (let i = 0; i < indices.length; ) {
        const p = partOf(indices[i])
        let n = 1
        while (i + n < indices.length && indices[i + n] >= starts[p] && indices[i + n] < starts[p + 1]) n++
        const local = new Int32Array(n)
        for (let k = 0; k < n; k++) local[k] = indices[i + k] - starts[p]
        parts[p].gather(local, out, offset + i)
        i += n
      }
    },
    close: () => parts.forEach((p) => p.close()),
  }
}

const openFile = (file: string, layers: ReadonlyArray<number>, inMemoryLimit: number): RowSource => {
  const reader = orThrow(NpyFloat32Reader.open(file))
  let L: number
  let D: number
  try {
    ;[L, D] = checkLayers(reader, layers)
  } catch (e) {
    reader.close()
    throw e
  }
  const dim = layers.length * D
  const rowSize = L * D
  const select = selector(file, layers, D)
  if (reader.rows * dim * 4 <= inMemoryLimit) {
    const all = new Float32Array(reader.rows * dim)
    for (const chunk of reader.chunks(4096)) {
      const n = chunk.data.length / rowSize
      for (let r = 0; r < n; r++) select(chunk.data, r * rowSize, all, (chunk.start + r) * dim, chunk.start + r)
    }
    reader.close()
    return memoryRows(all, dim)
  }
  const buffer = new Float32Array(RUN_ROWS * rowSize)
  return {
    dim,
    gather: (indices, out, offset = 0) => {
      for (let i = 0; i < indices.length; ) {
        // A run of consecutive file rows is one read.
        const first = indices[i]
        let n = 1
        while (i + n < indices.length && n < RUN_ROWS && indices[i + n] === first + n) n++
        reader.readInto(first, first + n, buffer)
        for (let r = 0; r < n; r++) select(buffer, r * rowSize, out, (offset + i + r) * dim, first + r)
        i += n
      }
    },
    close: () => reader.close(),
  }
}

/** Rows already in memory (rows x dim). */
export const memoryRows = (data: Float32Array, dim: number): RowSource => ({
  dim,
  gather: (indices, out, offset = 0) => {
    for (let i = 0; i < indices.length; i++) out.set(data.subarray(indices[i] * dim, (indices[i] + 1) * dim), (offset + i) * dim)
  },
  close: () => undefined,
})

export interface CompileOptions {
  /** Where the compiled matrix goes when it is kept on disk (deleted by `close`). */
  readonly scratch: string
  readonly inMemoryLimit?: number
  readonly blockRows?: number
  /** Blocks kept in memory at once (at least two shuffle windows, see batching.ts). */
  readonly cacheBlocks?: number
}

export const DEFAULT_BLOCK_ROWS = 256
const DEFAULT_CACHE_BLOCKS = 48

/**
 * Row `i` of the result is file row `rows[i]` of `file` (its chosen layers, concatenated). `rows` must be ascending:
 * the file is then read front to back, in runs.
 */
export const compileRows = (file: string | ReadonlyArray<string>, layers: ReadonlyArray<number>, rows: ReadonlyArray<number>, options: CompileOptions): RowSource => {
  for (let i = 1; i < rows.length; i++) {
    if (rows[i] <= rows[i - 1]) throw new Error(`compileRows: rows must be strictly ascending (row ${rows[i]} after ${rows[i - 1]})`)
  }
  const raw = openRows(file, layers, 0)
  const dim = raw.dim
  const limit = options.inMemoryLimit ?? IN_MEMORY_LIMIT
  const chunk = 1024
  try {
    if (rows.length * dim * 4 <= limit) {
      const all = new Float32Array(rows.length * dim)
      for (let s = 0; s < rows.length; s += chunk) raw.gather(rows.slice(s, s + chunk), all, s)
      return memoryRows(all, dim)
    }
    const writer = orThrow(NpyFloat32Writer.open(options.scratch, rows.length, [dim]))
    try {
      const buffer = new Float32Array(chunk * dim)
      for (let s = 0; s < rows.length; s += chunk) {
        const n = Math.min(chunk, rows.length - s)
        raw.gather(rows.slice(s, s + n), buffer)
        orThrow(writer.write(n === chunk ? buffer : buffer.subarray(0, n * dim)))
      }
      orThrow(writer.close())
    } catch (e) {
      fs.rmSync(options.scratch, { force: true })
      throw e
    }
  } finally {
    raw.close()
  }
  return blockRows(options.scratch, { blockRows: options.blockRows ?? DEFAULT_BLOCK_ROWS, cacheBlocks: options.cacheBlocks ?? DEFAULT_CACHE_BLOCKS, removeOnClose: true })
}

/**
 * A (rows, dim) float32 .npy read in blocks of `blockRows` rows through a cache of `cacheBlocks` blocks (least
 * recently used first out). Reads started by `prefetch`/`ready` run on libuv's thread pool.
 */
export const blockRows = (
  file: string,
  options: { readonly blockRows: number; readonly cacheBlocks: number; readonly removeOnClose?: boolean },
): RowSource => {
  const fd = fs.openSync(file, "r")
  const head = Buffer.alloc(4096)
  const parsed = parseHeader(head.subarray(0, fs.readSync(fd, head, 0, head.length, 0)), file)
  if (Either.isLeft(parsed)) fs.closeSync(fd)
  const header = orThrow(parsed)
  if (header.dtype !== "<f4" || header.shape.length !== 2) {
    fs.closeSync(fd)
    throw new Error(`${file}: expected a float32 matrix (rows, dim), found ${header.dtype} (${header.shape.join(", ")})`)
  }
  const [rows, dim] = header.shape
  const size = options.blockRows
  const blockBytes = size * dim * 4
  const cache = new Map<number, Float32Array>()
  const pending = new Map<number, Promise<Float32Array>>()
  let closed = false
  const rowsOf = (b: number) => Math.min(size, rows - b * size)
  const keep = (b: number, data: Float32Array): void => {
    cache.delete(b)
    cache.set(b, data)
    while (cache.size > options.cacheBlocks) cache.delete(cache.keys().next().value as number)
  }
  const readSync = (b: number): Float32Array => {
    const data = new Float32Array(rowsOf(b) * dim)
    fs.readSync(fd, new Uint8Array(data.buffer), 0, data.byteLength, header.dataOffset + b * blockBytes)
    return data
  }
  const readAsync = (b: number): Promise<Float32Array> => {
    const inFlight = pending.get(b)
    if (inFlight !== undefined) return inFlight
    const data = new Float32Array(rowsOf(b) * dim)
    const p = new Promise<Float32Array>((resolve, reject) =>
      fs.read(fd, new Uint8Array(data.buffer), 0, data.byteLength, header.dataOffset + b * blockBytes, (err) => {
        pending.delete(b)
        if (err !== null) return reject(err)
        if (!closed) keep(b, data)
        resolve(data)
      }),
    )
    pending.set(b, p)
    return p
  }
  const blocksOf = (indices: ArrayLike<number>): Set<number> => {
    const out = new Set<number>()
    for (let i = 0; i < indices.length; i++) {
      const r = indices[i]
      if (r < 0 || r >= rows) throw new Error(`${file}: row ${r} outside 0..${rows - 1}`)
      out.add(Math.floor(r / size))
    }
    return out
  }
  return {
    dim,
    blockRows: size,
    gather: (indices, out, offset = 0) => {
      let current = -1
      let data: Float32Array | undefined
      for (let i = 0; i < indices.length; i++) {
        const r = indices[i]
        if (r < 0 || r >= rows) throw new Error(`${file}: row ${r} outside 0..${rows - 1}`)
        const b = Math.floor(r / size)
        if (b !== current) {
          data = cache.get(b)
          if (data === undefined) {
            data = readSync(b)
            keep(b, data)
          }
          current = b
        }
        const at = (r - b * size) * dim
        out.set(data!.subarray(at, at + dim), (offset + i) * dim)
      }
    },
    prefetch: (indices) => {
      for (const b of blocksOf(indices)) if (!cache.has(b)) void readAsync(b).catch(() => undefined)
    },
    ready: async (indices) => {
      const waits: Array<Promise<Float32Array>> = []
      for (const b of blocksOf(indices)) if (!cache.has(b)) waits.push(readAsync(b))
      await Promise.all(waits)
    },
    close: () => {
      if (closed) return
      closed = true
      cache.clear()
      // The name goes now (a read in flight holds the descriptor, not the path); the disk space when the last read ends.
      if (options.removeOnClose === true) fs.rmSync(file, { force: true })
      const finish = () => fs.closeSync(fd)
      // A read still in flight must not land on a descriptor number reused after closing: wait for it.
      if (pending.size === 0) finish()
      else void Promise.allSettled([...pending.values()]).then(finish)
    },
  }
}
