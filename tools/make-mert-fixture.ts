/**
 * Builds a random-weight ONNX model with MERT's architecture and I/O contract, in TypeScript (onnx-proto), so tests and
 * bench/mert need neither Python nor downloaded weights.
 *
 * Architecture (HuBERT-style, as MERT-v1): a 7-layer conv feature encoder (kernels 10,3,3,3,3,2,2, strides
 * 5,2,2,2,2,2,2: 320 samples per frame, 75 frames/s at 24 kHz; first layer with per-channel GroupNorm, GELU), LayerNorm +
 * linear projection, a grouped positional convolution (kernel 128, 16 groups), LayerNorm, then post-norm transformer
 * layers. Output `hidden_states` [batch, layers + 1, frames, hidden]: the embedding output and every layer's output.
 *
 *   npx tsx tools/make-mert-fixture.ts            regenerates test/fixtures/mert/tiny-mert.onnx (committed)
 *   npx tsx tools/make-mert-fixture.ts OUT.onnx   writes the tiny model elsewhere
 *
 * `buildMertModel` is also used by tests (layout variants) and by bench/mert.ts (the full-size MERT-v1-95M).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import onnxProto from "onnx-proto"

const { onnx } = onnxProto

export interface MertConfig {
  readonly convDim: number
  readonly hidden: number
  readonly layers: number
  readonly heads: number
  readonly ffn: number
  readonly posConvKernel: number
  readonly posConvGroups: number
  readonly seed: number
  /**
   * How hidden states leave the graph: "stacked" = one `hidden_states` [B, L, T, D]; "list" = `hidden_states.0` ..
   * `hidden_states.{L-1}`, each [B, T, D] (what a tuple output of torch.onnx.export / optimum gives). Both add
   * `last_hidden_state`.
   */
  readonly layout: "stacked" | "list"
  readonly inputName: string
}

export const CONV_KERNELS = [10, 3, 3, 3, 3, 2, 2] as const
export const CONV_STRIDES = [5, 2, 2, 2, 2, 2, 2] as const

/** MERT-v1-95M's sizes. */
export const MERT_95M: MertConfig = {
  convDim: 512,
  hidden: 768,
  layers: 12,
  heads: 12,
  ffn: 3072,
  posConvKernel: 128,
  posConvGroups: 16,
  seed: 95,
  layout: "stacked",
  inputName: "input_values",
}

/** The committed test fixture: MERT's structure and contract, tiny widths (about 200 KB). */
export const TINY_MERT: MertConfig = {
  convDim: 32,
  hidden: 32,
  layers: 4,
  heads: 4,
  ffn: 64,
  posConvKernel: 128,
  posConvGroups: 16,
  seed: 1,
  layout: "stacked",
  inputName: "input_values",
}

/** Frames the conv encoder produces for `samples` input samples. */
export const mertFrames = (samples: number): number =>
  CONV_KERNELS.reduce((n, k, i) => Math.floor((n - k) / CONV_STRIDES[i]) + 1, samples)

type Attr = number | ReadonlyArray<number> | string

class GraphBuilder {
  readonly nodes: Array<InstanceType<typeof onnx.NodeProto>> = []
  readonly initializers: Array<InstanceType<typeof onnx.TensorProto>> = []
  private counter = 0
  private state: number

  constructor(seed: number) {
    this.state = seed >>> 0 || 1
  }

