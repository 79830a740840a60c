/**
 * A batch of segments as it crosses a thread boundary: all samples in one buffer (transferred, not copied) plus each
 * segment's length. The result is the batch's feature rows, one L x D matrix after another.
 */
import { BUILTIN_DIM, BUILTIN_LAYERS, BuiltinExtractor } from "./builtin.ts"

export interface SegmentBatch {
  readonly sampleRate: number
  readonly samples: Float32Array
  readonly lengths: ReadonlyArray<number>
}

export const packBatch = (sampleRate: number, segments: ReadonlyArray<Float32Array>): SegmentBatch => {
  const total = segments.reduce((n, s) => n + s.length, 0)
  const samples = new Float32Array(total)
  let offset = 0
  for (const s of segments) {
    samples.set(s, offset)
    offset += s.length
  }
  return { sampleRate, samples, lengths: segments.map((s) => s.length) }
}

const extractors = new Map<number, BuiltinExtractor>()

export const extractBatch = (batch: SegmentBatch): Float32Array => {
  let extractor = extractors.get(batch.sampleRate)
  if (extractor === undefined) {
    extractor = new BuiltinExtractor(batch.sampleRate)
    extractors.set(batch.sampleRate, extractor)
  }
  const rowSize = BUILTIN_LAYERS * BUILTIN_DIM
  const out = new Float32Array(batch.lengths.length * rowSize)
  let offset = 0
  batch.lengths.forEach((len, i) => {
    out.set(extractor.extract(batch.samples.subarray(offset, offset + len)), i * rowSize)
    offset += len
  })
  return out
}
