/** Content hashing and the canonical JSON form that keys are computed from. */
import { createHash } from "node:crypto"
import * as fs from "node:fs"

export const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex")

/** JSON with object keys sorted at every depth, so key order in YAML never changes a hash. */
export const canonicalJson = (value: unknown): string => JSON.stringify(sortKeys(value))

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key]
      if (v !== undefined) out[key] = sortKeys(v)
    }
    return out
  }
  return value
}

export const hashJson = (value: unknown): string => sha256(canonicalJson(value))

const CHUNK = 1 << 20
/** One buffer for every (synchronous) hash: allocating 1 MiB per file made checking 200 small files GC-bound. */
let scratch: Buffer | undefined
const buffer = (): Buffer => (scratch ??= Buffer.allocUnsafe(CHUNK))

/** Streams a file through sha256 in 1 MiB chunks (bounded memory for large audio and feature files). */
export const hashFile = (file: string): string => {
  const h = createHash("sha256")
  const fd = fs.openSync(file, "r")
  try {
    const buf = buffer()
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null)
      if (n === 0) break
      h.update(buf.subarray(0, n))
    }
  } finally {
    fs.closeSync(fd)
  }
  return h.digest("hex")
}

/** Hash of the first `bytes` of a file: the cheap check done on every cache read of a large file. */
export const hashHead = (file: string, bytes: number): string => {
  const fd = fs.openSync(file, "r")
  try {
    const buf = bytes <= CHUNK ? buffer() : Buffer.allocUnsafe(bytes)
    const n = fs.readSync(fd, buf, 0, bytes, 0)
    return sha256(buf.subarray(0, n))
  } finally {
    fs.closeSync(fd)
  }
}

export const short = (hash: string): string => hash.slice(0, 12)
