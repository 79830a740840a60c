import { Effect } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import onnxProto from "onnx-proto"
import { describe, expect, it } from "vitest"
import { normalizeInto, resolveMertContract, runMertBatch, type MertContract } from "../../src/features/mert-onnx.ts"
import { OnnxRuntime, OnnxRuntimeLive, type OnnxSession } from "../../src/onnx/runtime.ts"
import { buildMertModel, mertFrames, TINY_FIXTURE, TINY_MERT } from "../../tools/make-mert-fixture.ts"
import { tempDir } from "../support/stage-harness.ts"
import { lcg } from "./support.ts"

const { onnx } = onnxProto
const require = createRequire(import.meta.url)
const dir = tempDir("mea-onnx-")
const write = (name: string, bytes: Uint8Array): string => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, bytes)
  return file
}

const withSession = <A>(file: string, f: (s: OnnxSession) => Effect.Effect<A, unknown>): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const session = yield* (yield* OnnxRuntime).session(file, { threads: 1 })
      return yield* f(session)
    }).pipe(Effect.scoped, Effect.provide(OnnxRuntimeLive)),
  )
const contractOf = (file: string): Promise<MertContract> => withSession(file, resolveMertContract)
const contractError = (file: string): Promise<string> =>
  withSession(file, (s) => Effect.flip(resolveMertContract(s))).then((e) => e.message)

/** A one-node graph `input -> Identity -> output` with the given names and ranks, to probe the contract checks. */
const identityModel = (input: string, output: string, rank: number): Uint8Array => {
  const info = (name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: onnx.TensorShapeProto.create({ dim: Array.from({ length: rank }, (_, i) => onnx.TensorShapeProto.Dimension.create({ dimParam: `d${i}` })) }),
        }),
      }),
    })
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [onnx.OperatorSetIdProto.create({ version: 17 })],
      graph: onnx.GraphProto.create({ name: "g", node: [onnx.NodeProto.create({ opType: "Identity", input: [input], output: [output] })], input: [info(input)], output: [info(output)] }),
    }),
  ).finish()
}

const rand = lcg(11)
const segments = [0, 1, 2].map(() => Float32Array.from({ length: 24000 * 2 }, () => rand() - 0.5))

describe("the MERT ONNX contract", () => {
  it("the committed fixture is what the generator builds (regenerate with tools/make-mert-fixture.ts)", () => {
    expect(Buffer.from(buildMertModel(TINY_MERT)).equals(fs.readFileSync(TINY_FIXTURE))).toBe(true)
    expect(fs.statSync(TINY_FIXTURE).size).toBeLessThan(400_000)
  })

  it("reads the stacked layout: hidden_states [batch, layers, frames, dim]", async () => {
    const c = await contractOf(TINY_FIXTURE)
    expect(c).toMatchObject({ layout: "stacked", fetches: ["hidden_states"], layers: 5, dim: 32, hasMask: false })
  })

  it("reads the list layout (hidden_states.0 .. .N) and gives the same features as the stacked one", async () => {
    const list = write("list.onnx", buildMertModel({ ...TINY_MERT, layout: "list" }))
    const c = await contractOf(list)
    expect(c).toMatchObject({ layout: "list", layers: 5, dim: 32 })
    expect(c.fetches).toEqual(["hidden_states.0", "hidden_states.1", "hidden_states.2", "hidden_states.3", "hidden_states.4"])
    for (const pooling of ["first", "mean"] as const) {
      const a = await withSession(list, (s) => Effect.flatMap(resolveMertContract(s), (k) => runMertBatch(s, k, segments, pooling)))
      const b = await withSession(TINY_FIXTURE, (s) => Effect.flatMap(resolveMertContract(s), (k) => runMertBatch(s, k, segments, pooling)))
      expect(a.frames).toBe(mertFrames(48000))
      expect([a.layers, a.dim]).toEqual([5, 32])
      expect(a.data).toEqual(b.data)
    }
  })

  it("batched inference equals one segment at a time, and first-step pooling equals slicing the full output", async () => {
    const batched = await withSession(TINY_FIXTURE, (s) => Effect.flatMap(resolveMertContract(s), (k) => runMertBatch(s, k, segments, "first")))
    for (let i = 0; i < segments.length; i++) {
      const single = await withSession(TINY_FIXTURE, (s) => Effect.flatMap(resolveMertContract(s), (k) => runMertBatch(s, k, [segments[i]], "first")))
      const row = batched.data.subarray(i * 160, (i + 1) * 160)
      single.data.forEach((v, j) => expect(row[j]).toBeCloseTo(v, 4))
    }
  })

  it("75 frames per second at 24 kHz, as MERT", () => {
    expect(mertFrames(240000)).toBe(749)
    expect(mertFrames(24000 * 60)).toBe(4499)
  })

  it("names what was expected and what was found on a wrong input name", async () => {
    const file = write("renamed.onnx", buildMertModel({ ...TINY_MERT, inputName: "audio" }))
    const msg = await contractError(file)
    expect(msg).toContain(`${file} does not follow the MERT contract: no input named "input_values"`)
    expect(msg).toContain("audio: float32[batch, samples]")
  })

  it("rejects a hidden_states output of the wrong rank", async () => {
    const msg = await contractError(write("rank.onnx", identityModel("input_values", "hidden_states", 2)))
    expect(msg).toContain(`output "hidden_states" has rank 2 ([d0, d1]), expected 4 ([batch, layers, frames, dim])`)
  })

  it("rejects a model with only last_hidden_state", async () => {
    const msg = await contractError(write("last.onnx", identityModel("input_values", "last_hidden_state", 2)))
    expect(msg).toContain("no hidden-state output")
    expect(msg).toContain("last_hidden_state: float32[d0, d1]")
  })

  it("rejects an input of the wrong rank", async () => {
    const msg = await contractError(write("inrank.onnx", identityModel("input_values", "hidden_states", 3)))
    expect(msg).toContain(`input "input_values" has rank 3`)
  })
})

