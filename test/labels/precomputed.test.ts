import { zipSync } from "fflate"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { writeNpyFloat32, readNpy } from "../../src/io/npy.ts"
import { readLabelMatrix, selectLabels } from "../../src/labels/providers/precomputed.ts"
import { decodeNpz } from "../../src/io/npz.ts"
import { DatasetCodec } from "../../src/artifacts/dataset.ts"
import { LabelEmbedStage } from "../../src/stages/label-embed.ts"
import { type LabelEmbeddings, LabelEmbeddingsCodec, readLabelEmbeddings } from "../../src/artifacts/label-embeddings.ts"
import { artifactFromResult, artifactOf, runStage, tempDir } from "../support/stage-harness.ts"
import { Effect, Either } from "effect"
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
  Either.getOrThrow(writeNpyFloat32(f, [rows.length, rows[0].length], Float32Array.from(rows.flat())))
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

const matrixOf = (r: Effect.Effect.Success<ReturnType<typeof runStage>>) => readLabelEmbeddings(artifactFromResult<LabelEmbeddings>(r))
const OPTIONS = { labelsKey: "labels", featuresKey: "text_features" }

describe("npz", () => {
  it.effect("reads numpy string and float arrays", () =>
    Effect.gen(function* () {
      const z = yield* decodeNpz(zipSync({ "labels.npy": npyStrings(["a", "bé"]), "x.npy": npyFloats([[1, 2]]) }), "t.npz")
      expect(z.labels.data).toEqual(["a", "bé"])
      expect(z.x.shape).toEqual([1, 2])
    }),
  )
})

describe("precomputed provider", () => {
  const file = npzFile({ "labels.npy": npyStrings(LABELS), "text_features.npy": npyFloats(ROWS) })
  it.effect("reads an .npz as stored (no renormalisation), named after the file", () =>
    Effect.gen(function* () {
      const r = yield* runStage(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(file) } })
      const v = r.value as LabelEmbeddings
      expect(v.dataset).toBe("label_expanded_test")
      expect(v.labels).toEqual(LABELS)
      expect(v.normalised).toBe(false)
      const m = yield* matrixOf(r)
      expect(Array.from(m.matrix)).toEqual(Array.from(Float32Array.from(ROWS.flat())))
    }),
  )
  it.effect("follows the dataset's vocabulary order and names missing labels", () =>
    Effect.gen(function* () {
      const dataset = artifactOf(DatasetCodec, { name: "CAL500", format: "cal500", labels: ["joyful_activation", "angry, aggressive"], tracks: [], skipped: [] })
      const r = yield* runStage(LabelEmbedStage, { params: { provider: "precomputed", normalise: true }, inputs: { file: asFile(file), dataset } })
      const v = r.value as LabelEmbeddings
      expect(v.dataset).toBe("CAL500")
      expect(v.labels).toEqual(["joyful_activation", "angry, aggressive"])
      expect(Array.from((yield* matrixOf(r)).matrix)).toEqual([0, 0, 1, 0.6, 0.8, 0].map(Math.fround))
      const other = artifactOf(DatasetCodec, { name: "X", format: "cal500", labels: ["sad", "calmness"], tracks: [], skipped: [] })
      const e = yield* Effect.flip(runStage(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(file), dataset: other } }))
      expect(e._tag).toBe("StageError")
      expect(e.message).toBe(`selecting labels: ${file}: no embedding for "sad" (file has "angry, aggressive", "calmness", "joyful_activation")`)
      // The provider's typed error is kept under the stage's.
      expect(e.cause).toMatchObject({ _tag: "PrecomputedError" })
    }),
  )
  it.effect("reads JSON (two forms) and a bare .npy with a label list", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      fs.writeFileSync(path.join(dir, "a.json"), JSON.stringify({ labels: LABELS, embeddings: ROWS }))
      fs.writeFileSync(path.join(dir, "b.json"), JSON.stringify(Object.fromEntries(LABELS.map((l, i) => [l, ROWS[i]]))))
      fs.writeFileSync(path.join(dir, "c.npy"), npyFloats(ROWS))
      for (const [f, params] of [
        ["a.json", {}],
        ["b.json", {}],
        ["c.npy", { labels: LABELS }],
      ] as const) {
        const r = yield* runStage(LabelEmbedStage, { params: { provider: "precomputed", ...params }, inputs: { file: asFile(path.join(dir, f)) } })
        expect((r.value as LabelEmbeddings).labels).toEqual(LABELS)
        expect(Array.from((yield* matrixOf(r)).matrix)).toEqual(Array.from(Float32Array.from(ROWS.flat())))
      }
      const bare = yield* Effect.flip(runStage(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(path.join(dir, "c.npy")) } }))
      expect(bare.message).toMatch(/c.npy: a bare .npy holds no label names/)
      fs.writeFileSync(path.join(dir, "d.json"), JSON.stringify({ labels: ["a"], embeddings: [[1], [2]] }))
      const counts = yield* Effect.flip(runStage(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(path.join(dir, "d.json")) } }))
      expect(counts.message).toMatch(/d.json: 1 labels but 2 embeddings/)
    }),
  )
  it.effect("errors on an empty label, a wrong key, or a template it cannot apply", () =>
    Effect.gen(function* () {
      const bad = npzFile({ "labels.npy": npyStrings(["ok", ""]), "text_features.npy": npyFloats([[1], [2]]) })
      expect((yield* Effect.flip(runStage(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(bad) } }))).message).toMatch(/label 1 is empty/)
      expect(
        (yield* Effect.flip(runStage(LabelEmbedStage, { params: { provider: "precomputed", features_key: "feats" }, inputs: { file: asFile(file) } }))).message,
      ).toMatch(/no array 'feats' \(has labels, text_features\)/)
      expect(
        (yield* Effect.flip(runStage(LabelEmbedStage, { params: { provider: "precomputed", template: "music {label}" }, inputs: { file: asFile(file) } }))).message,
      ).toMatch(/do not apply to precomputed/)
      expect((yield* Effect.flip(runStage(LabelEmbedStage, { params: { provider: "precomputed" } }))).message).toMatch(/needs the `file` input/)
    }),
  )
  it.effect("mea show --json gives the matrix", () =>
    Effect.gen(function* () {
      const r = yield* runStage(LabelEmbedStage, { params: { provider: "precomputed" }, inputs: { file: asFile(file) } })
      const json = (yield* LabelEmbeddingsCodec.toJson!(artifactFromResult<LabelEmbeddings>(r)).pipe(Effect.provide(NodeContext.layer))) as {
        embeddings: Array<{ label: string; vector: Array<number> }>
      }
      expect(json.embeddings[2]).toEqual({ label: "joyful_activation", vector: [0, 0, 2] })
      expect((yield* readNpy(path.join(r.outDir, "embeddings.npy"))).shape).toEqual([3, 3])
    }),
  )
})

