/**
 * Song-level predictions from segment-level ones, three ways (the `aggregation` param of vote and predict):
 *
 * - `vote` (the reference): every segment of a song votes for its own top-k labels; the song's prediction is the k
 *   labels with the most votes. Ties in the vote count are broken by the labels' similarity summed over the song's
 *   segments (then by label index). The song's threshold-free score per label is its mean similarity over the segments.
 * - `mean-score`: the song's score per label is its mean cosine similarity over the segments; the prediction is the
 *   top-k of those scores.
 * - `mean-embedding`: the song's embedding is the mean of its segments' (L2-normalised) model outputs; its score per
 *   label is the cosine of that mean with the label's embedding; the prediction is the top-k.
 *
 * `vote` and `mean-score` give the same scores and differ only in the prediction; `mean-embedding` weights segments by
 * how far their outputs agree (a song whose segments point different ways gets a short mean vector, but cosine ignores
 * its length, so it is the direction of the consensus that counts).
 */
import { Schema } from "effect"
import { topK } from "./metrics.ts"

export const Aggregation = Schema.Literal("vote", "mean-score", "mean-embedding")
export type Aggregation = typeof Aggregation.Type
export const AGGREGATIONS: ReadonlyArray<Aggregation> = Aggregation.literals

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

/** songs x labels cosine of each song's mean segment embedding with each label's embedding. */
export const meanEmbeddingScores = (
  segmentEmbeddings: ArrayLike<number>,
  dim: number,
  songOf: Int32Array,
  songs: number,
  labelEmbeddings: ArrayLike<number>,
): Float64Array => {
  const labels = labelEmbeddings.length / dim
  const means = new Float64Array(songs * dim)
  const counts = new Int32Array(songs)
  for (let r = 0; r < songOf.length; r++) {
    const s = songOf[r]
    counts[s]++
    for (let d = 0; d < dim; d++) means[s * dim + d] += segmentEmbeddings[r * dim + d]
  }
  const labelNorms = Float64Array.from({ length: labels }, (_, l) => {
    let n = 0
    for (let d = 0; d < dim; d++) n += labelEmbeddings[l * dim + d] ** 2
    return Math.sqrt(n) || 1
  })
  const scores = new Float64Array(songs * labels)
  for (let s = 0; s < songs; s++) {
    if (counts[s] === 0) continue
    let n = 0
    for (let d = 0; d < dim; d++) n += means[s * dim + d] ** 2
    n = Math.sqrt(n) || 1
    for (let l = 0; l < labels; l++) {
      let dot = 0
      for (let d = 0; d < dim; d++) dot += means[s * dim + d] * labelEmbeddings[l * dim + d]
      scores[s * labels + l] = dot / (n * labelNorms[l])
    }
  }
  return scores
}

export interface SongRows {
  /** Song index of each segment row. */
  readonly songOf: Int32Array
  readonly songs: number
}

/** Songs in order of first appearance among the rows' track ids. */
export const songRows = (rowTracks: ReadonlyArray<string>): SongRows & { readonly ids: ReadonlyArray<string> } => {
  const index = new Map<string, number>()
  const songOf = Int32Array.from(rowTracks, (t) => {
    const existing = index.get(t)
    if (existing !== undefined) return existing
    index.set(t, index.size)
    return index.size - 1
  })
  return { songOf, songs: index.size, ids: [...index.keys()] }
}

export interface SegmentLevel {
  /** rows x labels cosine similarities. */
  readonly scores: ArrayLike<number>
  readonly labels: number
  /** rows x dim model outputs and labels x dim label embeddings: needed by mean-embedding only. */
  readonly embeddings?: { readonly rows: ArrayLike<number>; readonly labels: ArrayLike<number>; readonly dim: number }
}

export interface SongLevel {
  readonly scores: Float64Array
  readonly predicted: Uint8Array
}

/** Song scores and top-k predictions by the chosen aggregation; mean-embedding needs `seg.embeddings`. */
export const aggregateSongs = (aggregation: Aggregation, seg: SegmentLevel, songs: SongRows, k: number): SongLevel => {
  switch (aggregation) {
    case "vote": {
      const v = songVote(seg.scores, songs.songOf, songs.songs, seg.labels, k)
      return { scores: v.scores, predicted: v.predicted }
    }
    case "mean-score": {
      const v = songVote(seg.scores, songs.songOf, songs.songs, seg.labels, k)
      return { scores: v.scores, predicted: topK(v.scores, songs.songs, seg.labels, k) }
    }
    case "mean-embedding": {
      if (seg.embeddings === undefined) throw new Error("mean-embedding needs the segments' model outputs")
      const e = seg.embeddings
      const scores = meanEmbeddingScores(e.rows, e.dim, songs.songOf, songs.songs, e.labels)
      return { scores, predicted: topK(scores, songs.songs, seg.labels, k) }
    }
  }
}
