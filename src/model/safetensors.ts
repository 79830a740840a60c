/**
 * safetensors (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype, shape and byte range, then the raw little-endian data. Only F32 is written and read here.
 */
import { Data, Either } from "effect"
import * as fs from "node:fs"
import { readVerifiedFile } from "../runtime/integrity.ts"

export class SafetensorsError extends Data.TaggedError("SafetensorsError")<{ readonly message: string; readonly cause?: unknown }> {}

const fail = (message: string): Either.Either<never, SafetensorsError> => Either.left(new SafetensorsError({ message }))

export interface NamedTensor {
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array
}

export const writeSafetensors = (file: string, tensors: ReadonlyMap<string, NamedTensor>, metadata: Record<string, string> = {}): void => {
  const header: Record<string, unknown> = { __metadata__: metadata }
  let offset = 0
  for (const [name, t] of tensors) {
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] }
    offset += t.data.byteLength
  }
  let json = JSON.stringify(header)
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8)
  const head = Buffer.alloc(8)
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)))
  const fd = fs.openSync(file, "w")
  try {
    fs.writeSync(fd, head)
    fs.writeSync(fd, Buffer.from(json))
    for (const t of tensors.values()) fs.writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
  } finally {
    fs.closeSync(fd)
  }
}

type HeaderEntry = { dtype?: string; shape?: Array<number>; data_offsets?: [number, number] }

/** Reads every tensor; a bad file fails with a SafetensorsError naming the file and the offending entry. */
export const readSafetensors = (file: string): Either.Either<Map<string, NamedTensor>, SafetensorsError> =>
  Either.flatMap(
    Either.try({ try: () => readVerifiedFile(file), catch: (cause) => new SafetensorsError({ message: cause instanceof Error ? cause.message : String(cause), cause }) }),
    (buf) => {
      if (buf.length < 8) return fail(`${file}: not a safetensors file (shorter than its 8-byte header length)`)
      const n = Number(buf.readBigUInt64LE(0))
      if (8 + n > buf.length) return fail(`${file}: header length ${n} runs past the end of the file (${buf.length} bytes)`)
      return Either.flatMap(
        Either.try({
          try: () => JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, HeaderEntry>,
          catch: (cause) => new SafetensorsError({ message: `${file}: unreadable header: ${cause instanceof Error ? cause.message : String(cause)}`, cause }),
        }),
        (header) => {
          const out = new Map<string, NamedTensor>()
          const base = 8 + n
          for (const [name, e] of Object.entries(header)) {
            if (name === "__metadata__") continue
            if (e.dtype !== "F32" || e.shape === undefined || e.data_offsets === undefined) {
              return fail(`${file}: tensor '${name}': expected dtype F32 with shape and data_offsets, found ${JSON.stringify(e)}`)
            }
            const [b, end] = e.data_offsets
            const count = e.shape.reduce((a, c) => a * c, 1)
            if (end - b !== count * 4 || base + end > buf.length) return fail(`${file}: tensor '${name}': byte range [${b}, ${end}) does not hold shape (${e.shape.join(", ")})`)
            const data = new Float32Array(count)
            new Uint8Array(data.buffer).set(buf.subarray(base + b, base + end))
            out.set(name, { shape: e.shape, data })
          }
          return Either.right(out)
        },
      )
    },
  )
