/**
 * A tape over two ONNX graphs: layers emit their forward ops into `f` and, in training mode, their backward ops into
 * `b`. Tensors the backward pass needs are "saved": outputs of the forward graph fed back as inputs of the backward
 * graph, so nothing is recomputed. Weights and dropout masks are inputs of both graphs; gradients are outputs of `b`.
 */
import { GraphBuilder, type ElemType } from "./builder.ts"

export const maskName = (m: string): string => `m:${m}`
export const gradName = (p: string): string => `g:${p}`

/** Where the forward graph gets a weight from: a graph input (training) or a baked-in tensor (export). */
export type ParamSource = (f: GraphBuilder, name: string, shape: ReadonlyArray<number>) => string

export const paramsAsInputs: ParamSource = (f, name, shape) => f.input(name, shape)

export class Tape {
  readonly f: GraphBuilder
  readonly b: GraphBuilder
  /** Forward tensors that the backward graph reads (forward outputs under their own names, no copy). */
  readonly saved: Array<string> = []
  /** Forward graph inputs that the backward graph reads too (the caller feeds them to both). */
  readonly passedInputs: Array<string> = []

  constructor(
    readonly train: boolean,
    elem: ElemType,
    private readonly source: ParamSource = paramsAsInputs,
  ) {
    this.f = new GraphBuilder("forward", elem)
    this.b = new GraphBuilder("backward", elem)
  }

  param(name: string, shape: ReadonlyArray<number>): string {
    return this.source(this.f, name, shape)
  }

  paramB(name: string, shape: ReadonlyArray<number>): string {
    return this.b.input(name, shape)
  }

  /** Makes a forward tensor available to the backward graph; returns its name there (the same name). */
  save(t: string): string {
    if (!this.b.hasInput(t)) {
      this.b.input(t)
      if (this.f.hasInput(t)) {
        this.passedInputs.push(t)
      } else {
        this.f.output(t)
        this.saved.push(t)
      }
    }
    return t
  }

  /** A dropout mask (0 or 1/(1-p) per element), an input of both graphs. */
  mask(name: string, width: number): { readonly f: string; readonly b: string } {
    const n = maskName(name)
    return { f: this.f.input(n, ["B", width]), b: this.b.input(n, ["B", width]) }
  }

  grad(param: string, t: string): void {
    this.b.output(t, gradName(param))
  }
}
