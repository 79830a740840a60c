/**
 * Small hand-written SVG plots for the report: line charts (training curves, optionally log-scaled) and horizontal
 * bar charts (per-label F1). Plain strings, no dependencies; every text is XML-escaped. Non-finite values are left
 * out of a line (a gap), not drawn at 0.
 */

export const escapeXml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;")

const f = (x: number): string => (Math.round(x * 10) / 10).toString()

/** Tick positions covering [lo, hi] at a 1/2/5 x 10^n step. */
export const niceTicks = (lo: number, hi: number, target = 5): Array<number> => {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / target
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  const out: Array<number> = []
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)))
  return out
}

/** Ticks for a log axis given log10 bounds: decades, or 1/2/5 x 10^n when fewer than two decades fall inside. */
export const logTicks = (lo: number, hi: number): Array<number> => {
  const inside = (t: number) => Math.log10(t) >= lo - 1e-9 && Math.log10(t) <= hi + 1e-9
  const decades: Array<number> = []
  for (let e = Math.ceil(lo - 1e-9); e <= hi + 1e-9; e++) decades.push(Number((10 ** e).toPrecision(12)))
  if (decades.length >= 2) return decades.length > 6 ? decades.filter((_, i) => i % Math.ceil(decades.length / 6) === 0) : decades
  const fine: Array<number> = []
  for (let e = Math.floor(lo) - 1; e <= Math.ceil(hi); e++) for (const m of [1, 2, 5]) fine.push(Number((m * 10 ** e).toPrecision(12)))
  return fine.filter(inside)
}

const tickLabel = (t: number): string => {
  if (t === 0) return "0"
  const a = Math.abs(t)
  return a >= 1e4 || a < 1e-3 ? t.toExponential(0) : Number(t.toPrecision(4)).toString()
}

export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

export interface Series {
  readonly name: string
  readonly points: ReadonlyArray<readonly [number, number]>
  readonly colour?: string
  readonly dashed?: boolean
}

export interface LineChart {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly series: ReadonlyArray<Series>
  readonly logY?: boolean
  /** A vertical marker, e.g. the chosen epoch. */
  readonly markX?: { readonly x: number; readonly label: string }
  readonly width?: number
  readonly height?: number
}

const finitePoints = (s: Series, logY: boolean): Array<readonly [number, number]> =>
  s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0))

/** An `<svg>` line chart; an empty chart says "no data". */
export const lineChart = (c: LineChart): string => {
  const W = c.width ?? 420
  const H = c.height ?? 260
  const left = 62
  const right = 12
  const top = 30
  const bottom = 58
  const logY = c.logY === true
  const all = c.series.flatMap((s) => finitePoints(s, logY))
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">` +
    `<rect width="${W}" height="${H}" fill="white"/>` +
    `<text x="${f(W / 2)}" y="18" font-size="13" text-anchor="middle">${escapeXml(c.title)}</text>`
  if (all.length === 0) return `${head}<text x="${f(W / 2)}" y="${f(H / 2)}" text-anchor="middle" fill="#777">no data</text></svg>`
  const tr = (y: number) => (logY ? Math.log10(y) : y)
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))]
  let [y0, y1] = [Math.min(...all.map((p) => tr(p[1]))), Math.max(...all.map((p) => tr(p[1])))]
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1]
  if (y1 === y0) {
    const d = logY ? 0.5 : Math.abs(y0) * 0.1 || 1
    ;[y0, y1] = [y0 - d, y1 + d]
  } else {
    const m = (y1 - y0) * 0.05
    ;[y0, y1] = [y0 - m, y1 + m]
  }
  const sx = (x: number) => left + ((x - x0) / (x1 - x0)) * (W - left - right)
  const sy = (y: number) => H - bottom - ((tr(y) - y0) / (y1 - y0)) * (H - top - bottom)
  const parts: Array<string> = [head]
  const yTicks = logY ? logTicks(y0, y1) : niceTicks(y0, y1).filter((t) => t >= y0 && t <= y1)
  for (const t of yTicks) {
    const y = sy(t)
    parts.push(`<line x1="${left}" y1="${f(y)}" x2="${W - right}" y2="${f(y)}" stroke="#e4e4e4"/>`)
    parts.push(`<text x="${left - 5}" y="${f(y + 4)}" text-anchor="end" fill="#444">${escapeXml(tickLabel(t))}</text>`)
  }
  for (const t of niceTicks(x0, x1, 6).filter((t) => t >= x0 && t <= x1)) {
    parts.push(`<text x="${f(sx(t))}" y="${H - bottom + 15}" text-anchor="middle" fill="#444">${escapeXml(tickLabel(t))}</text>`)
  }
  parts.push(`<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="none" stroke="#999"/>`)
  parts.push(`<text x="${f(left + (W - left - right) / 2)}" y="${H - bottom + 30}" text-anchor="middle">${escapeXml(c.xLabel)}</text>`)
  parts.push(`<text transform="translate(14 ${f(top + (H - top - bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(c.yLabel + (logY ? " (log)" : ""))}</text>`)
  if (c.markX !== undefined && Number.isFinite(c.markX.x)) {
    const x = sx(Math.min(Math.max(c.markX.x, x0), x1))
    parts.push(`<line x1="${f(x)}" y1="${top}" x2="${f(x)}" y2="${H - bottom}" stroke="#555" stroke-dasharray="4 3"/>`)
    // Label on the side with room: a marker in the right half gets its label on its left.
    const onLeft = x > left + (W - left - right) / 2
    parts.push(`<text x="${f(onLeft ? x - 3 : x + 3)}" y="${top + 11}" fill="#555"${onLeft ? ` text-anchor="end"` : ""}>${escapeXml(c.markX.label)}</text>`)
  }
  c.series.forEach((s, i) => {
    const colour = s.colour ?? PALETTE[i % PALETTE.length]
    // Gaps where a value is missing: one polyline per run of finite points.
    const runs: Array<Array<readonly [number, number]>> = [[]]
    for (const p of s.points) {
      if (Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!logY || p[1] > 0)) runs[runs.length - 1].push(p)
      else if (runs[runs.length - 1].length > 0) runs.push([])
    }
    for (const run of runs.filter((r) => r.length > 0)) {
      const pts = run.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(" ")
      const dash = s.dashed === true ? ` stroke-dasharray="5 3"` : ""
      parts.push(
        run.length === 1
          ? `<circle cx="${f(sx(run[0][0]))}" cy="${f(sy(run[0][1]))}" r="2.5" fill="${colour}"/>`
          : `<polyline points="${pts}" fill="none" stroke="${colour}" stroke-width="1.6"${dash}/>`,
      )
    }
    const lx = left + 4 + i * Math.floor((W - left - right) / Math.max(c.series.length, 1))
    parts.push(`<line x1="${lx}" y1="${H - 12}" x2="${lx + 16}" y2="${H - 12}" stroke="${colour}" stroke-width="2"/>`)
    parts.push(`<text x="${lx + 20}" y="${H - 8}">${escapeXml(s.name)}</text>`)
  })
  parts.push("</svg>")
  return parts.join("")
}

