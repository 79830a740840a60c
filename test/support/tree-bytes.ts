/** Every file under a folder, by relative path, as base64 bytes: for byte-identical comparisons of caches. */
import * as fs from "node:fs"
import * as path from "node:path"

export const treeBytes = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`
      if (e.isDirectory()) walk(path.join(d, e.name), r)
      else out[r] = fs.readFileSync(path.join(d, e.name)).toString("base64")
    }
  }
  walk(dir, "")
  return out
}
