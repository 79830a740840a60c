import { zipSync } from "fflate"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { writeNpyFloat32, readNpy } from "../../src/io/npy.ts"
import { decodeNpz } from "../../src/io/npz.ts"
import { DatasetCodec } from "../../src/artifacts/dataset.ts"
import { LabelEmbedStage } from "../../src/stages/label-embed.ts"
import { type LabelEmbeddings, LabelEmbeddingsCodec, readLabelEmbeddings } from "../../src/artifacts/label-embeddings.ts"
import { artifactFromResult, artifactOf, runStagePromise, tempDir } from "../support/stage-harness.ts"
import { Effect } from "effect"
import { NodeContext } from "@effect/platform-node"

/** An .npy of '<U' strings, as numpy writes it. */
const npyStrings = (values: ReadonlyArray<string>): Uint8Array => {
  const width = Math.max(1, ...values.map((v) => [...v].length))
  const dict = `{'descr': '<U${width}', 'fortran_order': False, 'shape': (${values.length},), }`
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64
  const header = Buffer.from(dict + " ".repeat(total - 10 - dict.length - 1) + "\n", "latin1")
  const data = Buffer.alloc(values.length * width * 4)
  values.forEach((v, i) => [...v].forEach((c, j) => data.writeUInt32LE(c.codePointAt(0)!, (i * width + j) * 4)))
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0])
  pre.writeUInt16LE(header.length, 8)
  return new Uint8Array(Buffer.concat([pre, header, data]))
}
const npyFloats = (rows: ReadonlyArray<ReadonlyArray<number>>): Uint8Array => {
  const f = path.join(tempDir(), "m.npy")
  writeNpyFloat32(f, [rows.length, rows[0].length], Float32Array.from(rows.flat()))
  return new Uint8Array(fs.readFileSync(f))
}

const LABELS = ["angry, aggressive", "calmness", "joyful_activation"]
const ROWS = [
  [0.6, 0.8, 0],
  [0, 1, 0],
  [0, 0, 2],
]
const npzFile = (members: Record<string, Uint8Array>): string => {
  const f = path.join(tempDir(), "label_expanded_test.npz")
  fs.writeFileSync(f, zipSync(members))
  return f
}
const asFile = (p: string) => ({ path: p, hash: "test" })

const matrixOf = async (r: Awaited<ReturnType<typeof runStagePromise>>) =>
  Effect.runPromise(readLabelEmbeddings(artifactFromResult<LabelEmbeddings>(r)))

describe("npz", () => {
  it("reads numpy string and float arrays, and names the file on errors", () => {
    const z = decodeNpz(zipSync({ "labels.npy": npyStrings(["a", "bé"]), "x.npy": npyFloats([[1, 2]]) }), "t.npz")
    expect(z.labels.data).toEqual(["a", "bé"])
    expect(z.x.shape).toEqual([1, 2])
    expect(() => decodeNpz(new Uint8Array([1, 2, 3]), "bad.npz")).toThrow(/bad.npz: not a readable .npz/)
    expect(() => decodeNpz(zipSync({ "y.npy": new Uint8Array([1, 2]) }), "t.npz")).toThrow(/t.npz\[y\]/)
  })
})

