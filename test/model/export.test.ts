import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as ort from "onnxruntime-node"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { loadStandardiser, loadWeights, ModelCodec, readModelTensors, saveWeights, WEIGHTS_FILE, type Model } from "../../src/artifacts/model.ts"
import { NetEngine } from "../../src/model/forward-backward.ts"
import { exportOnnx } from "../../src/model/export.ts"
import { buildNet, initWeights, type NetConfig } from "../../src/model/nets.ts"
import { Rng } from "../../src/model/rng.ts"
import { memoryRows } from "../../src/model/rows.ts"
import { readSafetensors } from "../../src/model/safetensors.ts"
import { STD_FLOOR, standardisedRows, type Standardiser } from "../../src/model/standardise.ts"
import { artifactOf, tempDir } from "../support/stage-harness.ts"

/** Statistics on very different scales per column, one column at the floor (a constant column in training). */
const statistics = (inDim: number): Standardiser => ({
  mean: Float32Array.from({ length: inDim }, (_, j) => (j % 3 === 0 ? 1000 : -3) + j),
  std: Float32Array.from({ length: inDim }, (_, j) => (j === 1 ? STD_FLOOR : j % 3 === 0 ? 250 : 0.01 * (j + 1))),
})

/** The weights and standardisation of a model artifact, from one read of its weights file. */
const tensorsOf = (a: Parameters<typeof readModelTensors>[0]) => Either.getOrThrow(readModelTensors(a))
const weightsOf = (a: Parameters<typeof readModelTensors>[0]) => Either.getOrThrow(loadWeights(a, tensorsOf(a)))

const modelArtifact = (config: NetConfig, seed: number, standardiser?: Standardiser) => {
  const dir = tempDir()
  const weights = initWeights(buildNet(config).params, new Rng(seed))
  // Non-trivial LayerNorm parameters, so the export is checked on them too.
  for (const [k, v] of weights) if (k.includes("norm")) for (let i = 0; i < v.length; i++) v[i] += Math.sin(i) * 0.1
  Either.getOrThrow(saveWeights(path.join(dir, WEIGHTS_FILE), config, weights, standardiser))
  const value: Model = {
    config,
    weights: WEIGHTS_FILE,
    layers: [0, 1],
    feature_dim: config.in_dim / 2,
    ...(standardiser === undefined ? {} : { standardised: true }),
    datasets: ["a", "b"],
    phase: "alignment",
    regulariser: "v2",
    alpha: 2.5,
    seed,
    curves: [],
    best_epoch: 0,
    best_val_f1: 0,
    stopped_early: false,
  }
  return { artifact: artifactOf(ModelCodec, value, dir), weights }
}

