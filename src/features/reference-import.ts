/**
 * The original implementation's preprocessed features ("Option B"): per part (e.g. per split) a `<part>_source.npy`,
 * float32 (N, 13, 768) - every MERT hidden state's first time step per segment - and a `<part>_index.npy`, a NumPy
 * structured array of N records whose `track_id` field names each row's key in the JSON metadata. Shared by the
 * import-segments and import-features stages.
 */
import * as path from "node:path"
import type { DirValue } from "../runtime/stage.ts"

export const SOURCE_SUFFIX = "_source.npy"
export const INDEX_SUFFIX = "_index.npy"

/** The absolute path of `<part><suffix>` in the folder; an error lists the folder's files of that kind when it is not there. */
export const partFile = (folder: DirValue, part: string, suffix: string): string => {
  const rel = `${part}${suffix}`
  if (!folder.files.includes(rel)) {
    const found = folder.files.filter((f) => f.endsWith(suffix))
    throw new Error(
      `${path.join(folder.path, rel)}: no such file (parts are named <part>${suffix}; the folder has ${found.length === 0 ? `no *${suffix} file` : found.slice(0, 6).join(", ") + (found.length > 6 ? ", ..." : "")})`,
    )
  }
  return path.join(folder.path, rel)
}
