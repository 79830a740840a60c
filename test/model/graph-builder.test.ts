/**
 * GraphBuilder's outputs: a tensor computed by a node is written under the output's name by that node (no Identity,
 * which would make onnxruntime copy into the caller's buffer); a graph input, or a second name for one tensor, still
 * gets an Identity. Checked on the graph bytes and by running them.
 */
import { createRequire } from "node:module"
import type * as OnnxProto from "onnx-proto"
import { describe, expect, it } from "vitest"
import { onnxRuntime } from "../../src/model/forward-backward.ts"
import { GraphBuilder } from "../../src/model/onnx/builder.ts"
import { buildTrainGraphs } from "../../src/model/graphs.ts"
import { buildNet, referenceConfig } from "../../src/model/nets.ts"

const proto = (createRequire(import.meta.url)("onnx-proto") as typeof OnnxProto).onnx
const opTypes = (bytes: Uint8Array): Array<string> => proto.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType!)

describe("GraphBuilder outputs", () => {
  it("renames the producing node's output, points its readers there, and keeps Identity where a copy is needed", async () => {
    const g = new GraphBuilder("t", "float32")
    const x = g.input("x", [2])
    const doubled = g.op("Add", [x, x])
    const squared = g.op("Mul", [doubled, doubled])
    g.output(doubled, "twice")
    g.output(doubled, "twice again")
    g.output(g.op("Add", [squared, doubled]), "sum")
    g.output(x, "echo")
    const bytes = g.toBytes()
    expect(opTypes(bytes)).toEqual(["Add", "Mul", "Identity", "Add", "Identity"])
    const ort = onnxRuntime()
    const s = await ort.InferenceSession.create(bytes)
    const out = await s.run({ x: new ort.Tensor("float32", Float32Array.of(1, 3), [2]) })
    await s.release()
    expect([...(out["twice"].data as Float32Array)]).toEqual([2, 6])
    expect([...(out["twice again"].data as Float32Array)]).toEqual([2, 6])
    expect([...(out["sum"].data as Float32Array)]).toEqual([6, 42])
    expect([...(out["echo"].data as Float32Array)]).toEqual([1, 3])
  })

  it("the reference net's backward graph writes every gradient from its own node: no Identity", () => {
    const graphs = buildTrainGraphs(buildNet(referenceConfig("attention", 64, 16)), 64, "float32", {})
    expect(opTypes(graphs.backward)).not.toContain("Identity")
  })
})
