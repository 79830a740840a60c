import * as fs from "node:fs"
import * as path from "node:path"
import { Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import { WordPieceTokenizer } from "../../src/labels/tokenizer.ts"
import { readNpy } from "../../src/io/npy.ts"
import { LabelEmbedStage } from "../../src/stages/label-embed.ts"
import { type LabelEmbeddings } from "../../src/artifacts/label-embeddings.ts"
import { DIM, HIDDEN, TINY_SENTENCE_DIR, tinySentenceWeights, tokenizerJson } from "../../tools/make-label-fixture.ts"
import { runStagePromise, tempDir } from "../support/stage-harness.ts"

const tokenizer = Either.getOrThrow(WordPieceTokenizer.fromJson(fs.readFileSync(path.join(TINY_SENTENCE_DIR, "tokenizer.json"), "utf8"), 12, "tokenizer.json"))

describe("WordPiece tokenizer", () => {
  it("lowercases, splits punctuation, matches the longest pieces, wraps in [CLS] [SEP]", () => {
    expect(tokenizer.encode("Angry, aggressive").ids).toEqual([2, 11, 12, 13, 3])
    expect(tokenizer.encode("joyful_activation").ids).toEqual([2, 14, 15, 16, 17, 3])
    expect(tokenizer.encode("calmness").ids).toEqual([2, 9, 10, 3])
    expect(tokenizer.encode("  Café!\t").ids).toEqual([2, 20, 21, 3])
    expect(tokenizer.encode("xyz tenderly").ids).toEqual([2, 1, 18, 19, 3])
  })
  it("truncates to max_seq_length, keeping [SEP]", () => {
    const ids = tokenizer.encode("very ".repeat(30)).ids
    expect(ids).toHaveLength(12)
    expect(ids[0]).toBe(2)
    expect(ids[11]).toBe(3)
  })
  it("refuses tokenizers it does not implement, naming the field", () => {
    const spec = tokenizerJson() as { model: Record<string, unknown> }
    const bpe = JSON.stringify({ ...spec, model: { ...spec.model, type: "BPE" } })
    const message = (text: string) => Option.getOrThrow(Either.getLeft(WordPieceTokenizer.fromJson(text, undefined, "x/tokenizer.json"))).message
    expect(message(bpe)).toMatch(/x\/tokenizer.json: unsupported tokenizer.*model/s)
    expect(message("{")).toMatch(/^x\/tokenizer.json: not valid JSON/)
    expect(message(JSON.stringify({ ...spec, model: { ...spec.model, unk_token: "[NOPE]" } }))).toBe("x/tokenizer.json: unk_token [NOPE] is not in the vocabulary")
  })
})

/** The fixture model's output by hand: mean over tokens of tanh(E[id] + T[0]) W. */
const expected = (text: string): Float64Array => {
  const { E, T, W } = tinySentenceWeights()
  const ids = tokenizer.encode(text).ids
  const out = new Float64Array(DIM)
  for (const id of ids) {
    const h = Array.from({ length: HIDDEN }, (_, k) => Math.tanh(Math.fround(E[id * HIDDEN + k] + T[k])))
    for (let d = 0; d < DIM; d++) out[d] += h.reduce((s, x, k) => s + x * W[k * DIM + d], 0) / ids.length
  }
  return out
}
const unit = (v: ArrayLike<number>) => {
  const n = Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0))
  return Array.from(v, (x) => x / n)
}

const model = { path: TINY_SENTENCE_DIR, hash: "test", files: ["model.onnx", "sentence_bert_config.json", "tokenizer.json"] }
const embed = async (params: Record<string, unknown>) => {
  const r = await runStagePromise(LabelEmbedStage, { params: { provider: "onnx", ...params }, inputs: { model } })
  const v = r.value as LabelEmbeddings
  const m = Either.getOrThrow(readNpy(path.join(r.outDir, v.file))).data as Float32Array
  return { v, rows: v.labels.map((_, i) => Array.from(m.subarray(i * v.dim, (i + 1) * v.dim))) }
}

describe("onnx provider", () => {
  const labels = ["angry, aggressive", "calmness", "sad"]
  it("mean-pools over the attention mask and L2-normalises, as sentence-transformers", async () => {
    const { v, rows } = await embed({ labels, batch_size: 8 })
    expect(v.dim).toBe(DIM)
    expect(v.normalised).toBe(true)
    rows.forEach((row, i) => {
      const want = unit(expected(labels[i]))
      row.forEach((x, d) => expect(x).toBeCloseTo(want[d], 5))
    })
  })
  it("padding in a batch does not change an embedding", async () => {
    const one = await embed({ labels, batch_size: 1 })
    const all = await embed({ labels, batch_size: 3 })
    one.rows.forEach((row, i) => row.forEach((x, d) => expect(x).toBeCloseTo(all.rows[i][d], 6)))
  })
  it("template and augmentation: mean of the expansions' pooled vectors, then normalised", async () => {
    const { rows, v } = await embed({ labels: ["calm"], template: "music that feels {label}", augmentation: { calm: ["calm", "calmness"] } })
    expect(v.texts).toEqual([["music that feels calm", "music that feels calmness"]])
    const a = expected("music that feels calm")
    const b = expected("music that feels calmness")
    const want = unit(a.map((x, d) => (x + b[d]) / 2))
    rows[0].forEach((x, d) => expect(x).toBeCloseTo(want[d], 5))
  })
  it("names what is missing in the model folder", async () => {
    const empty = tempDir()
    await expect(
      runStagePromise(LabelEmbedStage, { params: { provider: "onnx", labels }, inputs: { model: { path: empty, hash: "x", files: [] } } }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/no tokenizer.json/) })
    await expect(runStagePromise(LabelEmbedStage, { params: { provider: "onnx", labels } })).rejects.toMatchObject({
      message: expect.stringMatching(/needs the `model` input/),
    })
  })
})
