/**
 * The ONNX graphs of a net: a training pair (forward with saved activations; backward from dL/d(anchors) and
 * dL/d(similarity matrix) to every weight's gradient) and an inference graph (weights as inputs, or baked in for
 * export).
 */
import type { ElemType, GraphBuilder } from "./onnx/builder.ts"
import { gradName, paramsAsInputs, Tape, type ParamSource } from "./onnx/tape.ts"
import type { MaskSpec, Module, ParamSpec } from "./layers.ts"

export const INPUT = "x"
export const ANCHORS = "anchors"
export const SIMILARITY = "similarity"
export const D_ANCHORS = "dA"
export const D_SIMILARITY = "dS"
export const EMBEDDING = "embedding"

export interface TrainGraphs {
  readonly forward: Uint8Array
  readonly backward: Uint8Array
  readonly params: ReadonlyArray<ParamSpec>
  readonly masks: ReadonlyArray<MaskSpec>
  /** Forward outputs that the backward graph reads. */
  readonly saved: ReadonlyArray<string>
  /** Forward inputs that the backward graph reads as well. */
  readonly passedInputs: ReadonlyArray<string>
}

/**
 * Forward: x (B, in) -> anchors (B, out) and the anchors' cosine matrix A·Aᵀ (B, B), plus saved activations.
 * Backward: dA (B, out), dS (B, B) -> grads. The total anchor gradient is dA + (dS + dSᵀ)·A.
 */
export const buildTrainGraphs = (
  net: Module,
  inDim: number,
  elem: ElemType = "float32",
  options: { readonly inputGradient?: boolean } = {},
): TrainGraphs => {
  const t = new Tape(true, elem)
  const x = t.f.input(INPUT, ["B", inDim])
  const out = net.forward(t, x)
  t.f.output(out.y, ANCHORS)
  t.f.output(t.f.op("Gemm", [out.y, out.y], { transB: { int: 1 } }), SIMILARITY)
  const a = t.save(out.y)
  const dA = t.b.input(D_ANCHORS)
  const dS = t.b.input(D_SIMILARITY, ["B", "B"])
  const dSsym = t.b.op("Add", [dS, t.b.op("Transpose", [dS], { perm: { ints: [1, 0] } })])
  const total = t.b.op("Add", [dA, t.b.op("MatMul", [dSsym, a])])
  const dx = out.back(total, options.inputGradient === true)
  if (dx !== undefined) t.b.output(dx, gradName(INPUT))
  return { forward: t.f.toBytes(), backward: t.b.toBytes(), params: net.params, masks: net.masks, saved: t.saved, passedInputs: t.passedInputs }
}

/** Ops between the graph input x and the net (the export's baked-in input standardisation). */
export type InputTransform = (f: GraphBuilder, x: string) => string

/** x (B, in) -> embedding (B, out) without dropout. */
export const buildInferenceGraph = (
  net: Module,
  inDim: number,
  source: ParamSource = paramsAsInputs,
  elem: ElemType = "float32",
  transform: InputTransform = (_, x) => x,
): Uint8Array => {
  const t = new Tape(false, elem, source)
  const x = t.f.input(INPUT, ["B", inDim])
  const out = net.forward(t, transform(t.f, x))
  t.f.output(out.y, EMBEDDING)
  return t.f.toBytes()
}
