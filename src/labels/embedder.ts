/**
 * A text embedder as a service: what label-embed needs from a provider that turns texts into vectors (word vectors,
 * an ONNX sentence model, an HTTP service). Each provider is a Layer (src/labels/providers/*); the stage picks one from
 * its params and provides it, so the label logic (templates, augmentation, per-label means) is written once.
 */
import { Context, Data, Effect, Layer } from "effect"

export class EmbedError extends Data.TaggedError("EmbedError")<{ readonly message: string; readonly cause?: unknown }> {}

/** One text's embedding, or why it has none; `oov`: words the provider does not know (word vectors only). */
export type TextEmbedding =
  | { readonly vector: Float32Array; readonly oov: ReadonlyArray<string> }
  | { readonly error: string; readonly oov: ReadonlyArray<string> }

export interface TextEmbedderService {
  /** The model that makes the vectors, for the artifact's provenance. */
  readonly model: string | undefined
  /** Embeds `texts` in order. */
  readonly embed: (texts: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<TextEmbedding>, EmbedError>
}

export class TextEmbedder extends Context.Tag("mea/TextEmbedder")<TextEmbedder, TextEmbedderService>() {}

/** A provider that embeds every text or fails as a whole (ONNX, HTTP). */
export const wholeEmbedder = <E extends { readonly message: string }, R>(
  model: string | undefined,
  embed: (texts: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Float32Array>, E, R>,
): Effect.Effect<TextEmbedderService, never, R> =>
  Effect.map(Effect.context<R>(), (context) => ({
    model,
    embed: (texts) =>
      embed(texts).pipe(
        Effect.map((vectors) => vectors.map((vector) => ({ vector, oov: [] }))),
        Effect.mapError((e) => new EmbedError({ message: e.message, cause: e })),
        Effect.provide(context),
      ),
  }))

export const textEmbedderLayer = <E, R>(make: Effect.Effect<TextEmbedderService, E, R>): Layer.Layer<TextEmbedder, E, R> => Layer.effect(TextEmbedder, make)
