#!/usr/bin/env node
// Runs mea from a bundle of src/ (dist/mea.cjs), rebuilt here whenever a source file is newer than it. A bundle loads
// in a third of the time of the unbundled Effect modules, and a V8 code cache of it (dist/v8-cache/) saves most of
// the rest of the compile time: together they are most of a warm rerun.
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as vm from "node:vm"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const bundle = path.join(root, "dist", "mea.cjs")

const newestSource = (dir) => {
  let newest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full))
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, fs.statSync(full).mtimeMs)
  }
  return newest
}

const stale = () => {
  try {
    const built = fs.statSync(bundle).mtimeMs
    return built < newestSource(path.join(root, "src")) || built < fs.statSync(path.join(root, "package-lock.json")).mtimeMs
  } catch {
    return true
  }
}

/** Runs longer than this (ms since the process started) write no code cache; see runBundle. */
const codeCacheMaxRunMs = Number(process.env.MEA_CODE_CACHE_MAX_RUN_MS ?? 5000)

/**
 * Compiles and runs the CommonJS bundle with a V8 code cache, one per subcommand: a cache holds the functions that
 * had been compiled when it was written, and `run` compiles others than `--help`. V8 checks a cache only against the
 * source's length and its own flags, so the key is the bundle's content hash from its first line. A cache is written
 * at the exit of a short run when missing or rejected (another Node or other V8 flags); where dist/ is read-only mea
 * runs without one.
 */
const runBundle = () => {
  // Pure ASCII (bin/build.mjs sets charset ascii): latin1 skips UTF-8 decoding and makes a one-byte string.
  const source = fs.readFileSync(bundle, "latin1")
  const stamp = /^\/\/ mea-bundle ([0-9a-f]{16})/.exec(source)?.[1] ?? "unstamped"
  const command = /^[a-z][a-z-]*$/.test(process.argv[2] ?? "") ? process.argv[2] : "other"
  const cacheDir = path.join(root, "dist", "v8-cache")
  const cacheFile = path.join(cacheDir, `${command}-${stamp}-${process.version}.bin`)
  let cachedData
  try {
    cachedData = fs.readFileSync(cacheFile)
  } catch {
    // No cache yet: compiled from source, and one is written at exit.
  }
  // The module wrapper shares the bundle's first line, so line numbers in stack traces are the file's.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    cachedData,
  })
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once("exit", () => {
      // Only a short run writes the cache. V8 flushes the bytecode of functions that have not run for a while, so a
      // cache written at the end of a long run lacks the start-up code, and every later start compiles it again: a
      // no-op demo rerun took 0.47-0.53 s with the cache its cold run wrote, 0.37 s with one a no-op wrote. The next
      // short run of the subcommand writes it.
      if (performance.now() > codeCacheMaxRunMs) return
      try {
        fs.mkdirSync(cacheDir, { recursive: true })
        // This command's cache of an earlier bundle or Node, and every cache of an earlier bundle, go.
        // So does a half-written one that a killed process left a while ago.
        for (const old of fs.readdirSync(cacheDir)) {
          const file = path.join(cacheDir, old)
          const [, name, oldStamp] = /^(.*)-([^-]+)-v[^-]+\.bin$/.exec(old) ?? []
          if (name === command || (oldStamp !== undefined && oldStamp !== stamp)) fs.rmSync(file, { force: true })
          else if (old.endsWith(".tmp") && Date.now() - fs.statSync(file).mtimeMs > 60_000) fs.rmSync(file, { force: true })
        }
        const tmp = `${cacheFile}.${process.pid}.tmp`
        fs.writeFileSync(tmp, script.createCachedData())
        fs.renameSync(tmp, cacheFile)
      } catch {
        // A read-only install, a full disk: the next start compiles from source again.
      }
    })
  }
  globalThis[Symbol.for("mea.import")] = (specifier) => import(specifier)
  const module = { exports: {} }
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, path.dirname(bundle))
}

if (process.env.MEA_NO_BUNDLE === "1") {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../src/cli/main.ts")
} else {
  if (stale()) {
    const { buildBundle } = await import("./build.mjs")
    await buildBundle(root)
  }
  runBundle()
}
