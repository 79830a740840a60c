import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * The project root, found from this file's location by walking up to mea's package.json. Works from src/ (tsx,
 * vitest) and from the bundle in dist/, where import.meta.url is the bundle's.
 */
export const projectRoot = (): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const pkg = path.join(dir, "package.json")
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, "utf8")) as { name?: unknown }).name === "mea") return dir
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`cannot find mea's package.json above ${fileURLToPath(import.meta.url)}`)
    dir = parent
  }
}
