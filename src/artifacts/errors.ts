/** Why a file of a cached artifact could not be read as what its codec says it holds. */
import { Data, Either } from "effect"

export class ArtifactReadError extends Data.TaggedError("ArtifactReadError")<{ readonly message: string; readonly cause?: unknown }> {}

export const artifactError = (message: string): Either.Either<never, ArtifactReadError> => Either.left(new ArtifactReadError({ message }))

/** A reader's own typed error (which names the file) as an ArtifactReadError, the original kept as its cause. */
export const fromReadError = (e: { readonly message: string }): ArtifactReadError => new ArtifactReadError({ message: e.message, cause: e })
