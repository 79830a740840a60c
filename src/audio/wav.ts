/** A 16-bit PCM WAV writer (the demo data and the tests' fixtures write their audio with it). */

/** Interleaves `channels` (equal lengths, samples in [-1, 1], clipped) into a RIFF/WAVE file. */
export const encodeWav = (channels: ReadonlyArray<Float32Array>, rate: number): Buffer => {
  const ch = channels.length
  const frames = channels[0]?.length ?? 0
  if (channels.some((c) => c.length !== frames)) throw new Error("encodeWav: channels differ in length")
  const data = frames * ch * 2
  const b = Buffer.alloc(44 + data)
  b.write("RIFF", 0, "ascii")
  b.writeUInt32LE(36 + data, 4)
  b.write("WAVEfmt ", 8, "ascii")
  b.writeUInt32LE(16, 16)
  b.writeUInt16LE(1, 20)
  b.writeUInt16LE(ch, 22)
  b.writeUInt32LE(rate, 24)
  b.writeUInt32LE(rate * ch * 2, 28)
  b.writeUInt16LE(ch * 2, 32)
  b.writeUInt16LE(16, 34)
  b.write("data", 36, "ascii")
  b.writeUInt32LE(data, 40)
  const pcm = interleaveS16(channels)
  Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength).copy(b, 44)
  return b
}

/** Channels -> interleaved 16-bit samples (host order = little-endian on every Node platform). */
export const interleaveS16 = (channels: ReadonlyArray<Float32Array>): Int16Array => {
  const ch = channels.length
  const frames = channels[0]?.length ?? 0
  const out = new Int16Array(frames * ch)
  for (let c = 0; c < ch; c++) {
    const src = channels[c]
    for (let i = 0; i < frames; i++) {
      const v = src[i] * 32767
      out[i * ch + c] = v >= 32767 ? 32767 : v <= -32768 ? -32768 : Math.round(v)
    }
  }
  return out
}
