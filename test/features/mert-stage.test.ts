import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { BUILTIN_DIM, BUILTIN_LAYERS, BuiltinExtractor, COLUMNS, STATISTICS } from "../../src/features/builtin.ts"
import { NpyFloat32Reader, readNpy } from "../../src/io/npy.ts"
import { OnnxRuntime, OnnxRuntimeLive, float32Tensor } from "../../src/onnx/runtime.ts"
import { normalizeInto } from "../../src/features/mert-onnx.ts"
import { MertStage } from "../../src/stages/mert.ts"
import { type Features } from "../../src/artifacts/features.ts"
import { segmentSamples } from "../../src/artifacts/segments.ts"
import { buildMertModel, TINY_FIXTURE, TINY_MERT } from "../../tools/make-mert-fixture.ts"
import { artifactFromResult, runStage, tempDir } from "../support/stage-harness.ts"
import { audioArtifacts, lcg } from "./support.ts"

const SR = 24000
const rand = lcg(3)
const sine = Float32Array.from({ length: 12 * SR }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / SR))
const noise = Float32Array.from({ length: 25 * SR }, () => (rand() - 0.5) * 0.8)
const short = Float32Array.from({ length: 3 * SR }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / SR))
const { audio, segments } = audioArtifacts([sine, noise, short], SR)
const model = { path: TINY_FIXTURE, hash: "fixture" }

describe("mert stage, builtin extractor", () => {
  it.effect("streams one 13 x 92 matrix per segment, in index order, identical to the in-thread extractor", () => Effect.gen(function* () {
    const result = yield* runStage(MertStage, { inputs: { audio, segments }, threads: 2 })
    const value = result.value as Features
    expect(value).toMatchObject({ extractor: "builtin", pooling: "statistics", layers: 13, dim: 92, rows: 4, file: "features.npy", sampleRate: SR })
    expect(value.layerNames).toEqual(STATISTICS)
    expect(value.columnNames).toEqual(COLUMNS)
    expect(result.progress).toEqual({ total: 4, done: 4 })
    const npy = Either.getOrThrow(readNpy(artifactFromResult<Features>(result).file("features.npy")))
    expect(npy.shape).toEqual([4, BUILTIN_LAYERS, BUILTIN_DIM])
    const reference = new BuiltinExtractor(SR)
    const data = npy.data as Float32Array
    const row = BUILTIN_LAYERS * BUILTIN_DIM
    for (let i = 0; i < 4; i++) {
      expect(data.subarray(i * row, (i + 1) * row)).toEqual(reference.extract(segmentSamples(audio, segments, i)))
    }
    // Row 0 is the sine: chroma A; row 3 the short 220 Hz track, 3 s of tone then 7 s of padding: A while it sounds.
    const chromaA = COLUMNS.indexOf("chroma_A")
    const stat = (name: string) => STATISTICS.indexOf(name) * BUILTIN_DIM
    expect(data[stat("mean") + chromaA]).toBeGreaterThan(0.9)
    expect(data[3 * row + stat("max") + chromaA]).toBeGreaterThan(0.9)
    expect(data[3 * row + stat("median") + chromaA]).toBe(0)
  }))

  it.effect("gives the same bytes with one worker as with two", () => Effect.gen(function* () {
    const one = yield* runStage(MertStage, { inputs: { audio, segments }, threads: 1 })
    const two = yield* runStage(MertStage, { inputs: { audio, segments }, threads: 2 })
    expect(fs.readFileSync(`${one.outDir}/features.npy`).equals(fs.readFileSync(`${two.outDir}/features.npy`))).toBe(true)
  }))
})

