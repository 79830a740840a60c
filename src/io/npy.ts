/**
 * NumPy .npy (format 1.0-3.0) reading and writing, so matrices stay readable outside mea (`numpy.load`).
 * Supports little-endian numeric dtypes and fixed-width unicode strings ('<U'), C order.
 * Large arrays are written row by row and read in row chunks; nothing requires the whole array in memory.
 */
import { Data, Either } from "effect"
import * as fs from "node:fs"
import { readVerifiedFile, VerifiedReader } from "../runtime/integrity.ts"

export class NpyError extends Data.TaggedError("NpyError")<{ readonly message: string; readonly cause?: unknown }> {}

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

const npyError = (what: string, message: string): NpyError => new NpyError({ message: `${what}: ${message}` })
const fail = (what: string, message: string): Either.Either<never, NpyError> => Either.left(npyError(what, message))

/**
 * A file system call (or a checked read, which reports corruption by throwing: see src/runtime/integrity.ts) as an
 * Either; the message is the cause's own, which names the file and what went wrong.
 */
export const tryIo = <A>(f: () => A): Either.Either<A, NpyError> =>
  Either.try({ try: f, catch: (cause) => new NpyError({ message: cause instanceof Error ? cause.message : String(cause), cause }) })

/** Parses the header of an .npy buffer (at least the first ~4 KB). `what` names the file in errors. */
export const parseHeader = (buf: Uint8Array, what: string): Either.Either<NpyHeader, NpyError> => {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) return fail(what, "not an .npy file (bad magic)")
  const major = b[6]
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8)
  const start = major === 1 ? 10 : 12
  if (b.length < start + headerLen) return fail(what, "truncated .npy header")
  const text = b.subarray(start, start + headerLen).toString(major === 3 ? "utf8" : "latin1")
  const descr = /'descr':\s*'([^']+)'/.exec(text)?.[1]
  const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1]
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1]
  if (descr === undefined || fortran === undefined || shapeText === undefined) return fail(what, `unreadable .npy header ${text.trim()}`)
  if (fortran === "True") return fail(what, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
  const dtype = (descr === "<b1" ? "|b1" : descr) as Dtype
  if (!/^(<f4|<f8|<i4|<i8|<u4|\|u1|\|i1|<i2|<u2|\|b1|<U\d+)$/.test(dtype)) {
    return fail(what, `unsupported dtype '${descr}' (expected little-endian numbers or '<U' strings)`)
  }
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number)
  return Either.right({ dtype, shape, dataOffset: start + headerLen })
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

/** Decodes a whole .npy held in memory (e.g. an entry of an .npz). */
export const decodeNpy = (buf: Uint8Array, what: string): Either.Either<NpyArray, NpyError> =>
  Either.flatMap(parseHeader(buf, what), (header) => {
    const size = product(header.shape) * itemSize(header.dtype)
    if (buf.byteLength < header.dataOffset + size) {
      return fail(what, `truncated data: expected ${size} bytes for shape (${header.shape.join(", ")}), found ${buf.byteLength - header.dataOffset}`)
    }
    return Either.right(decodeData(header.dtype, header.shape, buf.subarray(header.dataOffset, header.dataOffset + size)))
  })

