/** Small helpers shared by the metadata parsers. */
import { FileSystem } from "@effect/platform"
import { Effect } from "effect"
import { isArtifactFile, readVerifiedFile } from "../runtime/integrity.ts"
import { StageError } from "../runtime/stage.ts"

/** Lines with their 1-based numbers, without the line terminator; a trailing empty line is not a line. */
export const numberedLines = (text: string): Array<{ readonly n: number; readonly line: string }> => {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/)
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop()
  return lines.map((line, i) => ({ n: i + 1, line }))
}

export const isBlank = (line: string): boolean => line.trim() === ""

export const readText = (file: string): Effect.Effect<string, StageError, FileSystem.FileSystem> =>
  isArtifactFile(file)
    ? // Demo metadata lives in a cached artifact: read it through its block hashes.
      Effect.try({
        try: () => readVerifiedFile(file, "utf8"),
        catch: (e) => new StageError({ message: `cannot read metadata file ${file}: ${e instanceof Error ? e.message : String(e)}`, cause: e }),
      })
    : Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readFileString(file).pipe(
      Effect.mapError((e) => new StageError({ message: `cannot read metadata file ${file}: ${e.message}`, cause: e })),
    ),
  )
