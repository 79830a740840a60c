import { describe, expect, it } from "vitest"
import { barChart, escapeXml, lineChart, logTicks, niceTicks, panels } from "../../src/report/svg.ts"
import { xmlProblems } from "./xml.ts"

const attr = (svg: string, element: string, name: string): Array<string> =>
  [...svg.matchAll(new RegExp(`<${element}\\b[^>]*\\b${name}="([^"]*)"`, "g"))].map((m) => m[1])

describe("svg plots", () => {
  it("picks 1/2/5 ticks covering the range", () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1])
    expect(niceTicks(0.013, 0.031, 4)).toEqual([0.015, 0.02, 0.025, 0.03])
    expect(niceTicks(3, 3)).toEqual([3])
  })

  it("draws each series as a line through its points, scaled into the plot area", () => {
    const svg = lineChart({ title: "t", xLabel: "epoch", yLabel: "loss", width: 400, height: 250, series: [{ name: "a", points: [[1, 0], [2, 1], [3, 0.5]] }] })
    expect(xmlProblems(svg)).toEqual([])
    const pts = attr(svg, "polyline", "points")[0].split(" ").map((p) => p.split(",").map(Number))
    expect(pts).toHaveLength(3)
    // x: evenly spaced; y: the highest value is highest on screen (smallest y), the lowest lowest.
    expect(pts[1][0] - pts[0][0]).toBeCloseTo(pts[2][0] - pts[1][0], 0)
    expect(pts[1][1]).toBeLessThan(pts[2][1])
    expect(pts[2][1]).toBeLessThan(pts[0][1])
    expect(Math.min(...pts.map((p) => p[0]))).toBeGreaterThanOrEqual(62)
    expect(Math.max(...pts.map((p) => p[0]))).toBeLessThanOrEqual(400 - 12)
  })

  it("leaves a gap at a non-finite value instead of drawing it at 0", () => {
    const svg = lineChart({ title: "t", xLabel: "x", yLabel: "y", series: [{ name: "a", points: [[1, 0.5], [2, 0.6], [3, Number.NaN], [4, 0.7], [5, 0.8]] }] })
    expect(attr(svg, "polyline", "points").map((p) => p.split(" ").length)).toEqual([2, 2])
  })

  it("puts a log-scaled axis on decades and drops non-positive values", () => {
    const svg = lineChart({ title: "lr", xLabel: "epoch", yLabel: "lr", logY: true, series: [{ name: "lr", points: [[1, 1e-4], [2, 1e-4], [3, 2e-5], [4, 0]] }] })
    expect(svg).toContain(">1e-4<")
    expect(svg).toContain(">2e-5<")
    expect(svg).toContain(">5e-5<")
    expect(attr(svg, "polyline", "points")[0].split(" ")).toHaveLength(3)
    const pts = attr(svg, "polyline", "points")[0].split(" ").map((p) => p.split(",").map(Number))
    expect(pts[0][1]).toBe(pts[1][1])
    expect(pts[2][1]).toBeGreaterThan(pts[1][1])
  })

  it("labels decades on a wide log axis and 1/2/5 steps on a narrow one", () => {
    expect(logTicks(-7, -3)).toEqual([1e-7, 1e-6, 1e-5, 1e-4, 1e-3])
    expect(logTicks(Math.log10(1.6e-7), Math.log10(1e-4))).toEqual([1e-6, 1e-5, 1e-4])
    expect(logTicks(Math.log10(2e-5), Math.log10(1e-4))).toEqual([2e-5, 5e-5, 1e-4])
  })

  it("says 'no data' for an empty chart and escapes every text", () => {
    expect(lineChart({ title: "a<b", xLabel: "x", yLabel: "y", series: [] })).toContain("no data")
    const svg = lineChart({ title: "a<b & \"c\"", xLabel: "x", yLabel: "y", series: [{ name: "<s>", points: [[0, 1]] }] })
    expect(xmlProblems(svg)).toEqual([])
    expect(svg).toContain("a&lt;b &amp; &quot;c&quot;")
    expect(escapeXml(`<'&">`)).toBe("&lt;&#39;&amp;&quot;&gt;")
  })

  it("draws bars proportional to their values, with reference lines", () => {
    const svg = barChart({
      title: "F1",
      bars: [
        { label: "angry, aggressive", value: 0.5 },
        { label: "sad", value: 0.25 },
        { label: "x|y", value: 0 },
      ],
      marks: [{ value: 0.3, label: "macro", colour: "red" }],
      max: 1,
    })
    expect(xmlProblems(svg)).toEqual([])
    const widths = attr(svg, "rect", "width").slice(1).map(Number)
    expect(widths).toHaveLength(3)
    expect(widths[0]).toBeCloseTo(2 * widths[1], 0)
    expect(widths[2]).toBe(0)
    expect(svg).toContain("macro 0.3000")
  })

  it("nests panels side by side", () => {
    const a = lineChart({ title: "a", xLabel: "x", yLabel: "y", width: 100, height: 80, series: [{ name: "s", points: [[0, 0], [1, 1]] }] })
    const svg = panels([a, a], 100, 80)
    expect(xmlProblems(svg)).toEqual([])
    expect(attr(svg, "svg", "x")).toEqual(["0", "100"])
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="200"')).toBe(true)
  })
})
