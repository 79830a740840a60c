#!/usr/bin/env node
// Runs mea from a bundle of src/ (dist/mea.mjs), rebuilt here whenever a source file is newer than it. A bundle loads
// in a third of the time of the unbundled Effect modules, which is most of a warm rerun.
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const bundle = path.join(root, "dist", "mea.mjs")

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

if (process.env.MEA_NO_BUNDLE === "1") {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../src/cli/main.ts")
} else {
  if (stale()) {
    const { buildBundle } = await import("./build.mjs")
    await buildBundle(root)
  }
  await import(bundle)
}
