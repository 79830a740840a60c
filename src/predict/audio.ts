/**
 * The AUDIO arguments of `mea predict` as chains: one per folder that holds audio files directly (so a library's new
 * album decodes only that album), one per file named on its own. Files that are not audio are listed, not chained.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { isAudioFile } from "../stages/audio-files.ts"

export type Chain = { readonly _tag: "Folder"; readonly dir: string } | { readonly _tag: "File"; readonly file: string }

export interface AudioPlan {
  readonly chains: ReadonlyArray<Chain>
  /** Files named on the command line that are not audio (by extension). */
  readonly notAudio: ReadonlyArray<string>
  readonly files: number
}

const walk = (dir: string, out: Map<string, number>): void => {
  let entries: Array<fs.Dirent>
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return
  }
  for (const e of entries) {
    const full = path.join(dir, e.name)
    if (e.isDirectory()) walk(full, out)
    else if (e.isFile() && isAudioFile(e.name)) out.set(dir, (out.get(dir) ?? 0) + 1)
  }
}

/** Chains for the arguments, or an error message for a path that does not exist or a folder without audio. */
export const planAudio = (args: ReadonlyArray<string>, cwd: string): AudioPlan | { readonly error: string } => {
  const folders = new Map<string, number>()
  const files = new Set<string>()
  const notAudio: Array<string> = []
  for (const arg of args) {
    const full = path.resolve(cwd, arg)
    const st = fs.statSync(full, { throwIfNoEntry: false })
    if (st === undefined) return { error: `${arg}: no such file or folder` }
    if (st.isDirectory()) {
      const found = new Map<string, number>()
      walk(full, found)
      if (found.size === 0) return { error: `${arg}: no audio files (mp3, wav, flac, ogg, m4a, opus, aac) in this folder or below it` }
      for (const [d, n] of found) folders.set(d, n)
    } else if (isAudioFile(full)) files.add(full)
    else notAudio.push(full)
  }
  // A file inside a folder that is chained anyway is tagged there.
  const single = [...files].filter((f) => !folders.has(path.dirname(f)))
  const chains: Array<Chain> = [
    ...[...folders.keys()].sort().map((dir) => ({ _tag: "Folder" as const, dir })),
    ...single.sort().map((file) => ({ _tag: "File" as const, file })),
  ]
  return { chains, notAudio, files: [...folders.values()].reduce((a, b) => a + b, 0) + single.length }
}