describe("model artifact and ONNX export", () => {
  for (const [net, standardised] of [["attention", false], ["linear", false], ["attention", true], ["linear", true]] as const) {
    it(`${net}${standardised ? ", standardised inputs" : ""}: safetensors round trip; exported graph equals the in-mea forward`, async () => {
      const config: NetConfig =
        net === "attention"
          ? { net, in_dim: 10, out_dim: 6, hidden: 16, heads: 4, ff: 20, num_layers: 2, dropout: 0.1 }
          : { net, in_dim: 10, out_dim: 6, hidden: 12, heads: 0, ff: 0, num_layers: 3, dropout: 0.1 }
      const stats = standardised ? statistics(10) : undefined
      const { artifact, weights } = modelArtifact(config, 3, stats)
      const loaded = weightsOf(artifact)
      for (const [k, v] of weights) expect(loaded.get(k)).toEqual(v)
      expect(Either.getOrThrow(loadStandardiser(artifact, tensorsOf(artifact)))).toEqual(stats)
      const file = path.join(tempDir(), "model.onnx")
      await Effect.runPromise(exportOnnx(artifact, file))
      const rows = 7
      const rng = new Rng(4)
      // Raw features around each column's mean and scale (or in [-2, 2] without standardisation).
      const x = Float32Array.from({ length: rows * 10 }, (_, i) => {
        const u = rng.next() * 4 - 2
        return stats === undefined ? u : stats.mean[i % 10] + u * (i % 10 === 1 ? 1e-6 : stats.std[i % 10])
      })
      const session = await ort.InferenceSession.create(file)
      const out = await session.run({ x: new ort.Tensor("float32", x, [rows, 10]) })
      const exported = out.embedding.data as Float32Array
      const engine = await NetEngine.create(buildNet(config), 10, { threads: 1 })
      // The exported graph takes raw features; in mea the rows are standardised as eval reads them.
      const netInput = new Float32Array(rows * 10)
      const source = memoryRows(x, 10)
      ;(stats === undefined ? source : Either.getOrThrow(standardisedRows(source, stats))).gather(Array.from({ length: rows }, (_, r) => r), netInput)
      if (stats !== undefined) expect(netInput.every((v) => Math.abs(v) <= 2.01)).toBe(true)
      const inMea = await engine.embed(loaded, netInput, rows)
      expect(exported.length).toBe(rows * 6)
      for (let i = 0; i < exported.length; i++) expect(exported[i]).toBeCloseTo(inMea[i], 6)
      for (let r = 0; r < rows; r++) {
        let n = 0
        for (let k = 0; k < 6; k++) n += exported[r * 6 + k] ** 2
        expect(Math.sqrt(n)).toBeCloseTo(1, 5)
      }
      // The training graph with every dropout mask at 1 computes the same function.
      const ones = new Map(buildNet(config).masks.map((m) => [m.name, new Float32Array(rows * m.width).fill(1)]))
      const trainingForward = await engine.forward(loaded, netInput, rows, ones)
      for (let i = 0; i < exported.length; i++) expect(trainingForward.anchors[i]).toBeCloseTo(inMea[i], 6)
      await engine.release()
      await session.release()
    })
  }

  it.effect("names the file and tensor when a weight is missing or misshapen", () =>
    Effect.gen(function* () {
      const config: NetConfig = { net: "linear", in_dim: 4, out_dim: 2, hidden: 3, heads: 0, ff: 0, num_layers: 1, dropout: 0 }
      const { artifact } = modelArtifact(config, 1)
      const wrong = artifactOf(ModelCodec, { ...artifact.value, config: { ...config, hidden: 5 } }, artifact.dir)
      const misshapen = yield* Effect.flip(loadWeights(wrong, tensorsOf(wrong)))
      expect(misshapen._tag).toBe("ArtifactReadError")
      expect(misshapen.message).toBe(`${wrong.file(WEIGHTS_FILE)}: tensor 'blocks.0.linear.weight' has shape (4, 3), expected (4, 5)`)
      expect((yield* readSafetensors(artifact.file(WEIGHTS_FILE))).size).toBe(4)
      expect(yield* loadStandardiser(artifact, tensorsOf(artifact))).toBeUndefined()
      const withStats = modelArtifact(config, 1, statistics(4)).artifact
      expect((yield* readSafetensors(withStats.file(WEIGHTS_FILE))).get("input_mean")!.shape).toEqual([4])
      const zeroStd = artifactOf(ModelCodec, withStats.value, tempDir())
      yield* saveWeights(zeroStd.file(WEIGHTS_FILE), config, weightsOf(withStats), { mean: new Float32Array(4), std: Float32Array.of(1, 1, 0, 1) })
      const zero = yield* Effect.flip(loadStandardiser(zeroStd, tensorsOf(zeroStd)))
      expect(zero._tag).toBe("ArtifactReadError")
      expect(zero.message).toBe(`${zeroStd.file(WEIGHTS_FILE)}: tensor 'input_std' column 2 is 0; standard deviations must be positive and finite`)
      const noStats = artifactOf(ModelCodec, withStats.value, artifact.dir)
      expect((yield* Effect.flip(loadStandardiser(noStats, tensorsOf(noStats)))).message).toBe(`${noStats.file(WEIGHTS_FILE)}: the model is marked standardised but has no tensor 'input_mean'`)
      const columns = yield* Effect.flip(saveWeights(zeroStd.file(WEIGHTS_FILE), config, weightsOf(withStats), statistics(5)))
      expect(columns.message).toBe(`${zeroStd.file(WEIGHTS_FILE)}: standardisation statistics have 5 columns, the net takes 4`)
    }),
  )

  it.effect("a malformed safetensors file fails with SafetensorsError naming the file and entry", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const write = (name: string, header: string | undefined, extra = 0, declared?: number) => {
        const f = path.join(dir, name)
        if (header === undefined) fs.writeFileSync(f, Buffer.from([1, 2, 3]))
        else {
          const head = Buffer.alloc(8)
          head.writeBigUInt64LE(BigInt(declared ?? Buffer.byteLength(header)))
          fs.writeFileSync(f, Buffer.concat([head, Buffer.from(header), Buffer.alloc(extra)]))
        }
        return f
      }
      const cases: ReadonlyArray<readonly [string, string]> = [
        [write("short.safetensors", undefined), "not a safetensors file (shorter than its 8-byte header length)"],
        [write("long.safetensors", "{}", 0, 100), "header length 100 runs past the end of the file (10 bytes)"],
        [write("json.safetensors", "{nope"), "unreadable header: "],
        [write("f16.safetensors", JSON.stringify({ w: { dtype: "F16", shape: [1], data_offsets: [0, 2] } }), 2), `tensor 'w': expected dtype F32 with shape and data_offsets, found {"dtype":"F16","shape":[1],"data_offsets":[0,2]}`],
        [write("range.safetensors", JSON.stringify({ w: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }), 4), "tensor 'w': byte range [0, 4) does not hold shape (2)"],
      ]
      for (const [f, message] of cases) {
        const e = yield* Effect.flip(readSafetensors(f))
        expect(e._tag).toBe("SafetensorsError")
        if (message.endsWith(": ")) expect(e.message.startsWith(`${f}: ${message}`)).toBe(true)
        else expect(e.message).toBe(`${f}: ${message}`)
      }
      expect((yield* Effect.flip(readSafetensors(path.join(dir, "none.safetensors")))).message).toMatch(/^ENOENT/)
    }),
  )
})
