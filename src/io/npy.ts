/**
 * NumPy .npy (format 1.0-3.0) reading and writing, so matrices stay readable outside mea (`numpy.load`).
 * Supports little-endian numeric dtypes and fixed-width unicode strings ('<U'), C order.
 * Large arrays are written row by row and read in row chunks; nothing requires the whole array in memory.
 */
import { Data } from "effect"
import * as fs from "node:fs"
import { readVerifiedFile, VerifiedReader } from "../runtime/integrity.ts"

export class NpyError extends Data.TaggedError("NpyError")<{ readonly message: string }> {}

export type NumericDtype = "<f4" | "<f8" | "<i4" | "<i8" | "<u4" | "|u1" | "|i1" | "<i2" | "<u2" | "|b1"
export type Dtype = NumericDtype | `<U${number}`

export interface NpyHeader {
  readonly dtype: Dtype
  readonly shape: ReadonlyArray<number>
  /** Byte offset of the data. */
  readonly dataOffset: number
}

export type NpyArray =
  | { readonly kind: "numeric"; readonly dtype: NumericDtype; readonly shape: ReadonlyArray<number>; readonly data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint32Array | Uint8Array | Int8Array | Int16Array | Uint16Array }
  | { readonly kind: "string"; readonly dtype: Dtype; readonly shape: ReadonlyArray<number>; readonly data: ReadonlyArray<string> }

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59])

const itemSize = (dtype: Dtype): number => {
  if (dtype.startsWith("<U")) return 4 * Number(dtype.slice(2))
  switch (dtype) {
    case "<f8":
    case "<i8":
      return 8
    case "<f4":
    case "<i4":
    case "<u4":
      return 4
    case "<i2":
    case "<u2":
      return 2
    default:
      return 1
  }
}

const fail = (what: string, message: string): never => {
  throw new NpyError({ message: `${what}: ${message}` })
}

/** Parses the header of an .npy buffer (at least the first ~4 KB). `what` names the file in errors. */
export const parseHeader = (buf: Uint8Array, what: string): NpyHeader => {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) fail(what, "not an .npy file (bad magic)")
  const major = b[6]
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8)
  const start = major === 1 ? 10 : 12
  if (b.length < start + headerLen) fail(what, "truncated .npy header")
  const text = b.subarray(start, start + headerLen).toString(major === 3 ? "utf8" : "latin1")
  const descr = /'descr':\s*'([^']+)'/.exec(text)?.[1]
  const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1]
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1]
  if (descr === undefined || fortran === undefined || shapeText === undefined) fail(what, `unreadable .npy header ${text.trim()}`)
  if (fortran === "True") fail(what, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
  const dtype = (descr === "<b1" ? "|b1" : descr) as Dtype
  if (!/^(<f4|<f8|<i4|<i8|<u4|\|u1|\|i1|<i2|<u2|\|b1|<U\d+)$/.test(dtype)) {
    fail(what, `unsupported dtype '${descr}' (expected little-endian numbers or '<U' strings)`)
  }
  const shape = shapeText!
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number)
  return { dtype, shape, dataOffset: start + headerLen }
}

const product = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

const decodeData = (dtype: Dtype, shape: ReadonlyArray<number>, bytes: Uint8Array): NpyArray => {
  const n = product(shape)
  // Copy into an aligned buffer: typed arrays need offsets that are multiples of the element size.
  const aligned = new Uint8Array(bytes.byteLength)
  aligned.set(bytes)
  const ab = aligned.buffer
  if (dtype.startsWith("<U")) {
    const width = Number(dtype.slice(2))
    const view = new DataView(ab)
    const out: Array<string> = []
    for (let i = 0; i < n; i++) {
      let s = ""
      for (let c = 0; c < width; c++) {
        const code = view.getUint32((i * width + c) * 4, true)
        if (code === 0) break
        s += String.fromCodePoint(code)
      }
      out.push(s)
    }
    return { kind: "string", dtype, shape, data: out }
  }
  const numeric = dtype as NumericDtype
  const data = (() => {
    switch (numeric) {
      case "<f4":
        return new Float32Array(ab, 0, n)
      case "<f8":
        return new Float64Array(ab, 0, n)
      case "<i4":
        return new Int32Array(ab, 0, n)
      case "<i8":
        return new BigInt64Array(ab, 0, n)
      case "<u4":
        return new Uint32Array(ab, 0, n)
      case "<i2":
        return new Int16Array(ab, 0, n)
      case "<u2":
        return new Uint16Array(ab, 0, n)
      case "|i1":
        return new Int8Array(ab, 0, n)
      default:
        return new Uint8Array(ab, 0, n)
    }
  })()
  return { kind: "numeric", dtype: numeric, shape, data }
}

/** Decodes a whole .npy held in memory (e.g. an entry of an .npz). Throws NpyError. */
export const decodeNpy = (buf: Uint8Array, what: string): NpyArray => {
  const header = parseHeader(buf, what)
  const size = product(header.shape) * itemSize(header.dtype)
  if (buf.byteLength < header.dataOffset + size) {
    fail(what, `truncated data: expected ${size} bytes for shape (${header.shape.join(", ")}), found ${buf.byteLength - header.dataOffset}`)
  }
  return decodeData(header.dtype, header.shape, buf.subarray(header.dataOffset, header.dataOffset + size))
}

