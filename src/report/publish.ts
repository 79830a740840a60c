/**
 * Copies a report artifact's files (report.md, report.html, results.json, plots/) into a folder of the project, e.g.
 * report/. The copy is a convenience: the cached artifact stays the source of truth. The report stage calls this after
 * producing its files; the CLI can call it on a cached report node so the folder exists even when the node did not run.
 * Files already in the folder that the report does not name are left alone; each named file is replaced atomically
 * (written beside it, then renamed), so a reader never sees half a report file.
 */
import { Effect, ParseResult, Schema } from "effect"
import * as fs from "node:fs"
import { readVerifiedFile } from "../runtime/integrity.ts"
import * as path from "node:path"
import { attempt, StageError } from "../runtime/stage.ts"
import { type Report, reportFiles, ReportSchema } from "../artifacts/report.ts"

/** The report value stored in an artifact folder (its value.json). */
export const readReport = (artifactDir: string): Effect.Effect<Report, StageError> =>
  Effect.gen(function* () {
    const file = path.join(artifactDir, "value.json")
    const text = yield* attempt(`reading the report artifact ${file}`, () => readVerifiedFile(file, "utf8"))
    const json = yield* attempt(`${file}: not JSON`, () => JSON.parse(text) as unknown)
    return yield* Schema.decodeUnknown(ReportSchema)(json).pipe(
      Effect.mapError((e) => new StageError({ message: `${file} is not a report artifact: ${ParseResult.TreeFormatter.formatErrorSync(e)}` })),
    )
  })

/** Copies the report's files from `artifactDir` into `outDir` (created if missing); returns the paths written. */
export const publishReport = (artifactDir: string, outDir: string): Effect.Effect<ReadonlyArray<string>, StageError> =>
  Effect.flatMap(readReport(artifactDir), (report) => copyReportFiles(artifactDir, report, outDir))

/** Copies the files `report` names from `fromDir` into `outDir`; returns the paths written. */
export const copyReportFiles = (fromDir: string, report: Report, outDir: string): Effect.Effect<ReadonlyArray<string>, StageError> =>
  Effect.gen(function* () {
    const written: Array<string> = []
    for (const rel of reportFiles(report)) {
      // Names come from a value.json someone could have edited: never write outside outDir.
      if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes("..")) {
        return yield* Effect.fail(new StageError({ message: `report in ${fromDir}: file name '${rel}' leaves the report folder` }))
      }
      const from = path.join(fromDir, rel)
      const to = path.resolve(outDir, rel)
      yield* attempt(`publishing ${from} to ${to}`, () => {
        fs.mkdirSync(path.dirname(to), { recursive: true })
        const tmp = `${to}.tmp-${process.pid}`
        // Through the artifact's block hashes, so a corrupt cached file is never published.
        fs.writeFileSync(tmp, readVerifiedFile(from))
        // Cached artifact files are read-only; the project's copy is the user's to open and replace.
        fs.chmodSync(tmp, 0o644)
        fs.renameSync(tmp, to)
      })
      written.push(to)
    }
    return written
  })