describe("Wav2Vec2 normalisation", () => {
  it("is (x - mean) / sqrt(var + 1e-7) with the population variance", () => {
    const x = Float32Array.of(1, 2, 3, 4)
    const out = new Float32Array(4)
    normalizeInto(x, out)
    const s = Math.sqrt(1.25 + 1e-7)
    expect([...out]).toEqual([-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s].map(Math.fround))
  })
  it("maps silence to zeros, not NaN", () => {
    const out = new Float32Array(5).fill(9)
    normalizeInto(new Float32Array(5), out)
    expect([...out]).toEqual([0, 0, 0, 0, 0])
  })
  it("makes the output independent of the input's gain and offset", () => {
    const a = new Float32Array(segments[0].length)
    const b = new Float32Array(segments[0].length)
    normalizeInto(segments[0], a)
    normalizeInto(segments[0].map((v) => 0.1 * v + 0.2), b)
    const worst = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0)
    expect(worst).toBeLessThan(1e-3)
  })
})

describe("the onnxruntime service", () => {
  it("describes a model's inputs and outputs with symbolic and fixed dimensions", async () => {
    const io = await withSession(TINY_FIXTURE, (s) => Effect.succeed({ inputs: s.inputs, outputs: s.outputs }))
    expect(io.inputs).toEqual([{ name: "input_values", type: "float32", shape: ["batch", "samples"] }])
    expect(io.outputs).toContainEqual({ name: "hidden_states", type: "float32", shape: ["batch", 5, "frames", 32] })
  })

  const cudaLibrary = path.join(path.dirname(require.resolve("onnxruntime-node")), "..", "bin", "napi-v6", process.platform, process.arch, "libonnxruntime_providers_shared.so")
  it.skipIf(fs.existsSync(cudaLibrary))("asking for CUDA without onnxruntime's CUDA binaries fails with how to install them", async () => {
    const msg = await Effect.runPromise(
      Effect.flip((Effect.flatMap(OnnxRuntime, (ort) => ort.session(TINY_FIXTURE, { executionProviders: ["cuda"] }))).pipe(Effect.scoped, Effect.provide(OnnxRuntimeLive))),
    ).then((e) => e.message)
    expect(msg).toContain(`cannot load ONNX model ${TINY_FIXTURE}`)
    expect(msg).toContain("--onnxruntime-node-install=cuda12")
  })
})
