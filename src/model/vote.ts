/**
 * Song-level majority vote, as the reference: every segment of a song votes for its own top-k labels; the song's
 * prediction is the k labels with the most votes. Ties in the vote count are broken by the labels' similarity summed
 * over the song's segments (then by label index). The song's threshold-free score per label is its mean similarity
 * over the segments.
 */
import { topK } from "./metrics.ts"

export interface SongVote {
  readonly predicted: Uint8Array
  readonly votes: Int32Array
  /** songs x labels mean segment similarity. */
  readonly scores: Float64Array
}

export const songVote = (
  segmentScores: ArrayLike<number>,
  songOf: Int32Array,
  songs: number,
  labels: number,
  k: number,
): SongVote => {
  const rows = songOf.length
  const segmentTop = topK(segmentScores, rows, labels, k)
  const votes = new Int32Array(songs * labels)
  const sums = new Float64Array(songs * labels)
  const counts = new Int32Array(songs)
  for (let r = 0; r < rows; r++) {
    const s = songOf[r]
    counts[s]++
    for (let l = 0; l < labels; l++) {
      votes[s * labels + l] += segmentTop[r * labels + l]
      sums[s * labels + l] += segmentScores[r * labels + l]
    }
  }
  const predicted = new Uint8Array(songs * labels)
  const idx = Array.from({ length: labels }, (_, i) => i)
  const kk = Math.min(k, labels)
  for (let s = 0; s < songs; s++) {
    if (counts[s] === 0) continue
    const off = s * labels
    idx.sort((a, b) => votes[off + b] - votes[off + a] || sums[off + b] - sums[off + a] || a - b)
    for (let i = 0; i < kk; i++) predicted[off + idx[i]] = 1
  }
  const scores = new Float64Array(songs * labels)
  for (let s = 0; s < songs; s++) for (let l = 0; l < labels; l++) scores[s * labels + l] = counts[s] === 0 ? 0 : sums[s * labels + l] / counts[s]
  return { predicted, votes, scores }
}
