/**
 * Start-up laziness: commands that run no model, extractor or decoder load none of the heavy packages (onnxruntime's
 * native library, protobuf for ONNX graphs, FFT, zip, ffmpeg, progress bars). A preloaded hook lists the packages of
 * every CommonJS module the process loaded (each of these packages is CommonJS).
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { tempDir } from "../support/stage-harness.ts"

const root = path.resolve(import.meta.dirname, "../..")
const HEAVY = ["onnxruntime-node", "onnx-proto", "protobufjs", "fft.js", "fflate", "@ffmpeg-installer/ffmpeg", "cli-progress", "ml-kmeans"]

const hook = path.join(tempDir("mea-startup-"), "trace.cjs")
// Every CommonJS module, required or imported from ESM, lands in require.cache: list the packages they belong to.
fs.writeFileSync(
  hook,
  `process.on("exit", () => require("fs").writeFileSync(process.env.MEA_TRACE_OUT, JSON.stringify([...new Set(Object.keys(require.cache).map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean))])))\n`,
)

const loaded = (args: ReadonlyArray<string>): Array<string> => {
  const out = path.join(tempDir("mea-startup-"), "loaded.json")
  const cache = tempDir("mea-startup-cache-")
  const r = spawnSync(process.execPath, ["-r", hook, path.join(root, "bin/mea.mjs"), ...args], {
    cwd: root,
    env: { ...process.env, CI: "1", MEA_CACHE: cache, MEA_TRACE_OUT: out },
    encoding: "utf8",
    timeout: 60_000,
  })
  expect(r.status, r.stderr).toBe(0)
  return JSON.parse(fs.readFileSync(out, "utf8")) as Array<string>
}

describe("start-up", () => {
  it("--help, stages, ls and status of the demo pipeline load no heavy package", () => {
    for (const args of [["--help"], ["stages"], ["ls"], ["status", "pipeline.yaml"]]) {
      const heavy = loaded(args).filter((p) => HEAVY.some((h) => p === h || p.startsWith(`${h}/`)))
      expect(heavy, `mea ${args.join(" ")}`).toEqual([])
    }
  })
})
