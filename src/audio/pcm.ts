/**
 * The decoded-audio store: every track's samples, mono, one after another in ONE file of 16-bit little-endian PCM,
 * indexed by (offset, length) in samples. 16-bit rather than float32 because real corpora are large (MTG-Jamendo's
 * 18,486 mood/theme tracks are ~350 hours: ~61 GB at 24 kHz as int16, twice that as float32) and because the
 * sources are themselves 16-bit or lossy: the quantisation noise (-96 dBFS) is far below what they carry, and MERT
 * normalises each segment anyway. Reads return float32 in [-1, 1).
 */
import { VerifiedReader } from "../runtime/integrity.ts"

export const BYTES_PER_SAMPLE = 2
const SCALE = 1 / 32768

export interface PcmIndex {
  readonly file: string
  readonly offsets: ReadonlyArray<number>
  readonly lengths: ReadonlyArray<number>
}

/**
 * Random access to a store. `read` pads with zeros past the track's end (segments are padded to full length).
 * Sync on purpose: feature extractors pull segment after segment in a tight loop.
 */
export class PcmReader {
  /** Reads through the artifact's block hashes: a corrupt sample anywhere is noticed when it is read. */
  private source: VerifiedReader | undefined
  constructor(
    private readonly path: string,
    private readonly index: PcmIndex,
  ) {
    this.source = new VerifiedReader(path)
  }

  get tracks(): number {
    return this.index.offsets.length
  }

  length(track: number): number {
    return this.index.lengths[track]
  }

  /** Samples [start, start + count) of `track` as float32; zeros where that runs past the track. */
  read(track: number, start = 0, count: number = this.index.lengths[track] - start, out?: Float32Array): Float32Array {
    if (this.source === undefined) throw new Error(`PcmReader for ${this.path} is closed`)
    if (track < 0 || track >= this.index.offsets.length) throw new RangeError(`track ${track} out of range 0..${this.index.offsets.length - 1}`)
    const result = out ?? new Float32Array(count)
    result.fill(0)
    const available = Math.max(0, Math.min(count, this.index.lengths[track] - start))
    if (available === 0) return result
    const ab = new ArrayBuffer(available * BYTES_PER_SAMPLE)
    const buf = Buffer.from(ab)
    const position = (this.index.offsets[track] + start) * BYTES_PER_SAMPLE
    if (position + buf.length > this.source.size) throw new Error(`${this.path} is shorter than its index says (track ${track})`)
    this.source.read(buf, position)
    // Int16Array is host-endian; every platform Node ships for is little-endian, as the file is.
    const ints = new Int16Array(ab)
    for (let i = 0; i < available; i++) result[i] = ints[i] * SCALE
    return result
  }

  close(): void {
    this.source?.close()
    this.source = undefined
  }
}