/** Reads a whole .npy file (checked against its artifact's block hashes when it is one). */
export const readNpy = (file: string): Either.Either<NpyArray, NpyError> => Either.flatMap(tryIo(() => readVerifiedFile(file)), (buf) => decodeNpy(buf, file))

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
export const writeNpyFloat32 = (file: string, shape: ReadonlyArray<number>, data: Float32Array): Either.Either<void, NpyError> => {
  if (product(shape) !== data.length) return fail(file, `shape (${shape.join(", ")}) does not match ${data.length} values`)
  return tryIo(() => {
    const fd = fs.openSync(file, "w")
    try {
      fs.writeSync(fd, formatHeader("<f4", shape))
      fs.writeSync(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    } finally {
      fs.closeSync(fd)
    }
  })
}

/**
 * Streams a float32 array of shape (rows, ...rowShape) to disk, rows appended in order; the row count must be known
 * up front (it is in the header). `close` checks that exactly that many rows were written.
 */
export class NpyFloat32Writer {
  private written = 0
  private readonly rowSize: number
  private constructor(
    readonly file: string,
    readonly rows: number,
    readonly rowShape: ReadonlyArray<number>,
    private readonly fd: number,
  ) {
    this.rowSize = product(rowShape)
  }
  static open(file: string, rows: number, rowShape: ReadonlyArray<number>): Either.Either<NpyFloat32Writer, NpyError> {
    return tryIo(() => {
      const fd = fs.openSync(file, "w")
      try {
        fs.writeSync(fd, formatHeader("<f4", [rows, ...rowShape]))
      } catch (e) {
        fs.closeSync(fd)
        throw e
      }
      return new NpyFloat32Writer(file, rows, rowShape, fd)
    })
  }
  /** Appends one or more whole rows. */
  write(values: Float32Array): Either.Either<void, NpyError> {
    if (values.length % this.rowSize !== 0) return fail(this.file, `got ${values.length} values, not a multiple of a row (${this.rowSize})`)
    const n = values.length / this.rowSize
    if (this.written + n > this.rows) return fail(this.file, `more than the declared ${this.rows} rows`)
    return Either.map(
      tryIo(() => fs.writeSync(this.fd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))),
      () => {
        this.written += n
      },
    )
  }
  close(): Either.Either<void, NpyError> {
    return Either.flatMap(tryIo(() => fs.closeSync(this.fd)), () =>
      this.written !== this.rows ? fail(this.file, `wrote ${this.written} rows, declared ${this.rows}`) : Either.void,
    )
  }
}

/**
 * Random access to rows of a float32 .npy file without loading it whole. Opening checks the header and size; the row
 * reads after that are synchronous (training and feature extraction pull rows in tight loops) and throw only on a
 * row range the caller computed wrongly or on a corrupt block (which integrity.ts records for the executor's recovery).
 */
export class NpyFloat32Reader {
  readonly rowSize: number
  private constructor(
    readonly file: string,
    /** Reads through the artifact's block hashes (a corrupt byte anywhere in the file is noticed when it is read). */
    private readonly source: VerifiedReader,
    readonly rows: number,
    readonly rowShape: ReadonlyArray<number>,
    private readonly dataOffset: number,
  ) {
    this.rowSize = product(rowShape)
  }
  static open(file: string): Either.Either<NpyFloat32Reader, NpyError> {
    return Either.flatMap(tryIo(() => new VerifiedReader(file)), (source) => {
      const checked = Either.flatMap(
        tryIo(() => {
          const head = Buffer.alloc(Math.min(4096, source.size))
          source.read(head, 0)
          return head
        }),
        (head) => Either.flatMap(parseHeader(head, file), (header) => {
          if (header.dtype !== "<f4") return fail(file, `expected float32 ('<f4'), found '${header.dtype}'`)
          if (header.shape.length < 1) return fail(file, "expected at least one dimension")
          const rows = header.shape[0]
          const rowShape = header.shape.slice(1)
          const expected = header.dataOffset + rows * product(rowShape) * 4
          if (source.size < expected) return fail(file, `truncated: expected ${expected} bytes, found ${source.size}`)
          return Either.right(new NpyFloat32Reader(file, source, rows, rowShape, header.dataOffset))
        }),
      )
      if (Either.isLeft(checked)) source.close()
      return checked
    })
  }
  /** Rows [start, end) as one contiguous Float32Array. */
  read(start: number, end: number): Float32Array {
    this.checkRange(start, end)
    const out = new Float32Array((end - start) * this.rowSize)
    this.source.read(new Uint8Array(out.buffer), this.dataOffset + start * this.rowSize * 4)
    return out
  }
  /** Rows [start, end) into the front of `out` (which must hold at least that many rows). */
  readInto(start: number, end: number, out: Float32Array): void {
    this.checkRange(start, end)
    const bytes = (end - start) * this.rowSize * 4
    // A defect of the caller, which sized the buffer: not a property of the file.
    if (out.byteLength < bytes) throw new RangeError(`${this.file}: buffer of ${out.length} values for ${end - start} rows of ${this.rowSize}`)
    this.source.read(new Uint8Array(out.buffer, out.byteOffset, bytes), this.dataOffset + start * this.rowSize * 4)
  }
  /** Row ranges come from the caller's own bookkeeping over `rows`; one outside is a defect, not bad input. */
  private checkRange(start: number, end: number): void {
    if (start < 0 || end > this.rows || start > end) throw new RangeError(`${this.file}: row range [${start}, ${end}) outside 0..${this.rows}`)
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
