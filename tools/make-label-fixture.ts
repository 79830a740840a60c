/**
 * Builds a tiny sentence-transformers-style model folder for the `onnx` label-embedding provider's tests: a BERT
 * WordPiece tokenizer.json over a 24-word vocabulary and a model.onnx with the usual contract (input_ids,
 * attention_mask, token_type_ids -> last_hidden_state [batch, seq, dim]); weights are seeded random numbers, so no
 * download and no Python.
 *
 *   npx tsx tools/make-label-fixture.ts        regenerates test/fixtures/labels/tiny-sentence/ (committed)
 *   npx tsx tools/make-label-fixture.ts DIR    writes the folder elsewhere
 *
 * The graph: h = tanh(E[input_ids] + T[token_type_ids]) x W, times the attention mask. `tinySentenceWeights` gives the
 * same numbers to tests, which recompute the expected embeddings by hand.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import onnxProto from "onnx-proto"

const { onnx } = onnxProto

export const VOCAB = [
  "[PAD]", "[UNK]", "[CLS]", "[SEP]", "music", "that", "feels", "happy", "sad", "calm", "##ness", "angry", ",", "aggressive",
  "joy", "##ful", "_", "activation", "tender", "##ly", "cafe", "!", "very", "##s",
] as const

export const HIDDEN = 8
export const DIM = 6

export interface TinySentenceWeights {
  /** VOCAB.length x HIDDEN token embeddings. */
  readonly E: Float32Array
  /** 2 x HIDDEN token-type embeddings. */
  readonly T: Float32Array
  /** HIDDEN x DIM projection. */
  readonly W: Float32Array
}

export const tinySentenceWeights = (seed = 5): TinySentenceWeights => {
  let state = seed >>> 0 || 1
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return (state + 0.5) / 2 ** 32 - 0.5
  }
  const fill = (n: number) => Float32Array.from({ length: n }, () => uniform() * 2)
  return { E: fill(VOCAB.length * HIDDEN), T: fill(2 * HIDDEN), W: fill(HIDDEN * DIM) }
}

export const tokenizerJson = (): unknown => ({
  version: "1.0",
  truncation: { direction: "Right", max_length: 16, strategy: "LongestFirst", stride: 0 },
  padding: null,
  added_tokens: [],
  normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  pre_tokenizer: { type: "BertPreTokenizer" },
  post_processor: {
    type: "TemplateProcessing",
    single: [
      { SpecialToken: { id: "[CLS]", type_id: 0 } },
      { Sequence: { id: "A", type_id: 0 } },
      { SpecialToken: { id: "[SEP]", type_id: 0 } },
    ],
    pair: [],
    special_tokens: {
      "[CLS]": { id: "[CLS]", ids: [2], tokens: ["[CLS]"] },
      "[SEP]": { id: "[SEP]", ids: [3], tokens: ["[SEP]"] },
    },
  },
  decoder: { type: "WordPiece", prefix: "##", cleanup: true },
  model: {
    type: "WordPiece",
    unk_token: "[UNK]",
    continuing_subword_prefix: "##",
    max_input_chars_per_word: 100,
    vocab: Object.fromEntries(VOCAB.map((w, i) => [w, i])),
  },
})

const tensor = (name: string, dims: ReadonlyArray<number>, data: Float32Array) =>
  onnx.TensorProto.create({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer.slice(0)) })

const valueInfo = (name: string, elemType: number, dims: ReadonlyArray<number | string>) =>
  onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) => (typeof d === "number" ? onnx.TensorShapeProto.Dimension.create({ dimValue: d }) : onnx.TensorShapeProto.Dimension.create({ dimParam: d }))),
        }),
      }),
    }),
  })

export const buildTinySentenceModel = (w: TinySentenceWeights = tinySentenceWeights()): Uint8Array => {
  const node = (opType: string, input: ReadonlyArray<string>, output: string, attribute: ReadonlyArray<InstanceType<typeof onnx.AttributeProto>> = []) =>
    onnx.NodeProto.create({ opType, input: [...input], output: [output], name: output, attribute: [...attribute] })
  const INT64 = onnx.TensorProto.DataType.INT64
  const FLOAT = onnx.TensorProto.DataType.FLOAT
  const nodes = [
    node("Gather", ["E", "input_ids"], "tok", [onnx.AttributeProto.create({ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 })]),
    node("Gather", ["T", "token_type_ids"], "typ", [onnx.AttributeProto.create({ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 })]),
    node("Add", ["tok", "typ"], "sum"),
    node("Tanh", ["sum"], "act"),
    node("MatMul", ["act", "W"], "proj"),
    node("Cast", ["attention_mask"], "maskf", [onnx.AttributeProto.create({ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: FLOAT })]),
    node("Unsqueeze", ["maskf", "axes"], "mask3"),
    node("Mul", ["proj", "mask3"], "last_hidden_state"),
  ]
  const axes = onnx.TensorProto.create({ name: "axes", dims: [1], dataType: INT64, rawData: new Uint8Array(new BigInt64Array([-1n]).buffer) })
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "mea tools/make-label-fixture.ts",
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: 17 })],
    graph: onnx.GraphProto.create({
      name: "tiny-sentence",
      node: nodes,
      initializer: [tensor("E", [VOCAB.length, HIDDEN], w.E), tensor("T", [2, HIDDEN], w.T), tensor("W", [HIDDEN, DIM], w.W), axes],
      input: [
        valueInfo("input_ids", INT64, ["batch", "sequence"]),
        valueInfo("attention_mask", INT64, ["batch", "sequence"]),
        valueInfo("token_type_ids", INT64, ["batch", "sequence"]),
      ],
      output: [valueInfo("last_hidden_state", FLOAT, ["batch", "sequence", DIM])],
    }),
  })
  return onnx.ModelProto.encode(model).finish()
}

export const TINY_SENTENCE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../test/fixtures/labels/tiny-sentence")

export const writeTinySentenceFolder = (dir: string): void => {
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson(), null, 1) + "\n")
  fs.writeFileSync(path.join(dir, "model.onnx"), buildTinySentenceModel())
  fs.writeFileSync(path.join(dir, "sentence_bert_config.json"), JSON.stringify({ max_seq_length: 12, do_lower_case: false }) + "\n")
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? TINY_SENTENCE_DIR
  writeTinySentenceFolder(out)
  console.log(`wrote ${out}`)
}
