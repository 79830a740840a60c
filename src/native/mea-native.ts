/**
 * mea's native addon (mea-native.c beside this file): onnxruntime run in place, and training's AdamW, dropout-mask and
 * column-statistics kernels. Compiled on first use with the machine's C compiler into node_modules/.cache/mea-native/,
 * under the hash of its source, and bound to the onnxruntime library that onnxruntime-node ships. When it cannot be
 * had (no compiler or Node headers, not Linux, MEA_NATIVE=off) it says why once, and mea runs its graphs through
 * onnxruntime-node and its kernels in WebAssembly and JS instead: the same results, slower training.
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { lazy } from "../util/lazy.ts"
import { projectRoot } from "../util/project-root.ts"

export type Floats = Float32Array | Float64Array

/** An opaque session handle of the binding. */
export type NativeSessionHandle = { readonly __brand: "NativeSessionHandle" }

export interface MeaNative {
  /** onnxruntime's version string. */
  readonly version: string
  readonly createSession: (
    model: Uint8Array,
    threads: number,
  ) => { readonly session: NativeSessionHandle; readonly inputs: ReadonlyArray<string>; readonly outputs: ReadonlyArray<string> }
  /** Outputs given an array are written into it; a null one is allocated by onnxruntime and returned (a copy). */
  readonly run: (
    session: NativeSessionHandle,
    inputNames: ReadonlyArray<string>,
    inputs: ReadonlyArray<Floats>,
    inputDims: ReadonlyArray<ReadonlyArray<number>>,
    outputNames: ReadonlyArray<string>,
    outputs: ReadonlyArray<Floats | null>,
    outputDims: ReadonlyArray<ReadonlyArray<number>>,
  ) => ReadonlyArray<{ readonly data: Floats; readonly dims: ReadonlyArray<number> } | undefined>
  readonly release: (session: NativeSessionHandle) => void
  /**
   * AdamW over the tensors of one float32 memory, bit for bit as src/model/adamw-simd.ts's kernel: `slots` holds, per
   * tensor, the byte offsets of its weights, gradients and two moments and its length.
   */
  readonly adamw: AdamWKernel
  /** Dropout masks from an sfc32 state (4 x int32, advanced), as Rng.fillMask draws them (src/model/rng.ts). */
  readonly fillMask: (out: Floats, state: Int32Array, block: number, threshold: number, keep: number) => void
  /**
   * One chunk of column statistics (src/model/standardise.ts): each column's mean and sum of squared deviations over
   * `k` rows of `dim`; returns the index of the first non-finite value (rows in order), or -1.
   */
  readonly columnChunk: (rows: Float32Array, k: number, dim: number, mean: Float64Array, m2: Float64Array) => number
}

export type AdamWKernel = (
  memory: Float32Array,
  slots: Int32Array,
  decay: number,
  b1: number,
  c1: number,
  b2: number,
  c2: number,
  stepSize: number,
  invBc2: number,
  eps: number,
  threads: number,
) => void

interface Binding extends Omit<MeaNative, "version"> {
  readonly init: (library: string, apiVersion: number) => string
}

/** The C API version asked for: every function the binding uses exists since it, and newer libraries serve it. */
const API_VERSION = 17

const SOURCE = "mea-native.c"

/** Where Node's headers are: beside the node binary (official builds, nvm) or in the system's include folder. */
const nodeIncludeDir = (): string | undefined =>
  [path.join(path.dirname(process.execPath), "..", "include", "node"), "/usr/include/node", "/usr/local/include/node"].find((d) =>
    fs.existsSync(path.join(d, "node_api.h")),
  )

/** onnxruntime-node's own copy of the library. */
const onnxruntimeLibrary = (): string | undefined => {
  const pkg = path.dirname(createRequire(path.join(projectRoot(), "package.json")).resolve("onnxruntime-node/package.json"))
  const bin = path.join(pkg, "bin")
  if (!fs.existsSync(bin)) return undefined
  for (const napi of fs.readdirSync(bin).filter((d) => d.startsWith("napi-v")).sort().reverse()) {
    const lib = path.join(bin, napi, process.platform, process.arch, "libonnxruntime.so.1")
    if (fs.existsSync(lib)) return lib
  }
  return undefined
}

