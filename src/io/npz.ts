/**
 * NumPy .npz archives (np.savez / np.savez_compressed): a zip of .npy members, read whole into memory. Label-embedding
 * files are small (tens of KB), so there is no streaming here.
 */
import { Data } from "effect"
import type * as Fflate from "fflate"
import { readVerifiedFile } from "../runtime/integrity.ts"
import { lazyRequire } from "../util/lazy.ts"
import { decodeNpy, type NpyArray, NpyError } from "./npy.ts"

const fflate = lazyRequire<typeof Fflate>("fflate")

export class NpzError extends Data.TaggedError("NpzError")<{ readonly message: string }> {}

/** All arrays of an .npz, keyed by member name without ".npy". Throws NpzError. */
export const decodeNpz = (bytes: Uint8Array, what: string): Readonly<Record<string, NpyArray>> => {
  let members: Record<string, Uint8Array>
  try {
    members = fflate().unzipSync(bytes)
  } catch (cause) {
    throw new NpzError({ message: `${what}: not a readable .npz (zip) archive: ${cause instanceof Error ? cause.message : String(cause)}` })
  }
  const out: Record<string, NpyArray> = {}
  for (const [name, data] of Object.entries(members)) {
    if (!name.endsWith(".npy")) continue
    const key = name.slice(0, -4)
    try {
      out[key] = decodeNpy(data, `${what}[${key}]`)
    } catch (cause) {
      throw new NpzError({ message: cause instanceof NpyError ? cause.message : `${what}[${key}]: ${String(cause)}` })
    }
  }
  if (Object.keys(out).length === 0) throw new NpzError({ message: `${what}: archive holds no .npy members` })
  return out
}

export const readNpz = (file: string): Readonly<Record<string, NpyArray>> => decodeNpz(readVerifiedFile(file), file)
