/** The TextEmbedder seam: providers as Layers, their failures as EmbedError with the provider's error as cause. */
import { Data, Effect } from "effect"
import { describe, expect, it } from "@effect/vitest"
import { EmbedError, TextEmbedder, textEmbedderLayer, wholeEmbedder } from "../../src/labels/embedder.ts"
import { wordVectorsEmbedder } from "../../src/labels/providers/word-vectors.ts"

class ServiceDown extends Data.TaggedError("ServiceDown")<{ readonly message: string }> {}

describe("TextEmbedder", () => {
  it.effect("a whole-batch provider: vectors in order, no unknown words", () =>
    Effect.gen(function* () {
      const embedder = yield* TextEmbedder
      const out = yield* embedder.embed(["ab", "c"])
      expect(out).toEqual([{ vector: Float32Array.of(2), oov: [] }, { vector: Float32Array.of(1), oov: [] }])
      expect(embedder.model).toBe("len")
    }).pipe(Effect.provide(textEmbedderLayer(wholeEmbedder("len", (texts) => Effect.succeed(texts.map((t) => Float32Array.of(t.length))))))),
  )

  it.effect("a provider's failure is an EmbedError whose cause keeps the provider's tag", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(Effect.flatMap(TextEmbedder, (x) => x.embed(["a"])))
      expect(e).toBeInstanceOf(EmbedError)
      expect(e.message).toBe("503 from the service")
      expect((e.cause as ServiceDown)._tag).toBe("ServiceDown")
    }).pipe(Effect.provide(textEmbedderLayer(wholeEmbedder(undefined, () => Effect.fail(new ServiceDown({ message: "503 from the service" })))))),
  )

  it.effect("word vectors: per-text results, unknown words listed, a text with no known word an error, not a failure", () =>
    Effect.gen(function* () {
      const out = yield* Effect.flatMap(TextEmbedder, (x) => x.embed(["happy music", "zqxjv"]))
      expect("vector" in out[0] && out[0].vector.length).toBe(100)
      expect(out[1]).toMatchObject({ oov: ["zqxjv"] })
      expect("error" in out[1] && out[1].error).toMatch(/no word of "zqxjv" is in the word vectors/)
    }).pipe(Effect.provide(wordVectorsEmbedder)),
    60_000,
  )
})