describe("precomputed provider", () => {
  const file = npzFile({ "labels.npy": npyStrings(LABELS), "text_features.npy": npyFloats(ROWS) })
  it("reads an .npz as stored (no renormalisation), named after the file", async () => {
    const r = await runStagePromise(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(file) } })
    const v = r.value as LabelEmbeddings
    expect(v.dataset).toBe("label_expanded_test")
    expect(v.labels).toEqual(LABELS)
    expect(v.normalised).toBe(false)
    const m = await matrixOf(r)
    expect(Array.from(m.matrix)).toEqual(Array.from(Float32Array.from(ROWS.flat())))
  })
  it("follows the dataset's vocabulary order and names missing labels", async () => {
    const dataset = artifactOf(DatasetCodec, { name: "CAL500", format: "cal500", labels: ["joyful_activation", "angry, aggressive"], tracks: [], skipped: [] })
    const r = await runStagePromise(LabelEmbedStage, { params: { provider: "precomputed", normalise: true }, inputs: { file: asFile(file), dataset } })
    const v = r.value as LabelEmbeddings
    expect(v.dataset).toBe("CAL500")
    expect(v.labels).toEqual(["joyful_activation", "angry, aggressive"])
    expect(Array.from((await matrixOf(r)).matrix)).toEqual([0, 0, 1, 0.6, 0.8, 0].map(Math.fround))
    const other = artifactOf(DatasetCodec, { name: "X", format: "cal500", labels: ["sad", "calmness"], tracks: [], skipped: [] })
    await expect(runStagePromise(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(file), dataset: other } })).rejects.toMatchObject({
      message: expect.stringMatching(/no embedding for "sad" \(file has "angry, aggressive", "calmness", "joyful_activation"\)/),
    })
  })
  it("reads JSON (two forms) and a bare .npy with a label list", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "a.json"), JSON.stringify({ labels: LABELS, embeddings: ROWS }))
    fs.writeFileSync(path.join(dir, "b.json"), JSON.stringify(Object.fromEntries(LABELS.map((l, i) => [l, ROWS[i]]))))
    fs.writeFileSync(path.join(dir, "c.npy"), npyFloats(ROWS))
    for (const [f, params] of [
      ["a.json", {}],
      ["b.json", {}],
      ["c.npy", { labels: LABELS }],
    ] as const) {
      const r = await runStagePromise(LabelEmbedStage, { params: { provider: "precomputed", ...params }, inputs: { file: asFile(path.join(dir, f)) } })
      expect((r.value as LabelEmbeddings).labels).toEqual(LABELS)
      expect(Array.from((await matrixOf(r)).matrix)).toEqual(Array.from(Float32Array.from(ROWS.flat())))
    }
    await expect(runStagePromise(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(path.join(dir, "c.npy")) } })).rejects.toMatchObject({
      message: expect.stringMatching(/c.npy: a bare .npy holds no label names/),
    })
    fs.writeFileSync(path.join(dir, "d.json"), JSON.stringify({ labels: ["a"], embeddings: [[1], [2]] }))
    await expect(runStagePromise(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(path.join(dir, "d.json")) } })).rejects.toMatchObject({
      message: expect.stringMatching(/d.json: 1 labels but 2 embeddings/),
    })
  })
  it("errors on an empty label, a wrong key, or a template it cannot apply", async () => {
    const bad = npzFile({ "labels.npy": npyStrings(["ok", ""]), "text_features.npy": npyFloats([[1], [2]]) })
    await expect(runStagePromise(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(bad) } })).rejects.toMatchObject({
      message: expect.stringMatching(/label 1 is empty/),
    })
    await expect(
      runStagePromise(LabelEmbedStage, { params: { provider: "precomputed", features_key: "feats" }, inputs: { file: asFile(file) } }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/no array 'feats' \(has labels, text_features\)/) })
    await expect(
      runStagePromise(LabelEmbedStage, { params: { provider: "precomputed", template: "music {label}" }, inputs: { file: asFile(file) } }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/do not apply to precomputed/) })
    await expect(runStagePromise(LabelEmbedStage, { params: { provider: "precomputed" } })).rejects.toMatchObject({
      message: expect.stringMatching(/needs the `file` input/),
    })
  })
  it("mea show --json gives the matrix", async () => {
    const r = await runStagePromise(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(file) } })
    const json = (await Effect.runPromise(LabelEmbeddingsCodec.toJson!(artifactFromResult<LabelEmbeddings>(r)).pipe(Effect.provide(NodeContext.layer)))) as {
      embeddings: Array<{ label: string; vector: Array<number> }>
    }
    expect(json.embeddings[2]).toEqual({ label: "joyful_activation", vector: [0, 0, 2] })
    expect(readNpy(path.join(r.outDir, "embeddings.npy")).shape).toEqual([3, 3])
  })
})
