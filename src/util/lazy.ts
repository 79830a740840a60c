/**
 * Heavy packages (onnxruntime's native library, protobuf, FFT, zip) loaded on first use rather than at start-up, so a
 * command that never trains, extracts or reads an archive (`--help`, `status`, `ls`, a fully cached run) never pays
 * for them. `createRequire` keeps the load synchronous for callers that cannot await, and esbuild leaves these
 * requires alone, so the bundle resolves the packages from node_modules at run time.
 */
import { createRequire } from "node:module"

const nodeRequire = createRequire(import.meta.url)

/** `load()` runs once, on the first call. */
export const lazy = <T>(load: () => T): (() => T) => {
  let value: T | undefined
  let loaded = false
  return () => {
    if (!loaded) {
      value = load()
      loaded = true
    }
    return value as T
  }
}

/** A CommonJS package, required on the first call. */
export const lazyRequire = <T>(name: string): (() => T) => lazy(() => nodeRequire(name) as T)

/** Where bin/mea.mjs puts its own `import()` for the bundle (see importModule). */
const hostImport = Symbol.for("mea.import")

/**
 * `import(specifier)` for ES modules (plugins, ESM-only packages). The bundle runs in a vm.Script with a V8 code
 * cache, and a script compiled from a code cache loses its dynamic import callback (Node 20), so an `import()` in it
 * fails; bin/mea.mjs hands over an `import()` of its own instead. bin/build.mjs rejects a bundle with any other
 * `import(`. Bare specifiers resolve from mea's node_modules either way.
 */
export const importModule = <T>(specifier: string): Promise<T> => {
  const host = (globalThis as { [hostImport]?: (s: string) => Promise<unknown> })[hostImport]
  return (host !== undefined ? host(specifier) : import(specifier)) as Promise<T>
}