export interface BuildOptions {
  /** Where builds go (default node_modules/.cache/mea-native under the project root). */
  readonly outDir?: string
  /** The C compiler (default $CC, else cc). */
  readonly cc?: string
}

/** Compiles the binding unless a build of this source is there; returns its path. Throws with the compiler's words. */
export const buildBinding = (root: string, options: BuildOptions = {}): string => {
  const outDir = options.outDir ?? path.join(root, "node_modules", ".cache", "mea-native")
  const source = path.join(root, "src", "native", SOURCE)
  const text = fs.readFileSync(source)
  const out = path.join(outDir, `mea-native-${createHash("sha256").update(text).digest("hex").slice(0, 16)}.node`)
  if (fs.existsSync(out)) return out
  const include = nodeIncludeDir()
  if (include === undefined) throw new Error("Node's headers (node_api.h) are not installed")
  fs.mkdirSync(outDir, { recursive: true })
  // What a process killed while compiling left a while ago, and builds of earlier sources, go. (A process still
  // running an earlier build keeps it: an unlinked shared library stays mapped.)
  for (const old of fs.readdirSync(outDir)) {
    const file = path.join(outDir, old)
    const earlier = /^mea-native-[0-9a-f]{16}\.node$/.test(old) && file !== out
    // A compile that finished meanwhile renamed its .tmp away: nothing to stat.
    const age = old.endsWith(".tmp") ? Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) : 0
    if (age > 60_000 || earlier) fs.rmSync(file, { force: true })
  }
  // Built beside and renamed, so that concurrent first uses never load a half-written file.
  const tmp = `${out}.${process.pid}.tmp`
  const cc = options.cc ?? process.env.CC ?? "cc"
  // -ffp-contract=off: no fused multiply-add, so AdamW rounds exactly as the WebAssembly kernel does.
  const flags = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-shared", "-fPIC", "-DNODE_GYP_MODULE_NAME=mea_native", `-I${include}`]
  const r = spawnSync(cc, [...flags, source, "-o", tmp, "-ldl", "-lpthread", "-lm"], { encoding: "utf8" })
  if (r.error !== undefined || r.status !== 0) {
    fs.rmSync(tmp, { force: true })
    const why = r.error !== undefined ? r.error.message : (r.stderr || r.stdout).trim().split("\n").slice(0, 3).join("; ")
    throw new Error(`${cc} could not compile ${SOURCE}: ${why}`)
  }
  fs.renameSync(tmp, out)
  return out
}

/** Builds (if needed) and loads the binding; a string says why it cannot be had. */
export const loadMeaNative = (options: BuildOptions & { readonly off?: boolean } = {}): MeaNative | string => {
  if (options.off === true) return "MEA_NATIVE=off"
  if (process.platform !== "linux") return `the in-place binding is built for Linux only (this is ${process.platform})`
  try {
    const library = onnxruntimeLibrary()
    if (library === undefined) return "onnxruntime-node's libonnxruntime.so.1 was not found"
    const file = buildBinding(projectRoot(), options)
    const binding = createRequire(file)(file) as Binding
    const version = binding.init(library, API_VERSION)
    return { version, createSession: binding.createSession, run: binding.run, release: binding.release, adamw: binding.adamw, fillMask: binding.fillMask, columnChunk: binding.columnChunk }
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

/** The binding, or why it is not available (decided once per process). */
export const meaNative = lazy(() => loadMeaNative({ off: process.env.MEA_NATIVE === "off" }))

/** The addon where it is available and `wanted` (callers' `native: false` keeps their JS or WebAssembly kernels). */
export const meaNativeIfWanted = (wanted: boolean | undefined = true): MeaNative | undefined => {
  const addon = wanted === false ? undefined : meaNative()
  return typeof addon === "string" ? undefined : addon
}