/** Several `<svg>` charts side by side in one `<svg>` (nested, each keeps its own coordinates). */
export const panels = (charts: ReadonlyArray<string>, width: number, height: number): string => {
  const W = width * charts.length
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">` +
    charts.map((c, i) => c.replace(/^<svg /, `<svg x="${i * width}" y="0" `)).join("") +
    "</svg>"
  )
}

export interface Bar {
  readonly label: string
  readonly value: number
  /** Shown after the value, e.g. the support. */
  readonly note?: string
}

export interface BarChart {
  readonly title: string
  readonly bars: ReadonlyArray<Bar>
  /** Vertical reference lines, e.g. macro F1 and chance level. */
  readonly marks?: ReadonlyArray<{ readonly value: number; readonly label: string; readonly colour: string }>
  readonly max?: number
  readonly width?: number
}

/** Horizontal bars, one row per label, in the order given. */
export const barChart = (c: BarChart): string => {
  const W = c.width ?? 640
  const rowH = 16
  const labelW = Math.min(220, 12 + 6.2 * Math.max(0, ...c.bars.map((b) => b.label.length)))
  const top = 30
  const marks = c.marks ?? []
  const bottom = 24 + 14 * marks.length
  const H = top + rowH * c.bars.length + bottom
  const valueW = 110
  const plotW = W - labelW - valueW - 10
  const max = c.max ?? Math.max(1e-9, ...c.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)), ...marks.map((m) => m.value))
  const sx = (v: number) => labelW + (Math.max(0, Math.min(v, max)) / max) * plotW
  const parts: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${f(W / 2)}" y="18" font-size="13" text-anchor="middle">${escapeXml(c.title)}</text>`,
  ]
  c.bars.forEach((b, i) => {
    const y = top + i * rowH
    const v = Number.isFinite(b.value) ? b.value : 0
    parts.push(`<text x="${f(labelW - 6)}" y="${y + 12}" text-anchor="end">${escapeXml(b.label)}</text>`)
    parts.push(`<rect x="${f(labelW)}" y="${y + 2}" width="${f(sx(v) - labelW)}" height="${rowH - 4}" fill="#4c78a8"><title>${escapeXml(`${b.label}: ${b.value}`)}</title></rect>`)
    parts.push(`<text x="${f(labelW + plotW + 6)}" y="${y + 12}" fill="#333">${escapeXml(`${Number.isFinite(b.value) ? b.value.toFixed(3) : "n/a"}${b.note !== undefined ? ` ${b.note}` : ""}`)}</text>`)
  })
  const bottomY = top + rowH * c.bars.length
  parts.push(`<line x1="${f(labelW)}" y1="${top}" x2="${f(labelW)}" y2="${bottomY}" stroke="#999"/>`)
  marks.forEach((m, i) => {
    const x = sx(m.value)
    parts.push(`<line x1="${f(x)}" y1="${top}" x2="${f(x)}" y2="${bottomY}" stroke="${m.colour}" stroke-dasharray="4 3" stroke-width="1.4"/>`)
    parts.push(`<line x1="${f(labelW)}" y1="${bottomY + 14 + 14 * i}" x2="${f(labelW + 16)}" y2="${bottomY + 14 + 14 * i}" stroke="${m.colour}" stroke-dasharray="4 3" stroke-width="1.4"/>`)
    parts.push(`<text x="${f(labelW + 20)}" y="${bottomY + 18 + 14 * i}">${escapeXml(`${m.label} ${m.value.toFixed(4)}`)}</text>`)
  })
  parts.push("</svg>")
  return parts.join("")
}