  /** Deterministic N(0, std) by Box-Muller over a 32-bit LCG: the same seed always gives the same model bytes. */
  weight(name: string, dims: ReadonlyArray<number>, std: number): string {
    const n = dims.reduce((a, b) => a * b, 1)
    const data = new Float32Array(n)
    let state = this.state
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      const u1 = (state + 0.5) / 2 ** 32
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      const u2 = (state + 0.5) / 2 ** 32
      data[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2) * std
    }
    this.state = state
    return this.tensor(name, dims, data)
  }

  constant(name: string, dims: ReadonlyArray<number>, value: number): string {
    return this.tensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value))
  }

  tensor(name: string, dims: ReadonlyArray<number>, data: Float32Array): string {
    this.initializers.push(
      onnx.TensorProto.create({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer) }),
    )
    return name
  }

  ints(name: string, values: ReadonlyArray<number>): string {
    const data = new BigInt64Array(values.map((v) => BigInt(v)))
    this.initializers.push(
      onnx.TensorProto.create({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(data.buffer) }),
    )
    return name
  }

  op(type: string, inputs: ReadonlyArray<string>, attrs: Readonly<Record<string, Attr>> = {}, output?: string): string {
    const out = output ?? `${type.toLowerCase()}_${this.counter++}`
    const attribute = Object.entries(attrs).map(([name, v]) =>
      typeof v === "string"
        ? onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) })
        : typeof v === "number"
          ? Number.isInteger(v) && name !== "epsilon" && name !== "alpha"
            ? onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: v })
            : onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v })
          : onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...v] }),
    )
    this.nodes.push(onnx.NodeProto.create({ opType: type, input: [...inputs], output: [out], name: `${type}_${this.nodes.length}`, attribute }))
    return out
  }

  /** GELU as torch exports it (erf form); onnxruntime fuses the pattern into one Gelu kernel. */
  gelu(x: string): string {
    const sqrt2 = this.scalar(Math.SQRT2)
    const one = this.scalar(1)
    const half = this.scalar(0.5)
    return this.op("Mul", [this.op("Mul", [x, this.op("Add", [this.op("Erf", [this.op("Div", [x, sqrt2])]), one])]), half])
  }

  private scalars = new Map<number, string>()
  scalar(v: number): string {
    const known = this.scalars.get(v)
    if (known !== undefined) return known
    const name = this.tensor(`const_${this.scalars.size}`, [], Float32Array.of(v))
    this.scalars.set(v, name)
    return name
  }

  layerNorm(x: string, prefix: string, dim: number): string {
    return this.op("LayerNormalization", [x, this.constant(`${prefix}.weight`, [dim], 1), this.constant(`${prefix}.bias`, [dim], 0)], {
      axis: -1,
      epsilon: 1e-5,
    })
  }

  linear(x: string, prefix: string, inDim: number, outDim: number): string {
    const w = this.weight(`${prefix}.weight`, [inDim, outDim], 1 / Math.sqrt(inDim))
    const b = this.weight(`${prefix}.bias`, [outDim], 0.02)
    return this.op("Add", [this.op("MatMul", [x, w]), b])
  }
}

const valueInfo = (name: string, dims: ReadonlyArray<number | string>) =>
  onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) => (typeof d === "number" ? onnx.TensorShapeProto.Dimension.create({ dimValue: d }) : onnx.TensorShapeProto.Dimension.create({ dimParam: d }))),
        }),
      }),
    }),
  })