/** Reads a whole .npy file. Throws NpyError. */
export const readNpy = (file: string): NpyArray => decodeNpy(readVerifiedFile(file), file)

const formatHeader = (dtype: Dtype, shape: ReadonlyArray<number>): Buffer => {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`
  // Header padded with spaces so data starts on a 64-byte boundary, ending in \n (format 1.0).
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64
  const header = dict + " ".repeat(total - 10 - dict.length - 1) + "\n"
  const out = Buffer.alloc(10)
  MAGIC.copy(out, 0)
  out[6] = 1
  out[7] = 0
  out.writeUInt16LE(header.length, 8)
  return Buffer.concat([out, Buffer.from(header, "latin1")])
}

/** Writes a float32 array (row-major) to an .npy file in one go. */
export const writeNpyFloat32 = (file: string, shape: ReadonlyArray<number>, data: Float32Array): void => {
  if (product(shape) !== data.length) fail(file, `shape (${shape.join(", ")}) does not match ${data.length} values`)
  const fd = fs.openSync(file, "w")
  try {
    fs.writeSync(fd, formatHeader("<f4", shape))
    fs.writeSync(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Streams a float32 array of shape (rows, ...rowShape) to disk, rows appended in order; the row count must be known
 * up front (it is in the header). `close` checks that exactly that many rows were written.
 */
export class NpyFloat32Writer {
  private fd: number
  private written = 0
  private readonly rowSize: number
  constructor(
    readonly file: string,
    readonly rows: number,
    readonly rowShape: ReadonlyArray<number>,
  ) {
    this.rowSize = product(rowShape)
    this.fd = fs.openSync(file, "w")
    fs.writeSync(this.fd, formatHeader("<f4", [rows, ...rowShape]))
  }
  /** Appends one or more whole rows. */
  write(values: Float32Array): void {
    if (values.length % this.rowSize !== 0) fail(this.file, `got ${values.length} values, not a multiple of a row (${this.rowSize})`)
    const n = values.length / this.rowSize
    if (this.written + n > this.rows) fail(this.file, `more than the declared ${this.rows} rows`)
    fs.writeSync(this.fd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
    this.written += n
  }
  close(): void {
    fs.closeSync(this.fd)
    if (this.written !== this.rows) fail(this.file, `wrote ${this.written} rows, declared ${this.rows}`)
  }
}

/** Random access to rows of a float32 .npy file without loading it whole. */
export class NpyFloat32Reader {
  readonly rows: number
  readonly rowShape: ReadonlyArray<number>
  readonly rowSize: number
  /** Reads through the artifact's block hashes (a corrupt byte anywhere in the file is noticed when it is read). */
  private readonly source: VerifiedReader
  private readonly dataOffset: number
  constructor(readonly file: string) {
    this.source = new VerifiedReader(file)
    const head = Buffer.alloc(Math.min(4096, this.source.size))
    this.source.read(head, 0)
    const header = parseHeader(head, file)
    if (header.dtype !== "<f4") fail(file, `expected float32 ('<f4'), found '${header.dtype}'`)
    if (header.shape.length < 1) fail(file, "expected at least one dimension")
    this.rows = header.shape[0]
    this.rowShape = header.shape.slice(1)
    this.rowSize = product(this.rowShape)
    this.dataOffset = header.dataOffset
    const expected = this.dataOffset + this.rows * this.rowSize * 4
    const actual = this.source.size
    if (actual < expected) fail(file, `truncated: expected ${expected} bytes, found ${actual}`)
  }
  /** Rows [start, end) as one contiguous Float32Array. */
  read(start: number, end: number): Float32Array {
    if (start < 0 || end > this.rows || start > end) fail(this.file, `row range [${start}, ${end}) outside 0..${this.rows}`)
    const out = new Float32Array((end - start) * this.rowSize)
    this.source.read(new Uint8Array(out.buffer), this.dataOffset + start * this.rowSize * 4)
    return out
  }
  /** Rows [start, end) into the front of `out` (which must hold at least that many rows). */
  readInto(start: number, end: number, out: Float32Array): void {
    if (start < 0 || end > this.rows || start > end) fail(this.file, `row range [${start}, ${end}) outside 0..${this.rows}`)
    const bytes = (end - start) * this.rowSize * 4
    if (out.byteLength < bytes) fail(this.file, `buffer of ${out.length} values for ${end - start} rows of ${this.rowSize}`)
    this.source.read(new Uint8Array(out.buffer, out.byteOffset, bytes), this.dataOffset + start * this.rowSize * 4)
  }
  /** Iterates the array in chunks of at most `chunkRows` rows. */
  *chunks(chunkRows: number): Generator<{ readonly start: number; readonly data: Float32Array }> {
    for (let start = 0; start < this.rows; start += chunkRows) {
      const end = Math.min(this.rows, start + chunkRows)
      yield { start, data: this.read(start, end) }
    }
  }
  close(): void {
    this.source.close()
  }
}
