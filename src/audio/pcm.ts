/**
 * The decoded-audio store: every track's samples, mono, one after another in ONE file of 16-bit little-endian PCM,
 * indexed by (offset, length) in samples. 16-bit rather than float32 because real corpora are large (MTG-Jamendo's
 * 18,486 mood/theme tracks are ~350 hours: ~61 GB at 24 kHz as int16, twice that as float32) and because the
 * sources are themselves 16-bit or lossy: the quantisation noise (-96 dBFS) is far below what they carry, and MERT
 * normalises each segment anyway. Reads return float32 in [-1, 1).
 */
import * as fs from "node:fs"

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
  private fd: number | undefined
  constructor(
    private readonly path: string,
    private readonly index: PcmIndex,
  ) {
    this.fd = fs.openSync(path, "r")
  }

  get tracks(): number {
    return this.index.offsets.length
  }

  length(track: number): number {
    return this.index.lengths[track]
  }

  /** Samples [start, start + count) of `track` as float32; zeros where that runs past the track. */
  read(track: number, start = 0, count: number = this.index.lengths[track] - start, out?: Float32Array): Float32Array {
    if (this.fd === undefined) throw new Error(`PcmReader for ${this.path} is closed`)
    if (track < 0 || track >= this.index.offsets.length) throw new RangeError(`track ${track} out of range 0..${this.index.offsets.length - 1}`)
    const result = out ?? new Float32Array(count)
    result.fill(0)
    const available = Math.max(0, Math.min(count, this.index.lengths[track] - start))
    if (available === 0) return result
    const ab = new ArrayBuffer(available * BYTES_PER_SAMPLE)
    const buf = Buffer.from(ab)
    let done = 0
    const position = (this.index.offsets[track] + start) * BYTES_PER_SAMPLE
    while (done < buf.length) {
      const n = fs.readSync(this.fd, buf, done, buf.length - done, position + done)
      if (n === 0) throw new Error(`${this.path} is shorter than its index says (track ${track})`)
      done += n
    }
    // Int16Array is host-endian; every platform Node ships for is little-endian, as the file is.
    const ints = new Int16Array(ab)
    for (let i = 0; i < available; i++) result[i] = ints[i] * SCALE
    return result
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd)
    this.fd = undefined
  }
}
