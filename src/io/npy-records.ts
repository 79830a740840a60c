/**
 * One field of a NumPy structured array (.npy whose dtype is a list of named fields), such as the original
 * implementation's `*_index.npy` with its `track_id` field. Fields are packed as NumPy stores them (align=False:
 * each field's offset is the sum of the sizes before it). Read with plain file reads, a chunk of records at a time.
 */
import { Either } from "effect"
import * as fs from "node:fs"
import { NpyError, tryIo } from "./npy.ts"

export interface RecordField {
  readonly name: string
  readonly dtype: string
  /** Bytes of one value, times the product of a sub-array shape if the field has one. */
  readonly size: number
  readonly offset: number
  readonly subShape: ReadonlyArray<number>
}

export interface RecordHeader {
  readonly fields: ReadonlyArray<RecordField>
  readonly recordSize: number
  readonly rows: number
  readonly dataOffset: number
}

const fail = (file: string, message: string): Either.Either<never, NpyError> => Either.left(new NpyError({ message: `${file}: ${message}` }))

/** Runs `f` on an open descriptor of `file`, closed after whatever `f` returns. */
const withFile = <A>(file: string, f: (fd: number) => Either.Either<A, NpyError>): Either.Either<A, NpyError> =>
  Either.flatMap(tryIo(() => fs.openSync(file, "r")), (fd) => {
    // A read that throws (a file truncated under us, EIO) is an I/O failure of this file, not a defect.
    const result = Either.flatMap(tryIo(() => f(fd)), (r): Either.Either<A, NpyError> => r)
    const closed = tryIo(() => fs.closeSync(fd))
    return Either.isLeft(result) ? result : Either.map(closed, () => result.right)
  })

const scalarSize = (file: string, dtype: string): Either.Either<number, NpyError> => {
  const m = /^[<>|=]?([a-zA-Z])(\d*)$/.exec(dtype)
  if (m === null) return fail(file, `unsupported field dtype '${dtype}'`)
  const [, kind, n] = m
  const count = n === "" ? 1 : Number(n)
  // NumPy writes every field's byte size ('<i8', '|b1', '|S5'), except for unicode, whose number counts characters.
  return Either.right(kind === "U" ? 4 * count : count)
}

/** Parses the header of a structured .npy; plain (unstructured) arrays are an error naming the dtype found. */
export const readRecordHeader = (file: string): Either.Either<RecordHeader, NpyError> =>
  withFile(file, (fd): Either.Either<RecordHeader, NpyError> => {
    const head = Buffer.alloc(65536)
    const n = fs.readSync(fd, head, 0, head.length, 0)
    if (n < 10 || head.subarray(0, 6).toString("latin1") !== "\x93NUMPY") return fail(file, "not an .npy file (bad magic)")
    const major = head[6]
    const headerLen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8)
    const start = major === 1 ? 10 : 12
    if (n < start + headerLen) return fail(file, "truncated .npy header")
    const text = head.subarray(start, start + headerLen).toString(major === 3 ? "utf8" : "latin1")
    if (/'fortran_order':\s*True/.test(text)) return fail(file, "Fortran-ordered arrays are not supported")
    const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1]
    const list = /'descr':\s*\[(.*)\]\s*,\s*'fortran_order'/s.exec(text)?.[1]
    if (list === undefined) {
      const plain = /'descr':\s*'([^']+)'/.exec(text)?.[1]
      return fail(file, `expected a structured array (fields such as 'track_id'), found plain dtype '${plain ?? "?"}'`)
    }
    const shape = (shapeText ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number)
    if (shape.length !== 1) return fail(file, `expected a 1-d array of records, found shape (${shape.join(", ")})`)
    const fields: Array<RecordField> = []
    let offset = 0
    for (const m of list.matchAll(/\(\s*'([^']*)'\s*,\s*'([^']+)'\s*(?:,\s*\(([^)]*)\))?\s*\)/g)) {
      const subShape = (m[3] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number)
      const scalar = scalarSize(file, m[2])
      if (Either.isLeft(scalar)) return Either.left(scalar.left)
      const size = scalar.right * subShape.reduce((a, b) => a * b, 1)
      fields.push({ name: m[1], dtype: m[2], size, offset, subShape })
      offset += size
    }
    if (fields.length === 0) return fail(file, `unreadable structured dtype [${list}]`)
    const dataOffset = start + headerLen
    const expected = dataOffset + shape[0] * offset
    const actual = fs.fstatSync(fd).size
    if (actual < expected) return fail(file, `truncated: expected ${expected} bytes for ${shape[0]} records of ${offset} bytes, found ${actual}`)
    return Either.right({ fields, recordSize: offset, rows: shape[0], dataOffset })
  })

type Decoder = (b: Buffer, at: number) => string

const decoderOf = (file: string, name: string, f: RecordField): Either.Either<Decoder, NpyError> => {
  if (f.subShape.length > 0) return fail(file, `field '${name}' is an array per record; expected one value`)
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(f.dtype)
  if (m === null) return fail(file, `unsupported field dtype '${f.dtype}'`)
  const [, order, kind, width] = m
  if (order === ">") return fail(file, `field '${name}' is big-endian ('${f.dtype}'); expected little-endian`)
  if (kind === "U") {
    const chars = Number(width)
    return Either.right((b, at) => {
      let s = ""
      for (let c = 0; c < chars; c++) {
        const code = b.readUInt32LE(at + c * 4)
        if (code === 0) break
        s += String.fromCodePoint(code)
      }
      return s
    })
  }
  if (kind === "S") return Either.right((b, at) => b.toString("latin1", at, at + Number(width)).replace(/\0+$/, ""))
  if (kind === "i" || kind === "u") {
    const bytes = Number(width)
    if (bytes === 8) return Either.right((b, at) => String(kind === "i" ? b.readBigInt64LE(at) : b.readBigUInt64LE(at)))
    if (bytes === 4) return Either.right((b, at) => String(kind === "i" ? b.readInt32LE(at) : b.readUInt32LE(at)))
    if (bytes === 2) return Either.right((b, at) => String(kind === "i" ? b.readInt16LE(at) : b.readUInt16LE(at)))
  }
  return fail(file, `field '${name}' has dtype '${f.dtype}'; expected strings ('<U', '|S') or integers`)
}

/**
 * The values of one field as strings: unicode ('<U'), bytes ('|S', latin1) or integers (decimal).
 */
export const readStringField = (file: string, name: string): Either.Either<Array<string>, NpyError> =>
  Either.flatMap(readRecordHeader(file), (header) => {
    const field = header.fields.find((f) => f.name === name)
    if (field === undefined) return fail(file, `no field '${name}' (fields: ${header.fields.map((f) => f.name).join(", ")})`)
    return Either.flatMap(decoderOf(file, name, field), (decode) =>
      withFile(file, (fd): Either.Either<Array<string>, NpyError> => {
        const out: Array<string> = new Array(header.rows)
        const chunk = Math.max(1, Math.floor((4 << 20) / header.recordSize))
        const buf = Buffer.alloc(chunk * header.recordSize)
        for (let s = 0; s < header.rows; s += chunk) {
          const n = Math.min(chunk, header.rows - s)
          fs.readSync(fd, buf, 0, n * header.recordSize, header.dataOffset + s * header.recordSize)
          for (let r = 0; r < n; r++) out[s + r] = decode(buf, r * header.recordSize + field.offset)
        }
        return Either.right(out)
      }),
    )
  })