/** The serialised ONNX model (opset 17). */
export const buildMertModel = (config: MertConfig): Uint8Array => {
  const g = new GraphBuilder(config.seed)
  const { convDim: C, hidden: H, heads, ffn: F } = config
  const hd = H / heads
  if (!Number.isInteger(hd)) throw new Error(`hidden ${H} is not divisible by heads ${heads}`)

  // Feature encoder: [B, S] -> [B, C, T]
  let x = g.op("Unsqueeze", [config.inputName, g.ints("axes_1", [1])])
  CONV_KERNELS.forEach((k, i) => {
    const inC = i === 0 ? 1 : C
    x = g.op("Conv", [x, g.weight(`feature_extractor.conv_layers.${i}.conv.weight`, [C, inC, k], 1 / Math.sqrt(inC * k))], {
      kernel_shape: [k],
      strides: [CONV_STRIDES[i]],
    })
    if (i === 0) {
      // GroupNorm with one group per channel = InstanceNormalization.
      x = g.op("InstanceNormalization", [x, g.constant("feature_extractor.conv_layers.0.layer_norm.weight", [C], 1), g.constant("feature_extractor.conv_layers.0.layer_norm.bias", [C], 0)], {
        epsilon: 1e-5,
      })
    }
    x = g.gelu(x)
  })
  x = g.op("Transpose", [x], { perm: [0, 2, 1] })
  x = g.layerNorm(x, "feature_projection.layer_norm", C)
  x = g.linear(x, "feature_projection.projection", C, H)

  // Positional convolution (weight norm folded into the weight), "same" padding with the extra last frame removed.
  const k = config.posConvKernel
  let pos = g.op("Transpose", [x], { perm: [0, 2, 1] })
  pos = g.op(
    "Conv",
    [pos, g.weight("encoder.pos_conv_embed.conv.weight", [H, H / config.posConvGroups, k], 1 / Math.sqrt((H / config.posConvGroups) * k)), g.weight("encoder.pos_conv_embed.conv.bias", [H], 0.02)],
    { kernel_shape: [k], pads: [k / 2, k / 2], group: config.posConvGroups },
  )
  if (k % 2 === 0) pos = g.op("Slice", [pos, g.ints("slice_start", [0]), g.ints("slice_end", [-1]), g.ints("slice_axes", [2])])
  pos = g.gelu(pos)
  x = g.op("Add", [x, g.op("Transpose", [pos], { perm: [0, 2, 1] })])
  x = g.layerNorm(x, "encoder.layer_norm", H)

  const hidden: Array<string> = [x]
  const headShape = g.ints("head_shape", [0, 0, heads, hd])
  const mergeShape = g.ints("merge_shape", [0, 0, H])
  const scale = g.scalar(1 / Math.sqrt(hd))
  for (let l = 0; l < config.layers; l++) {
    const p = `encoder.layers.${l}`
    const split = (t: string, perm: ReadonlyArray<number>) => g.op("Transpose", [g.op("Reshape", [t, headShape])], { perm })
    const q = split(g.op("Mul", [g.linear(x, `${p}.attention.q_proj`, H, H), scale]), [0, 2, 1, 3])
    const kT = split(g.linear(x, `${p}.attention.k_proj`, H, H), [0, 2, 3, 1])
    const v = split(g.linear(x, `${p}.attention.v_proj`, H, H), [0, 2, 1, 3])
    const probs = g.op("Softmax", [g.op("MatMul", [q, kT])], { axis: -1 })
    const context = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], { perm: [0, 2, 1, 3] }), mergeShape])
    x = g.layerNorm(g.op("Add", [x, g.linear(context, `${p}.attention.out_proj`, H, H)]), `${p}.layer_norm`, H)
    const ff = g.linear(g.gelu(g.linear(x, `${p}.feed_forward.intermediate_dense`, H, F)), `${p}.feed_forward.output_dense`, F, H)
    x = g.layerNorm(g.op("Add", [x, ff]), `${p}.final_layer_norm`, H)
    hidden.push(x)
  }

  const outputs = [valueInfo("last_hidden_state", ["batch", "frames", H])]
  g.op("Identity", [x], {}, "last_hidden_state")
  if (config.layout === "stacked") {
    const axes = g.ints("axes_stack", [1])
    g.op("Concat", hidden.map((h) => g.op("Unsqueeze", [h, axes])), { axis: 1 }, "hidden_states")
    outputs.push(valueInfo("hidden_states", ["batch", hidden.length, "frames", H]))
  } else {
    hidden.forEach((h, i) => {
      g.op("Identity", [h], {}, `hidden_states.${i}`)
      outputs.push(valueInfo(`hidden_states.${i}`, ["batch", "frames", H]))
    })
  }

  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "mea tools/make-mert-fixture.ts",
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: 17 })],
    graph: onnx.GraphProto.create({
      name: "mert",
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(config.inputName, ["batch", "samples"])],
      output: outputs,
    }),
  })
  return onnx.ModelProto.encode(model).finish()
}

export const TINY_FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../test/fixtures/mert/tiny-mert.onnx")

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? TINY_FIXTURE
  fs.mkdirSync(path.dirname(out), { recursive: true })
  const bytes = buildMertModel(TINY_MERT)
  fs.writeFileSync(out, bytes)
  console.log(`wrote ${out} (${bytes.length} bytes)`)
}
