/**
 * NumPy .npz archives (np.savez / np.savez_compressed): a zip of .npy members, read whole into memory. Label-embedding
 * files are small (tens of KB), so there is no streaming here.
 */
import { Data, Either } from "effect"
import type * as Fflate from "fflate"
import { readVerifiedFile } from "../runtime/integrity.ts"
import { lazyRequire } from "../util/lazy.ts"
import { decodeNpy, type NpyArray } from "./npy.ts"

const fflate = lazyRequire<typeof Fflate>("fflate")

export class NpzError extends Data.TaggedError("NpzError")<{ readonly message: string; readonly cause?: unknown }> {}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** All arrays of an .npz, keyed by member name without ".npy". */
export const decodeNpz = (bytes: Uint8Array, what: string): Either.Either<Readonly<Record<string, NpyArray>>, NpzError> =>
  Either.flatMap(
    Either.try({
      try: () => fflate().unzipSync(bytes),
      catch: (cause) => new NpzError({ message: `${what}: not a readable .npz (zip) archive: ${describe(cause)}`, cause }),
    }),
    (members) => {
      const out: Record<string, NpyArray> = {}
      for (const [name, data] of Object.entries(members)) {
        if (!name.endsWith(".npy")) continue
        const key = name.slice(0, -4)
        const array = decodeNpy(data, `${what}[${key}]`)
        if (Either.isLeft(array)) return Either.left(new NpzError({ message: array.left.message, cause: array.left }))
        out[key] = array.right
      }
      if (Object.keys(out).length === 0) return Either.left(new NpzError({ message: `${what}: archive holds no .npy members` }))
      return Either.right(out)
    },
  )

/** Reads a whole .npz file (checked against its artifact's block hashes when it is one). */
export const readNpz = (file: string): Either.Either<Readonly<Record<string, NpyArray>>, NpzError> =>
  Either.flatMap(
    Either.try({ try: () => readVerifiedFile(file), catch: (cause) => new NpzError({ message: describe(cause), cause }) }),
    (bytes) => decodeNpz(bytes, file),
  )
