/**
 * Content hashes of input files and folders. A file is read and hashed once; afterwards its hash is trusted while its
 * (path, size, mtime, inode) stay the same, so a no-op rerun over a corpus of tens of thousands of files only stats them.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { hashFile, sha256 } from "./hash.ts"

type Entry = readonly [size: number, mtimeMs: number, ino: number, hash: string]

export interface DirListing {
  readonly hash: string
  /** [relative path, content hash], sorted by path. */
  readonly files: ReadonlyArray<readonly [string, string]>
}

/** `**` crosses folders, `*` and `?` do not, `{a,b}` is a choice. */
export const globToRegExp = (glob: string): RegExp => {
  let re = ""
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === "*" && glob[i + 1] === "*") {
      i++
      if (glob[i + 1] === "/") {
        i++
        re += "(?:.*/)?"
      } else re += ".*"
    } else if (c === "*") re += "[^/]*"
    else if (c === "?") re += "[^/]"
    else if (c === "{") {
      const end = glob.indexOf("}", i)
      if (end < 0) re += "\\{"
      else {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(",")
          .map((s) => s.replace(/[.+^$()|[\]\\*?]/g, "\\$&"))
          .join("|")})`
        i = end
      }
    } else re += c.replace(/[.+^$()|[\]\\]/g, "\\$&")
  }
  return new RegExp(`^${re}$`)
}

export class FileState {
  private entries: Map<string, Entry>
  private dirty = false
  /** Files whose content was actually read during this run (for tests and the bench). */
  hashedCount = 0

  constructor(private readonly stateFile: string) {
    this.entries = new Map()
    try {
      const raw = JSON.parse(fs.readFileSync(stateFile, "utf8")) as Record<string, Entry>
      this.entries = new Map(Object.entries(raw))
    } catch {
      // Missing or unreadable state only costs re-hashing.
    }
  }

  private hashWithStat(file: string, st: fs.Stats): string {
    const known = this.entries.get(file)
    if (known !== undefined && known[0] === st.size && known[1] === st.mtimeMs && known[2] === st.ino) return known[3]
    const hash = hashFile(file)
    this.hashedCount++
    // A file modified within the last two seconds may change again within the same mtime tick: do not trust it yet.
    if (Date.now() - st.mtimeMs > 2000) {
      this.entries.set(file, [st.size, st.mtimeMs, st.ino, hash])
      this.dirty = true
    }
    return hash
  }

  /** Content hash of one file. Throws a readable error when it is missing or not a file. */
  hashFile(file: string): string {
    const st = statOrThrow(file)
    if (!st.isFile()) throw new Error(`${file}: expected a file, found a ${st.isDirectory() ? "folder" : "special file"}`)
    return this.hashWithStat(file, st)
  }

  /** Hash of a folder: every matching file's relative path and content hash. */
  hashDir(dir: string, glob: string | undefined): DirListing {
    const st = statOrThrow(dir)
    if (!st.isDirectory()) throw new Error(`${dir}: expected a folder, found a file`)
    const match = glob === undefined ? undefined : globToRegExp(glob)
    const rels = listFiles(dir)
      .filter((r) => match === undefined || match.test(r))
      .sort()
    const files: Array<readonly [string, string]> = []
    for (const rel of rels) {
      const full = `${dir}/${rel}`
      files.push([rel, this.hashWithStat(full, fs.statSync(full))])
    }
    const hash = sha256(files.map(([r, h]) => `${r}\0${h}\n`).join(""))
    return { hash, files }
  }

  /** Persists what was learnt (atomically; concurrent runs may overwrite each other, which only costs re-hashing). */
  save(): void {
    if (!this.dirty) return
    const tmp = `${this.stateFile}.${process.pid}.${Date.now()}.tmp`
    fs.mkdirSync(path.dirname(this.stateFile), { recursive: true })
    fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.entries)))
    fs.renameSync(tmp, this.stateFile)
    this.dirty = false
  }
}

/** Relative paths of the regular files under `dir` (a plain walk: Node 20's recursive readdir is several times slower). */
const listFiles = (dir: string, prefix = ""): Array<string> => {
  const out: Array<string> = []
  for (const e of fs.readdirSync(prefix === "" ? dir : `${dir}/${prefix}`, { withFileTypes: true })) {
    const rel = prefix === "" ? e.name : `${prefix}/${e.name}`
    if (e.isDirectory()) out.push(...listFiles(dir, rel))
    else if (e.isFile()) out.push(rel)
  }
  return out
}

const statOrThrow = (p: string): fs.Stats => {
  try {
    return fs.statSync(p)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new Error(code === "ENOENT" ? `${p}: no such file or folder` : `${p}: ${String(e)}`)
  }
}
