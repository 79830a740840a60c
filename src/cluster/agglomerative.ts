/**
 * Agglomerative clustering on cosine distance (1 - cos), average linkage by default, as scikit-learn's
 * AgglomerativeClustering(metric="cosine"): merge the closest pair of clusters until `k` remain, or until the closest
 * pair is farther apart than `threshold`. Ties are broken by the lower cluster indices, so results are deterministic.
 */
import { Data, Either } from "effect"

export class AgglomerativeError extends Data.TaggedError("AgglomerativeError")<{ readonly message: string }> {}

export type Linkage = "average" | "complete" | "single"

export type StopRule = { readonly k: number } | { readonly threshold: number }

export const cosineDistance = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i]
    na += a[i] * a[i]
    nb += b[i] * b[i]
  }
  // Undefined (NaN) for a zero vector; agglomerative refuses those before it measures anything.
  return na === 0 || nb === 0 ? NaN : 1 - dot / Math.sqrt(na * nb)
}

export const agglomerative = (rows: ReadonlyArray<ArrayLike<number>>, stop: StopRule, linkage: Linkage = "average"): Either.Either<Int32Array, AgglomerativeError> => {
  const n = rows.length
  if (n === 0) return Either.left(new AgglomerativeError({ message: "no points to cluster" }))
  if ("k" in stop && (!Number.isInteger(stop.k) || stop.k < 1 || stop.k > n)) {
    return Either.left(new AgglomerativeError({ message: `k must be an integer in 1..${n}, got ${stop.k}` }))
  }
  const zero = rows.findIndex((r) => Array.prototype.every.call(r, (v: number) => v === 0))
  if (zero >= 0) return Either.left(new AgglomerativeError({ message: `point ${zero} is a zero vector: its cosine distance to anything is undefined` }))
  const dist: Array<Float64Array> = rows.map((a) => Float64Array.from(rows, (b) => cosineDistance(a, b)))
  const members: Array<Array<number> | undefined> = rows.map((_, i) => [i])
  let alive = n
  for (;;) {
    if ("k" in stop && alive <= stop.k) break
    let bi = -1
    let bj = -1
    let best = Infinity
    for (let i = 0; i < n; i++) {
      if (members[i] === undefined) continue
      for (let j = i + 1; j < n; j++) {
        if (members[j] === undefined) continue
        if (dist[i][j] < best) {
          best = dist[i][j]
          bi = i
          bj = j
        }
      }
    }
    if (bi < 0) break
    if ("threshold" in stop && best > stop.threshold) break
    const si = members[bi]!.length
    const sj = members[bj]!.length
    for (let m = 0; m < n; m++) {
      if (members[m] === undefined || m === bi || m === bj) continue
      const d =
        linkage === "average"
          ? (dist[bi][m] * si + dist[bj][m] * sj) / (si + sj)
          : linkage === "complete"
            ? Math.max(dist[bi][m], dist[bj][m])
            : Math.min(dist[bi][m], dist[bj][m])
      dist[bi][m] = d
      dist[m][bi] = d
    }
    members[bi] = [...members[bi]!, ...members[bj]!]
    members[bj] = undefined
    alive--
  }
  // Cluster ids by first member's position.
  const labels = new Int32Array(n)
  const clusters = members.filter((m): m is Array<number> => m !== undefined).sort((a, b) => Math.min(...a) - Math.min(...b))
  clusters.forEach((m, id) => m.forEach((i) => (labels[i] = id)))
  return Either.right(labels)
}
