/**
 * A 2-D view of the label embeddings for the report: the first two principal components (power iteration with
 * deflation, deterministic start), drawn as an SVG scatter plot with one colour per cluster and the label names.
 */

export interface Projected {
  readonly x: number
  readonly y: number
}

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i] * b[i]
  return s
}

/** Top principal directions of the centred rows (at most min(2, rank) of them; missing ones project to 0). */
export const pca2 = (rows: ReadonlyArray<ArrayLike<number>>): ReadonlyArray<Projected> => {
  const n = rows.length
  if (n === 0) return []
  const d = rows[0].length
  const mean = new Float64Array(d)
  for (const r of rows) for (let k = 0; k < d; k++) mean[k] += r[k] / n
  const centred = rows.map((r) => Float64Array.from({ length: d }, (_, k) => r[k] - mean[k]))
  const components: Array<Float64Array> = []
  for (let c = 0; c < 2; c++) {
    // Deterministic start: the centred row with the largest norm after removing earlier components.
    const residual = (v: Float64Array): Float64Array => {
      const out = Float64Array.from(v)
      for (const pc of components) {
        const p = dot(out, pc)
        for (let k = 0; k < d; k++) out[k] -= p * pc[k]
      }
      return out
    }
    let v = centred.map(residual).reduce((best, r) => (dot(r, r) > dot(best, best) ? r : best), new Float64Array(d))
    let norm = Math.sqrt(dot(v, v))
    if (norm < 1e-12) break
    v = v.map((x) => x / norm)
    for (let it = 0; it < 200; it++) {
      const next = new Float64Array(d)
      for (const r of centred) {
        const p = dot(r, v)
        for (let k = 0; k < d; k++) next[k] += p * r[k]
      }
      const w = residual(next)
      norm = Math.sqrt(dot(w, w))
      if (norm < 1e-12) break
      const nv = w.map((x) => x / norm)
      const change = Math.abs(Math.abs(dot(nv, v)) - 1)
      v = nv
      if (change < 1e-12) break
    }
    // Sign convention: the largest-magnitude coordinate positive, so the picture does not flip between runs.
    let maxK = 0
    for (let k = 1; k < d; k++) if (Math.abs(v[k]) > Math.abs(v[maxK])) maxK = k
    if (v[maxK] < 0) v = v.map((x) => -x)
    components.push(v)
  }
  return centred.map((r) => ({ x: components[0] ? dot(r, components[0]) : 0, y: components[1] ? dot(r, components[1]) : 0 }))
}

const escapeXml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const colour = (cluster: number): string => {
  if (cluster < 0) return "#999999"
  // Golden-angle hues: neighbouring ids get distant colours.
  const hue = (cluster * 137.508) % 360
  return `hsl(${hue.toFixed(1)}, 65%, 45%)`
}

export interface PlotPoint {
  readonly label: string
  readonly group: string
  readonly cluster: number
}

/** An SVG scatter plot; marker shape per group (data set), colour per cluster. */
export const projectionSvg = (points: ReadonlyArray<PlotPoint>, coords: ReadonlyArray<Projected>, title: string): string => {
  const W = 900
  const H = 700
  const pad = 60
  const xs = coords.map((c) => c.x)
  const ys = coords.map((c) => c.y)
  const [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 0)]
  const [y0, y1] = [Math.min(...ys, 0), Math.max(...ys, 0)]
  const sx = (x: number) => pad + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * pad)
  const sy = (y: number) => H - pad - ((y - y0) / (y1 - y0 || 1)) * (H - 2 * pad)
  const groups = [...new Set(points.map((p) => p.group))]
  const marker = (g: string, x: number, y: number, fill: string): string => {
    const i = groups.indexOf(g) % 3
    if (i === 0) return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="5" fill="${fill}"/>`
    if (i === 1) return `<rect x="${(x - 4.5).toFixed(1)}" y="${(y - 4.5).toFixed(1)}" width="9" height="9" fill="${fill}"/>`
    return `<path d="M${x.toFixed(1)},${(y - 6).toFixed(1)} L${(x + 5.5).toFixed(1)},${(y + 4).toFixed(1)} L${(x - 5.5).toFixed(1)},${(y + 4).toFixed(1)} Z" fill="${fill}"/>`
  }
  const body = points.map((p, i) => {
    const x = sx(coords[i].x)
    const y = sy(coords[i].y)
    const fill = colour(p.cluster)
    return (
      `<g><title>${escapeXml(`${p.group}: ${p.label} (cluster ${p.cluster})`)}</title>${marker(p.group, x, y, fill)}` +
      `<text x="${(x + 7).toFixed(1)}" y="${(y + 4).toFixed(1)}" font-size="10" fill="${fill}">${escapeXml(p.label)}</text></g>`
    )
  })
  const legend = groups.map((g, i) => `${marker(g, 20, 20 + 16 * i, "#333")}<text x="32" y="${24 + 16 * i}" font-size="12">${escapeXml(g)}</text>`)
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" font-size="15" text-anchor="middle">${escapeXml(title)}</text>`,
    ...legend,
    ...body,
    `<text x="${W / 2}" y="${H - 15}" font-size="11" text-anchor="middle" fill="#555">principal component 1 (x) and 2 (y) of the label embeddings</text>`,
    "</svg>",
    "",
  ].join("\n")
}
