/** The FeatureExtractor service: each Layer on its own, and its typed errors through the mert stage. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { BUILTIN_DIM, BUILTIN_LAYERS, BuiltinExtractor, STATISTICS } from "../../src/features/builtin.ts"
import { builtinExtractor, type ExtractJob, FeatureExtractor, onnxExtractor, type OnnxExtractorOptions } from "../../src/features/extractor.ts"
import { NpyFloat32Reader } from "../../src/io/npy.ts"
import { OnnxRuntimeLive } from "../../src/onnx/runtime.ts"
import { segmentSamples } from "../../src/artifacts/segments.ts"
import { MertStage } from "../../src/stages/mert.ts"
import { buildMertModel, TINY_FIXTURE, TINY_MERT } from "../../tools/make-mert-fixture.ts"
import { runStage, tempDir } from "../support/stage-harness.ts"
import { audioArtifacts } from "./support.ts"

const SR = 24000
const tone = Float32Array.from({ length: 12 * SR }, (_, i) => 0.4 * Math.sin((2 * Math.PI * 330 * i) / SR))
const { audio, segments } = audioArtifacts([tone], SR)

const jobIn = (dir: string, advanced: Array<number> = []): ExtractJob => ({
  audio,
  segments,
  out: path.join(dir, "features.npy"),
  advance: (n) => Effect.sync(() => void advanced.push(n)),
})

const extractWith = <E>(layer: Layer.Layer<FeatureExtractor, E>, job: ExtractJob) =>
  FeatureExtractor.pipe(
    Effect.flatMap((x) => x.extract(job)),
    Effect.scoped,
    Effect.provide(layer),
  )

const onnxOptions = (model: string): OnnxExtractorOptions => ({
  model: { path: model, hash: "h" },
  pooling: "first",
  batchSize: 1,
  threads: 1,
  executionProvider: "cpu",
  graphOptimization: "all",
})

describe("builtin extractor Layer", () => {
  it.effect("writes the in-thread extractor's rows, one per segment, and reports progress", () =>
    Effect.gen(function* () {
      const advanced: Array<number> = []
      const job = jobIn(tempDir(), advanced)
      const result = yield* extractWith(builtinExtractor({ threads: 1 }), job)
      expect(result).toMatchObject({ extractor: "builtin", pooling: "statistics", layers: BUILTIN_LAYERS, dim: BUILTIN_DIM, layerNames: STATISTICS })
      const reader = yield* NpyFloat32Reader.open(job.out)
      expect(reader.rows).toBe(segments.value.count)
      const reference = new BuiltinExtractor(SR)
      for (let i = 0; i < segments.value.count; i++) expect(reader.read(i, i + 1)).toEqual(reference.extract(segmentSamples(audio, segments, i)))
      reader.close()
      expect(advanced.reduce((a, b) => a + b, 0)).toBe(segments.value.count)
    }),
  )

  it.effect("fails with FeatureError when the output cannot be created", () =>
    Effect.gen(function* () {
      const job = jobIn(path.join(tempDir(), "missing-folder"))
      const e = yield* Effect.flip(extractWith(builtinExtractor({ threads: 1 }), job))
      expect(e._tag).toBe("FeatureError")
      expect(e.message).toMatch(new RegExp(`^cannot create .*missing-folder[\\\\/]features\\.npy: ENOENT`))
      expect(e.cause).toMatchObject({ _tag: "NpyError" })
    }),
  )
})

describe("onnx extractor Layer", () => {
  it.effect("opens the model when the Layer is built and writes its pooled hidden states", () =>
    Effect.gen(function* () {
      const job = jobIn(tempDir())
      const result = yield* extractWith(onnxExtractor(onnxOptions(TINY_FIXTURE)).pipe(Layer.provide(OnnxRuntimeLive)), job)
      expect(result).toMatchObject({ extractor: "onnx", pooling: "first", layers: 5, dim: 32, model: { file: "tiny-mert.onnx", hash: "h" } })
      const reader = yield* NpyFloat32Reader.open(job.out)
      expect([reader.rows, ...reader.rowShape]).toEqual([segments.value.count, 5, 32])
      reader.close()
    }),
  )

  it.effect("building it fails with FeatureError for a missing model or one that breaks the contract; nothing is written", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const job = jobIn(dir)
      const missing = yield* Effect.flip(extractWith(onnxExtractor(onnxOptions("/nonexistent/mert.onnx")).pipe(Layer.provide(OnnxRuntimeLive)), job))
      expect(missing._tag).toBe("FeatureError")
      expect(missing.message).toMatch(/^cannot load ONNX model \/nonexistent\/mert\.onnx/)
      expect(missing.cause).toMatchObject({ _tag: "OnnxError" })
      const bad = path.join(dir, "renamed.onnx")
      fs.writeFileSync(bad, buildMertModel({ ...TINY_MERT, inputName: "wav" }))
      const broken = yield* Effect.flip(extractWith(onnxExtractor(onnxOptions(bad)).pipe(Layer.provide(OnnxRuntimeLive)), job))
      expect(broken._tag).toBe("FeatureError")
      expect(broken.message.startsWith(`${bad} does not follow the MERT contract: no input named "input_values"`)).toBe(true)
      expect(fs.existsSync(job.out)).toBe(false)
    }),
  )
})

describe("mert stage over the service", () => {
  it.effect("keeps the extractor's FeatureError as the cause of its StageError", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(runStage(MertStage, { params: { extractor: "onnx" }, inputs: { audio, segments, model: { path: "/nonexistent/mert.onnx", hash: "x" } } }))
      expect(e._tag).toBe("StageError")
      expect(e.message).toMatch(/^cannot load ONNX model \/nonexistent\/mert\.onnx/)
      expect(e.cause).toMatchObject({ _tag: "FeatureError" })
    }),
  )

  it.effect("picks the Layer from its params: builtin by default, onnx with a model", () =>
    Effect.gen(function* () {
      const builtin = yield* runStage(MertStage, { inputs: { audio, segments }, threads: 1 })
      expect(builtin.value).toMatchObject({ extractor: "builtin", layers: BUILTIN_LAYERS })
      const onnx = yield* runStage(MertStage, { params: { extractor: "onnx" }, inputs: { audio, segments, model: { path: TINY_FIXTURE, hash: "h" } }, threads: 1 })
      expect(onnx.value).toMatchObject({ extractor: "onnx", layers: 5, dim: 32 })
      expect(Either.isRight(NpyFloat32Reader.open(path.join(onnx.outDir, "features.npy")))).toBe(true)
    }),
  )
})
