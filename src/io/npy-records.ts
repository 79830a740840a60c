/**
 * One field of a NumPy structured array (.npy whose dtype is a list of named fields), such as the original
 * implementation's `*_index.npy` with its `track_id` field. Fields are packed as NumPy stores them (align=False:
 * each field's offset is the sum of the sizes before it). Read with plain file reads, a chunk of records at a time.
 */
import * as fs from "node:fs"
import { NpyError } from "./npy.ts"

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

const fail = (file: string, message: string): never => {
  throw new NpyError({ message: `${file}: ${message}` })
}

const scalarSize = (file: string, dtype: string): number => {
  const m = /^[<>|=]?([a-zA-Z])(\d*)$/.exec(dtype)
  if (m === null) return fail(file, `unsupported field dtype '${dtype}'`)
  const [, kind, n] = m
  const count = n === "" ? 1 : Number(n)
  // NumPy writes every field's byte size ('<i8', '|b1', '|S5'), except for unicode, whose number counts characters.
  return kind === "U" ? 4 * count : count
}

/** Parses the header of a structured .npy; plain (unstructured) arrays are an error naming the dtype found. */
export const readRecordHeader = (file: string): RecordHeader => {
  const fd = fs.openSync(file, "r")
  try {
    const head = Buffer.alloc(65536)
    const n = fs.readSync(fd, head, 0, head.length, 0)
    if (n < 10 || head.subarray(0, 6).toString("latin1") !== "\x93NUMPY") fail(file, "not an .npy file (bad magic)")
    const major = head[6]
    const headerLen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8)
    const start = major === 1 ? 10 : 12
    if (n < start + headerLen) fail(file, "truncated .npy header")
    const text = head.subarray(start, start + headerLen).toString(major === 3 ? "utf8" : "latin1")
    if (/'fortran_order':\s*True/.test(text)) fail(file, "Fortran-ordered arrays are not supported")
    const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1]
    const list = /'descr':\s*\[(.*)\]\s*,\s*'fortran_order'/s.exec(text)?.[1]
    if (list === undefined) {
      const plain = /'descr':\s*'([^']+)'/.exec(text)?.[1]
      return fail(file, `expected a structured array (fields such as 'track_id'), found plain dtype '${plain ?? "?"}'`)
    }
    const shape = (shapeText ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number)
    if (shape.length !== 1) fail(file, `expected a 1-d array of records, found shape (${shape.join(", ")})`)
    const fields: Array<RecordField> = []
    let offset = 0
    for (const m of list.matchAll(/\(\s*'([^']*)'\s*,\s*'([^']+)'\s*(?:,\s*\(([^)]*)\))?\s*\)/g)) {
      const subShape = (m[3] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number)
      const size = scalarSize(file, m[2]) * subShape.reduce((a, b) => a * b, 1)
      fields.push({ name: m[1], dtype: m[2], size, offset, subShape })
      offset += size
    }
    if (fields.length === 0) fail(file, `unreadable structured dtype [${list}]`)
    const dataOffset = start + headerLen
    const expected = dataOffset + shape[0] * offset
    const actual = fs.fstatSync(fd).size
    if (actual < expected) fail(file, `truncated: expected ${expected} bytes for ${shape[0]} records of ${offset} bytes, found ${actual}`)
    return { fields, recordSize: offset, rows: shape[0], dataOffset }
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * The values of one field as strings: unicode ('<U'), bytes ('|S', latin1) or integers (decimal).
 */
export const readStringField = (file: string, name: string): Array<string> => {
  const header = readRecordHeader(file)
  const field = header.fields.find((f) => f.name === name)
  if (field === undefined) fail(file, `no field '${name}' (fields: ${header.fields.map((f) => f.name).join(", ")})`)
  const f = field!
  if (f.subShape.length > 0) fail(file, `field '${name}' is an array per record; expected one value`)
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(f.dtype)!
  const [, order, kind, width] = m
  if (order === ">") fail(file, `field '${name}' is big-endian ('${f.dtype}'); expected little-endian`)
  const decode = ((): ((b: Buffer, at: number) => string) => {
    if (kind === "U") {
      const chars = Number(width)
      return (b, at) => {
        let s = ""
        for (let c = 0; c < chars; c++) {
          const code = b.readUInt32LE(at + c * 4)
          if (code === 0) break
          s += String.fromCodePoint(code)
        }
        return s
      }
    }
    if (kind === "S") return (b, at) => b.toString("latin1", at, at + Number(width)).replace(/\0+$/, "")
    if (kind === "i" || kind === "u") {
      const bytes = Number(width)
      if (bytes === 8) return (b, at) => String(kind === "i" ? b.readBigInt64LE(at) : b.readBigUInt64LE(at))
      if (bytes === 4) return (b, at) => String(kind === "i" ? b.readInt32LE(at) : b.readUInt32LE(at))
      if (bytes === 2) return (b, at) => String(kind === "i" ? b.readInt16LE(at) : b.readUInt16LE(at))
    }
    return fail(file, `field '${name}' has dtype '${f.dtype}'; expected strings ('<U', '|S') or integers`)
  })()
  const out: Array<string> = new Array(header.rows)
  const fd = fs.openSync(file, "r")
  try {
    const chunk = Math.max(1, Math.floor((4 << 20) / header.recordSize))
    const buf = Buffer.alloc(chunk * header.recordSize)
    for (let s = 0; s < header.rows; s += chunk) {
      const n = Math.min(chunk, header.rows - s)
      fs.readSync(fd, buf, 0, n * header.recordSize, header.dataOffset + s * header.recordSize)
      for (let r = 0; r < n; r++) out[s + r] = decode(buf, r * header.recordSize + f.offset)
    }
  } finally {
    fs.closeSync(fd)
  }
  return out
}
