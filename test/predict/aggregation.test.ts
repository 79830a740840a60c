/**
 * The three song-level aggregations on a case small enough to compute by hand: one song of three segments, one song
 * of one segment, three labels, k = 1.
 */
import { describe, expect, it } from "vitest"
import { aggregateSongs, meanEmbeddingScores, songRows } from "../../src/model/vote.ts"

// Segment scores (rows x labels). Song A = rows 0-2, song B = row 3.
const scores = Float32Array.from([
  0.9, 0.1, 0.0, // A: top-1 is label 0
  0.2, 0.3, 0.1, // A: top-1 is label 1
  0.0, 0.6, 0.5, // A: top-1 is label 1
  0.1, 0.2, 0.3, // B: top-1 is label 2
])
const songs = songRows(["A", "A", "A", "B"])

// Segment embeddings (2-d, unit length) and label embeddings for mean-embedding.
const emb = Float32Array.from([1, 0, 0, 1, 0, 1, 0.6, 0.8])
const labelEmb = Float32Array.from([1, 0, 0, 1, 0.6, 0.8])

describe("song aggregation", () => {
  it("songRows numbers songs in order of first appearance", () => {
    expect([...songs.songOf]).toEqual([0, 0, 0, 1])
    expect(songs.ids).toEqual(["A", "B"])
  })

  it("vote: label 1 wins song A with 2 of 3 votes although label 0 has the highest mean score", () => {
    const r = aggregateSongs("vote", { scores, labels: 3 }, songs, 1)
    expect([...r.predicted]).toEqual([0, 1, 0, 0, 0, 1])
    // The song's scores are the mean segment scores: A = (1.1/3, 1.0/3, 0.6/3), B = its one row.
    expect(r.scores[0]).toBeCloseTo(1.1 / 3, 6)
    expect(r.scores[1]).toBeCloseTo(1.0 / 3, 6)
    expect(r.scores[2]).toBeCloseTo(0.6 / 3, 6)
    expect(r.scores[5]).toBeCloseTo(0.3, 6)
  })

  it("vote: a tie in votes goes to the larger summed similarity", () => {
    // Two segments, each voting for a different label: label 1's summed similarity (0.8 + 0.7) beats label 0's (0.9 + 0.1).
    const tie = Float32Array.from([0.9, 0.8, 0.1, 0.7])
    const r = aggregateSongs("vote", { scores: tie, labels: 2 }, songRows(["A", "A"]), 1)
    expect([...r.predicted]).toEqual([0, 1])
  })

  it("mean-score: label 0 wins song A (mean 0.367 against 0.333)", () => {
    const r = aggregateSongs("mean-score", { scores, labels: 3 }, songs, 1)
    expect([...r.predicted]).toEqual([1, 0, 0, 0, 0, 1])
    expect(r.scores[0]).toBeCloseTo(1.1 / 3, 6)
  })

  it("mean-embedding: the mean of song A's outputs is (1/3, 2/3); its cosines are 0.447, 0.894 and 0.984", () => {
    const r = aggregateSongs("mean-embedding", { scores, labels: 3, embeddings: { rows: emb, labels: labelEmb, dim: 2 } }, songs, 1)
    const n = Math.sqrt(1 / 9 + 4 / 9)
    expect(r.scores[0]).toBeCloseTo(1 / 3 / n, 6)
    expect(r.scores[1]).toBeCloseTo(2 / 3 / n, 6)
    expect(r.scores[2]).toBeCloseTo((0.6 / 3 + 0.8 * 2 / 3) / n, 6)
    expect([...r.predicted.slice(0, 3)]).toEqual([0, 0, 1])
    // Song B is one segment: its score is that segment's cosine with each label.
    expect(r.scores[3]).toBeCloseTo(0.6, 6)
    expect(r.scores[4]).toBeCloseTo(0.8, 6)
    expect(r.scores[5]).toBeCloseTo(1, 6)
  })

  it("mean-embedding does not depend on the label embeddings' length", () => {
    const scaled = labelEmb.map((x) => x * 3)
    const a = meanEmbeddingScores(emb, 2, songs.songOf, songs.songs, labelEmb)
    const b = meanEmbeddingScores(emb, 2, songs.songOf, songs.songs, scaled)
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 6)
  })

  it("mean-embedding without the model outputs is an error", () => {
    expect(() => aggregateSongs("mean-embedding", { scores, labels: 3 }, songs, 1)).toThrow(/model outputs/)
  })
})
