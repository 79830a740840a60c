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
