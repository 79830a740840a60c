import { Effect, Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import { agglomerative, cosineDistance } from "../../src/cluster/agglomerative.ts"
import { kMeans, KMeansError } from "../../src/cluster/kmeans.ts"
import { pca2, projectionSvg } from "../../src/cluster/projection.ts"

const blobs = [
  [0, 0],
  [0.2, 0.1],
  [0.1, 0.3],
  [5, 5],
  [5.2, 4.9],
  [4.8, 5.1],
  [10, 0],
  [10.1, 0.2],
]

describe("k-means", () => {
  it("finds well-separated blobs, ids by first appearance, centres their means", async () => {
    const r = await Effect.runPromise(kMeans(blobs, 3, 1))
    expect(Array.from(r.labels)).toEqual([0, 0, 0, 1, 1, 1, 2, 2])
    expect(Array.from(r.centres[1])).toEqual([5, 5].map((_, k) => (blobs[3][k] + blobs[4][k] + blobs[5][k]) / 3))
    expect(r.converged).toBe(true)
  })
  it("is deterministic for a seed", async () => {
    const pts = Array.from({ length: 40 }, (_, i) => [Math.sin(i * 1.7) * 3, Math.cos(i * 0.9) * 3])
    const a = await Effect.runPromise(kMeans(pts, 4, 7))
    const b = await Effect.runPromise(kMeans(pts, 4, 7))
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels))
  })
  it("rejects k larger than the number of points", async () => {
    expect(await Effect.runPromise(Effect.flip(kMeans(blobs, 9, 0)))).toBeInstanceOf(KMeansError)
  })
})

describe("cosine agglomerative", () => {
  // Directions matter, not lengths: three directions at 0, 90 and 180 degrees, with scaled copies.
  const rows = [
    [1, 0],
    [3, 0.1],
    [0, 1],
    [0.1, 2],
    [-1, 0],
    [-2, -0.05],
  ]
  it("cosine distance is 1 - cos", () => {
    expect(cosineDistance([1, 0], [0, 2])).toBeCloseTo(1, 12)
    expect(cosineDistance([1, 0], [-3, 0])).toBeCloseTo(2, 12)
    expect(cosineDistance([0, 0], [1, 0])).toBeNaN()
    expect(Option.getOrThrow(Either.getLeft(agglomerative([[1, 0], [0, 0]], { k: 1 }))).message).toMatch(/point 1 is a zero vector/)
  })
  it("stops at k clusters", () => {
    expect(Array.from(Either.getOrThrow(agglomerative(rows, { k: 3 })))).toEqual([0, 0, 1, 1, 2, 2])
    expect(Array.from(Either.getOrThrow(agglomerative(rows, { k: 1 })))).toEqual([0, 0, 0, 0, 0, 0])
  })
  it("stops at a distance threshold", () => {
    expect(Array.from(Either.getOrThrow(agglomerative(rows, { threshold: 0.05 })))).toEqual([0, 0, 1, 1, 2, 2])
    expect(Array.from(Either.getOrThrow(agglomerative(rows, { threshold: 0 })))).toEqual([0, 1, 2, 3, 4, 5])
  })
  it("linkage changes which clusters merge", () => {
    // On a line of angles 0, 40, 80, 120 degrees: single linkage chains, complete linkage does not.
    const deg = (d: number) => [Math.cos((d * Math.PI) / 180), Math.sin((d * Math.PI) / 180)]
    const line = [deg(0), deg(40), deg(80), deg(120)]
    const t = 1 - Math.cos((45 * Math.PI) / 180)
    expect(Array.from(Either.getOrThrow(agglomerative(line, { threshold: t }, "single")))).toEqual([0, 0, 0, 0])
    expect(new Set(Either.getOrThrow(agglomerative(line, { threshold: t }, "complete"))).size).toBe(2)
  })
})

describe("projection", () => {
  it("PCA puts collinear points on the x axis", () => {
    const pts = pca2([
      [0, 0, 0],
      [1, 1, 1],
      [2, 2, 2],
      [3, 3, 3],
    ])
    for (const p of pts) expect(Math.abs(p.y)).toBeLessThan(1e-9)
    expect(pts[3].x - pts[0].x).toBeCloseTo(3 * Math.sqrt(3), 9)
  })
  it("the SVG names every label, escaped, and colours by cluster", () => {
    const svg = projectionSvg(
      [
        { label: "angry & <loud>", group: "CAL500", cluster: 0 },
        { label: "calm", group: "mtg", cluster: 1 },
      ],
      [
        { x: 0, y: 0 },
        { x: 1, y: 1 },
      ],
      "t",
    )
    expect(svg).toMatch(/^<svg/)
    expect(svg).toContain("angry &amp; &lt;loud&gt;")
    expect(svg).toContain("CAL500: angry &amp; &lt;loud&gt; (cluster 0)")
    const fills = [...svg.matchAll(/<text[^>]*fill="(hsl[^"]+)"/g)].map((m) => m[1])
    expect(new Set(fills).size).toBe(2)
  })
})
