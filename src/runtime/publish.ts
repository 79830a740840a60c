/**
 * Publishing: a stage may declare files of its output to be checked out into a folder of the project (the report
 * stage's report/). The engine does it after every node that declares them, run or cached, so the folder always matches
 * the pipeline just run; the cached artifact stays the source of truth. A copy that fails is a warning, never the loss
 * of the result. Files already in the folder that the output does not name are left alone; each named file is replaced
 * atomically (written beside it, then renamed), so a reader never sees half a file.
 */
import { Data, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { processAlive } from "./lock.ts"
import { readVerifiedFile } from "./integrity.ts"

/** Which of an artifact's files go where: `to` is relative to the working directory unless absolute. */
export interface Publication {
  readonly to: string
  readonly files: ReadonlyArray<string>
}

export class PublishError extends Data.TaggedError("PublishError")<{ readonly message: string }> {}

/**
 * A process killed while publishing leaves `<file>.tmp-<pid>` beside the file; the next publication of that file,
 * which every run makes, removes those of dead processes.
 */
const removeStaleTemps = (to: string): void => {
  const prefix = `${path.basename(to)}.tmp-`
  for (const name of fs.readdirSync(path.dirname(to))) {
    if (!name.startsWith(prefix)) continue
    const pid = Number(name.slice(prefix.length))
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) fs.rmSync(path.join(path.dirname(to), name), { force: true })
  }
}

/** Whether `file` is a regular file holding exactly `bytes`, and still the user's to replace (mode 644). */
const sameBytes = (file: string, bytes: Buffer): boolean => {
  try {
    const st = fs.statSync(file)
    return st.isFile() && st.size === bytes.length && (st.mode & 0o777) === 0o644 && fs.readFileSync(file).equals(bytes)
  } catch {
    return false
  }
}

/** Copies `files` (relative names) from `fromDir` into `toDir` (created if missing); returns the paths written. */
export const publishFiles = (fromDir: string, files: ReadonlyArray<string>, toDir: string): Effect.Effect<ReadonlyArray<string>, PublishError> =>
  Effect.gen(function* () {
    const written: Array<string> = []
    for (const rel of files) {
      // Names come from a stored value someone could have edited: never write outside the target folder.
      if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes("..")) {
        return yield* Effect.fail(new PublishError({ message: `${fromDir}: file name '${rel}' leaves the folder it is published into` }))
      }
      const from = path.join(fromDir, rel)
      const to = path.resolve(toDir, rel)
      yield* Effect.try({
        try: () => {
          // Through the artifact's block hashes (integrity.ts), so a corrupt cached file is never published.
          const bytes = readVerifiedFile(from)
          fs.mkdirSync(path.dirname(to), { recursive: true })
          removeStaleTemps(to)
          // A cached run publishes what is already there: leave an identical copy alone (a rerun writes nothing).
          if (sameBytes(to, bytes)) return
          const tmp = `${to}.tmp-${process.pid}`
          fs.writeFileSync(tmp, bytes)
          // Cached artifact files are read-only; the project's copy is the user's to open and replace.
          fs.chmodSync(tmp, 0o644)
          fs.renameSync(tmp, to)
        },
        catch: (e) => new PublishError({ message: `publishing ${from} to ${to}: ${e instanceof Error ? e.message : String(e)}` }),
      })
      written.push(to)
    }
    return written
  })
