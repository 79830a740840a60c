/**
 * Feature rows for training and evaluation: the chosen layers of a (rows, L, D) float32 .npy, concatenated into one
 * vector per segment. Small matrices are read into memory once; large ones are read row by row from disk on demand.
 */
import { NpyFloat32Reader } from "../io/npy.ts"

export interface RowSource {
  readonly dim: number
  /** Copies the rows `indices` (file row numbers) into `out` from `offset` (in rows). */
  gather(indices: ArrayLike<number>, out: Float32Array, offset?: number): void
  close(): void
}

/** Above this many bytes of selected features the rows stay on disk. */
const IN_MEMORY_LIMIT = 1 << 30

export const openRows = (file: string, layers: ReadonlyArray<number>, inMemoryLimit = IN_MEMORY_LIMIT): RowSource => {
  const reader = new NpyFloat32Reader(file)
  if (reader.rowShape.length !== 2) {
    reader.close()
    throw new Error(`${file}: expected features of shape (rows, layers, dim), found (${[reader.rows, ...reader.rowShape].join(", ")})`)
  }
  const [L, D] = reader.rowShape
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= L) {
      reader.close()
      throw new Error(`${file}: layer ${l} requested, the features have layers 0..${L - 1}`)
    }
  }
  const dim = layers.length * D
  const select = (src: Float32Array, srcOff: number, out: Float32Array, outOff: number): void => {
    for (let j = 0; j < layers.length; j++) out.set(src.subarray(srcOff + layers[j] * D, srcOff + (layers[j] + 1) * D), outOff + j * D)
  }
  if (reader.rows * dim * 4 <= inMemoryLimit) {
    const all = new Float32Array(reader.rows * dim)
    for (const chunk of reader.chunks(4096)) {
      const n = chunk.data.length / (L * D)
      for (let r = 0; r < n; r++) select(chunk.data, r * L * D, all, (chunk.start + r) * dim)
    }
    reader.close()
    return {
      dim,
      gather: (indices, out, offset = 0) => {
        for (let i = 0; i < indices.length; i++) out.set(all.subarray(indices[i] * dim, (indices[i] + 1) * dim), (offset + i) * dim)
      },
      close: () => undefined,
    }
  }
  return {
    dim,
    gather: (indices, out, offset = 0) => {
      for (let i = 0; i < indices.length; i++) select(reader.read(indices[i], indices[i] + 1), 0, out, (offset + i) * dim)
    },
    close: () => reader.close(),
  }
}

/** Rows already in memory (rows x dim), for tests and benches. */
export const memoryRows = (data: Float32Array, dim: number): RowSource => ({
  dim,
  gather: (indices, out, offset = 0) => {
    for (let i = 0; i < indices.length; i++) out.set(data.subarray(indices[i] * dim, (indices[i] + 1) * dim), (offset + i) * dim)
  },
  close: () => undefined,
})