describe("mert stage, onnx extractor (tiny random MERT fixture)", () => {
  const fullOutput = (i: number) =>
      Effect.gen(function* () {
        const session = yield* (yield* OnnxRuntime).session(TINY_FIXTURE)
        const x = segmentSamples(audio, segments, i)
        const input = new Float32Array(x.length)
        normalizeInto(x, input)
        const out = yield* session.run({ input_values: float32Tensor(input, [1, x.length]) })
        return { data: out.hidden_states.data as Float32Array, dims: out.hidden_states.dims }
      }).pipe(Effect.scoped, Effect.provide(OnnxRuntimeLive))

  it.effect("pooling first keeps every hidden state's first time step, batched like unbatched", () => Effect.gen(function* () {
    const result = yield* runStage(MertStage, { params: { extractor: "onnx", batch_size: 3 }, inputs: { audio, segments, model }, threads: 2 })
    const value = result.value as Features
    expect(value).toMatchObject({ extractor: "onnx", pooling: "first", layers: 5, dim: 32, rows: 4, model: { file: "tiny-mert.onnx", hash: "fixture" } })
    expect(value.layerNames).toEqual(["embedding", "layer_1", "layer_2", "layer_3", "layer_4"])
    const reader = Either.getOrThrow(NpyFloat32Reader.open(`${result.outDir}/features.npy`))
    expect([reader.rows, ...reader.rowShape]).toEqual([4, 5, 32])
    for (const i of [0, 3]) {
      const full = yield* fullOutput(i)
      expect(full.dims).toEqual([1, 5, 749, 32])
      const row = reader.read(i, i + 1)
      for (let l = 0; l < 5; l++) {
        const expected = full.data.subarray(l * 749 * 32, l * 749 * 32 + 32)
        for (let j = 0; j < 32; j++) expect(row[l * 32 + j]).toBeCloseTo(expected[j], 4)
      }
    }
    reader.close()
  }))

  it.effect("pooling mean averages every hidden state over time", () => Effect.gen(function* () {
    const result = yield* runStage(MertStage, { params: { extractor: "onnx", pooling: "mean", batch_size: 2 }, inputs: { audio, segments, model } })
    const reader = Either.getOrThrow(NpyFloat32Reader.open(`${result.outDir}/features.npy`))
    const row = reader.read(1, 2)
    reader.close()
    const full = yield* fullOutput(1)
    for (const l of [0, 4]) {
      for (const j of [0, 17, 31]) {
        let s = 0
        for (let t = 0; t < 749; t++) s += full.data[(l * 749 + t) * 32 + j]
        expect(row[l * 32 + j]).toBeCloseTo(s / 749, 4)
      }
    }
  }))

  it.effect("fails clearly without a model, or at the wrong sample rate", () => Effect.gen(function* () {
    expect((yield* Effect.flip(runStage(MertStage, { params: { extractor: "onnx" }, inputs: { audio, segments } }))).message).toMatch(/needs the input `model`/)
    const at16k = audioArtifacts([Float32Array.from({ length: 16000 * 10 }, () => 0)], 16000)
    expect((yield* Effect.flip(runStage(MertStage, { params: { extractor: "onnx" }, inputs: { ...at16k, model } }))).message).toMatch(/MERT expects 24000 Hz audio, the segments are at 16000 Hz/)
  }))

  it.effect("reports a missing model file by path", () => Effect.gen(function* () {
    expect((yield* Effect.flip(runStage(MertStage, { params: { extractor: "onnx" }, inputs: { audio, segments, model: { path: "/nonexistent/mert.onnx", hash: "x" } } }))).message).toMatch(/cannot load ONNX model \/nonexistent\/mert.onnx/)
  }))

  it.effect("fails on a model that breaks the contract, naming the file, and leaves no partial matrix", () => Effect.gen(function* () {
    const bad = path.join(tempDir(), "renamed.onnx")
    fs.writeFileSync(bad, buildMertModel({ ...TINY_MERT, inputName: "wav" }))
    const outDir = tempDir("mea-out-")
    expect((yield* Effect.flip(runStage(MertStage, { params: { extractor: "onnx" }, inputs: { audio, segments, model: { path: bad, hash: "x" } }, outDir }))).message).toContain(`${bad} does not follow the MERT contract: no input named "input_values"`)
    expect(fs.existsSync(path.join(outDir, "features.npy"))).toBe(false)
  }))
})

describe("mert stage, failures while reading audio", () => {
  for (const extractor of ["builtin", "onnx"] as const) it.effect(`${extractor}: a PCM file shorter than its index is a clear error and no features.npy is left`, () => Effect.gen(function* () {
    const broken = audioArtifacts([sine, noise], SR)
    // Cut the audio file in the middle of the second track.
    const pcm = broken.audio.file("audio.s16le")
    fs.truncateSync(pcm, fs.statSync(pcm).size - SR * 2 * 10)
    const outDir = tempDir("mea-out-")
    expect((yield* Effect.flip(runStage(MertStage, { params: { extractor }, inputs: { ...broken, model }, outDir }))).message).toMatch(/cannot read segment samples \(audio decode, segments segment\): .*shorter than its index says/)
    expect(fs.existsSync(path.join(outDir, "features.npy"))).toBe(false)
  }))
})