describe("readLabelMatrix failures", () => {
  const flipRead = (f: string, options = OPTIONS) => Effect.flip(readLabelMatrix(f, options))

  it.effect("a reader's error becomes a PrecomputedError with the reader's message, its tag kept as the cause", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const notZip = path.join(dir, "x.npz")
      fs.writeFileSync(notZip, "not a zip")
      const e = yield* flipRead(notZip)
      expect(e._tag).toBe("PrecomputedError")
      expect(e.message.startsWith(`${notZip}: not a readable .npz (zip) archive: `)).toBe(true)
      expect(e.cause).toMatchObject({ _tag: "NpzError" })
      const badNpy = path.join(dir, "y.npy")
      fs.writeFileSync(badNpy, "garbage bytes")
      const n = yield* flipRead(badNpy, { ...OPTIONS, labels: ["a"] } as typeof OPTIONS)
      expect(n.message).toBe(`${badNpy}: not an .npy file (bad magic)`)
      expect(n.cause).toMatchObject({ _tag: "NpyError" })
      const missing = yield* flipRead(path.join(dir, "none.npz"))
      expect(missing.message).toMatch(/^ENOENT: no such file or directory/)
    }),
  )

  it.effect("names the file and what is wrong for each malformed input", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const write = (name: string, content: string | Uint8Array) => {
        const f = path.join(dir, name)
        fs.writeFileSync(f, content)
        return f
      }
      const cases: ReadonlyArray<readonly [string, string]> = [
        [write("e.txt", "x"), "unknown embeddings file type '.txt' (expected .npz, .npy or .json)"],
        [write("e.json", "{nope"), "not valid JSON: "],
        [write("f.json", JSON.stringify({ labels: "a" })), `expected {"labels": [...], "embeddings": [[...]]} or {"<label>": [numbers]}`],
        [write("g.json", JSON.stringify({ a: [1, 2], b: [3] })), `embedding 1 ("b") has 1 values, expected 2`],
        [write("h.json", JSON.stringify({ labels: [], embeddings: [] })), "no embeddings"],
        [write("i.npz", zipSync({ "labels.npy": npyFloats([[1]]), "text_features.npy": npyFloats([[1]]) })), ""],
        [write("j.npz", zipSync({ "labels.npy": npyStrings(["a", "b"]), "text_features.npy": npyFloats([[1, 2]]) })), "2 labels but 1 embedding rows"],
        [write("k.npz", zipSync({ "text_features.npy": npyFloats([[1, 2]]) })), "no array 'labels' (has text_features); set labels_key"],
        [write("l.npz", zipSync({ "labels.npy": npyStrings(["a"]), "text_features.npy": npyStrings(["b"]) })), ""],
      ]
      for (const [f, message] of cases) {
        const e = yield* flipRead(f)
        expect(e._tag).toBe("PrecomputedError")
        if (f.endsWith("i.npz")) expect(e.message).toBe(`${f}[labels]: expected strings, found dtype <f4`)
        else if (f.endsWith("l.npz")) expect(e.message).toBe(`${f}[text_features]: expected a 2-D numeric matrix, found string of shape (1), dtype <U1`)
        else if (message.endsWith(": ")) expect(e.message.startsWith(`${f}: ${message}`)).toBe(true)
        else expect(e.message).toBe(`${f}: ${message}`)
      }
      const rows = write("m.npy", npyFloats([[1], [2]]))
      expect((yield* flipRead(rows, { ...OPTIONS, labels: ["a"] } as typeof OPTIONS)).message).toBe(`${rows}: 2 rows but 1 labels were given`)
    }),
  )

  it.effect("selectLabels names every missing label", () =>
    Effect.gen(function* () {
      const m = { labels: ["a", "b"], dim: 1, matrix: new Float32Array([1, 2]) }
      expect(Array.from((yield* selectLabels(m, ["b"], "f")).matrix)).toEqual([2])
      const e = yield* Effect.flip(selectLabels(m, ["c", "a", "d"], "f"))
      expect(e._tag).toBe("PrecomputedError")
      expect(e.message).toBe(`f: no embedding for "c", "d" (file has "a", "b")`)
    }),
  )
})
