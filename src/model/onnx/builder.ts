/**
 * A small builder for ONNX graphs (opset 17), so the nets' forward and backward passes can be written in TypeScript
 * and executed by onnxruntime. Element type is a parameter: float32 for training, float64 for gradient checks.
 */
import type onnxProto from "onnx-proto"
import { lazy, lazyRequire } from "../../util/lazy.ts"

/** protobufjs and the ONNX schema load when the first graph is built, not at start-up. */
const proto = lazy(() => lazyRequire<typeof onnxProto>("onnx-proto")().onnx)

export type ElemType = "float32" | "float64"
export type Dim = number | string

export type Attr =
  | { readonly int: number }
  | { readonly float: number }
  | { readonly ints: ReadonlyArray<number> }

export const OPSET = 17

const elemCode = (e: ElemType): number => (e === "float32" ? proto().TensorProto.DataType.FLOAT : proto().TensorProto.DataType.DOUBLE)

const valueInfo = (name: string, elemType: number, dims?: ReadonlyArray<Dim>): onnxProto.onnx.IValueInfoProto => ({
  name,
  type: {
    tensorType: {
      elemType,
      ...(dims === undefined
        ? {}
        : { shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } }),
    },
  },
})

export class GraphBuilder {
  private readonly nodes: Array<onnxProto.onnx.INodeProto> = []
  private readonly inputs: Array<onnxProto.onnx.IValueInfoProto> = []
  private readonly outputs: Array<onnxProto.onnx.IValueInfoProto> = []
  private readonly initializers: Array<onnxProto.onnx.ITensorProto> = []
  private readonly inputNames = new Set<string>()
  private readonly outputNames = new Set<string>()
  private readonly constants = new Map<string, string>()
  /** The node that computes each tensor, by the tensor's name. */
  private readonly producers = new Map<string, onnxProto.onnx.INodeProto>()
  /** Tensors whose node now writes them under an output's name; their readers are pointed there by toBytes. */
  private readonly renamed = new Map<string, string>()
  private counter = 0

  constructor(
    readonly name: string,
    readonly elem: ElemType,
  ) {}

  /** A fresh tensor name with a readable prefix, unique across graphs of different names. */
  fresh(prefix: string): string {
    return `${this.name}.${prefix}_${this.counter++}`
  }

  /** Declares a graph input (idempotent: the same name declared twice is one input). */
  input(name: string, dims?: ReadonlyArray<Dim>): string {
    if (!this.inputNames.has(name)) {
      this.inputNames.add(name)
      this.inputs.push(valueInfo(name, elemCode(this.elem), dims))
    }
    return name
  }

  hasInput(name: string): boolean {
    return this.inputNames.has(name)
  }

  /**
   * Marks a tensor as a graph output, under `name`. When the names differ, the node computing the tensor writes it
   * under `name` instead: an Identity would make onnxruntime compute into a buffer of its own and then copy into the
   * caller's (58 MB of gradients a step for the reference net). An Identity remains only for a graph input, a tensor
   * already an output, or a second name of one tensor.
   */
  output(tensor: string, name: string = tensor, dims?: ReadonlyArray<Dim>): string {
    if (this.outputNames.has(name)) return name
    const current = this.renamed.get(tensor) ?? tensor
    if (current !== name) {
      const producer = this.producers.get(tensor)
      if (producer !== undefined && current === tensor && !this.outputNames.has(tensor) && !this.inputNames.has(name)) {
        producer.output = producer.output!.map((o) => (o === tensor ? name : o))
        this.renamed.set(tensor, name)
      } else {
        this.nodes.push({ opType: "Identity", input: [current], output: [name], name: this.fresh("id") })
      }
    }
    this.outputNames.add(name)
    this.outputs.push(valueInfo(name, elemCode(this.elem), dims))
    return name
  }

  /** A tensor baked into the graph. */
  initializer(name: string, dims: ReadonlyArray<number>, data: Float32Array | Float64Array): string {
    const typed = this.elem === "float32" ? Float32Array.from(data) : Float64Array.from(data)
    this.initializers.push({
      name,
      dims: [...dims],
      dataType: elemCode(this.elem),
      rawData: new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength),
    })
    return name
  }

  /** An int64 constant (axes, shapes), shared between uses. */
  ints(values: ReadonlyArray<number>): string {
    const key = `i:${values.join(",")}`
    const existing = this.constants.get(key)
    if (existing !== undefined) return existing
    const name = this.fresh("ints")
    const data = BigInt64Array.from(values.map((v) => BigInt(v)))
    this.initializers.push({
      name,
      dims: [values.length],
      dataType: proto().TensorProto.DataType.INT64,
      rawData: new Uint8Array(data.buffer),
    })
    this.constants.set(key, name)
    return name
  }

  /** A scalar constant of the graph's element type, shared between uses. */
  scalar(value: number): string {
    const key = `s:${value}`
    const existing = this.constants.get(key)
    if (existing !== undefined) return existing
    const name = this.fresh("scalar")
    this.initializer(name, [], this.elem === "float32" ? Float32Array.of(value) : Float64Array.of(value))
    this.constants.set(key, name)
    return name
  }

  /** Adds one node; returns its (first) output name. */
  op(opType: string, inputs: ReadonlyArray<string>, attrs: Readonly<Record<string, Attr>> = {}, outName?: string): string {
    const out = outName ?? this.fresh(opType.toLowerCase())
    const node: onnxProto.onnx.INodeProto = {
      opType,
      name: this.fresh(`n_${opType}`),
      input: [...inputs],
      output: [out],
      attribute: Object.entries(attrs).map(([name, a]) => toAttribute(name, a)),
    }
    this.nodes.push(node)
    this.producers.set(out, node)
    return out
  }

  toBytes(): Uint8Array {
    const model = proto().ModelProto.create({
      irVersion: 8,
      producerName: "mea",
      opsetImport: [{ domain: "", version: OPSET }],
      graph: {
        name: this.name,
        node: this.nodes.map((n) => ({ ...n, input: n.input!.map((i) => this.renamed.get(i) ?? i) })),
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
    })
    return proto().ModelProto.encode(model).finish()
  }
}

const toAttribute = (name: string, a: Attr): onnxProto.onnx.IAttributeProto => {
  const T = proto().AttributeProto.AttributeType
  if ("int" in a) return { name, type: T.INT, i: a.int }
  if ("float" in a) return { name, type: T.FLOAT, f: a.float }
  return { name, type: T.INTS, ints: [...a.ints] }
}
