/**
 * bin/mea.mjs and bin/build.mjs on a throwaway root of their own: a tiny src/cli/main.ts is bundled to dist/mea.cjs,
 * run with a V8 code cache per subcommand, and a cached run can still import ES modules through importModule.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { tempDir } from "../support/stage-harness.ts"

const repo = path.resolve(import.meta.dirname, "../..")

const makeRoot = (main: string): string => {
  const root = tempDir("mea-loader-")
  fs.mkdirSync(path.join(root, "bin"))
  for (const f of ["mea.mjs", "build.mjs"]) fs.copyFileSync(path.join(repo, "bin", f), path.join(root, "bin", f))
  fs.symlinkSync(path.join(repo, "node_modules"), path.join(root, "node_modules"))
  fs.writeFileSync(path.join(root, "package-lock.json"), "{}")
  fs.mkdirSync(path.join(root, "src", "cli"), { recursive: true })
  fs.writeFileSync(path.join(root, "src", "cli", "main.ts"), main)
  return root
}

const mea = (root: string, ...args: Array<string>) => spawnSync(process.execPath, [path.join(root, "bin", "mea.mjs"), ...args], { cwd: root, encoding: "utf8", timeout: 60_000 })

const cacheFiles = (root: string): Array<string> => {
  const dir = path.join(root, "dist", "v8-cache")
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []
}

// Prints the command, then the type of a function from an ES module imported the way mea's sources do.
const main = `import { importModule } from ${JSON.stringify(path.join(repo, "src/util/lazy.ts"))}
void (async () => {
  const os = await importModule<typeof import("node:os")>("node:os")
  console.log(process.argv[2] ?? "-", typeof os.cpus, new URL(import.meta.url).protocol)
})()
`

describe("the bundle loader", () => {
  it("writes a code cache per subcommand on the first run and reuses it; a cached run still imports ES modules", () => {
    const root = makeRoot(main)
    const first = mea(root, "hello")
    expect(first.status, first.stderr).toBe(0)
    expect(first.stdout.trim()).toBe("hello function file:")
    expect(first.stderr).toBe("")
    const bundle = fs.readFileSync(path.join(root, "dist", "mea.cjs"), "utf8")
    const stamp = /^\/\/ mea-bundle ([0-9a-f]{64})\n/.exec(bundle)?.[1]
    expect(stamp).toBeDefined()
    expect(cacheFiles(root)).toEqual([`hello-${stamp!.slice(0, 16)}-${process.version}.bin`])
    const cacheFile = path.join(root, "dist", "v8-cache", cacheFiles(root)[0])
    const written = fs.statSync(cacheFile).mtimeMs

    // Accepted: the same output, and the cache is not written again.
    const second = mea(root, "hello")
    expect(second.status, second.stderr).toBe(0)
    expect(second.stdout.trim()).toBe("hello function file:")
    expect(fs.statSync(cacheFile).mtimeMs).toBe(written)

    // Another subcommand gets a cache of its own.
    expect(mea(root, "other-command").status).toBe(0)
    expect(cacheFiles(root)).toHaveLength(2)
  })

  it("a long run writes no cache (V8 has flushed its start-up code by then); the next short run does", () => {
    const root = makeRoot(main)
    const slow = (...args: Array<string>) =>
      spawnSync(process.execPath, [path.join(root, "bin", "mea.mjs"), ...args], {
        cwd: root,
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, MEA_CODE_CACHE_MAX_RUN_MS: "1" },
      })
    const long = slow("hello")
    expect(long.status, long.stderr).toBe(0)
    expect(long.stdout.trim()).toBe("hello function file:")
    expect(cacheFiles(root)).toEqual([])
    expect(mea(root, "hello").status).toBe(0)
    expect(cacheFiles(root)).toHaveLength(1)
  })

  it("a half-written cache a killed process left a while ago goes when a cache is next written; a fresh one stays", () => {
    const root = makeRoot(main)
    const dir = path.join(root, "dist", "v8-cache")
    fs.mkdirSync(dir, { recursive: true })
    const old = path.join(dir, "hello-0123456789abcdef-v20.0.0.bin.123.tmp")
    const fresh = path.join(dir, "other-0123456789abcdef-v20.0.0.bin.456.tmp")
    fs.writeFileSync(old, "partial")
    fs.writeFileSync(fresh, "partial")
    const past = new Date(Date.now() - 120_000)
    fs.utimesSync(old, past, past)
    expect(mea(root, "hello").status).toBe(0)
    expect(fs.existsSync(old)).toBe(false)
    expect(fs.existsSync(fresh)).toBe(true)
  })

  it("a damaged cache is rejected, the run goes on from source, and the cache is written again", () => {
    const root = makeRoot(main)
    expect(mea(root, "hello").status).toBe(0)
    const cacheFile = path.join(root, "dist", "v8-cache", cacheFiles(root)[0])
    const garbage = Buffer.alloc(fs.statSync(cacheFile).size, 7)
    fs.writeFileSync(cacheFile, garbage)
    const r = mea(root, "hello")
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe("hello function file:")
    expect(fs.readFileSync(cacheFile).equals(garbage)).toBe(false)
  })

  it("a rebuilt bundle gets a new cache key, and the caches of the old bundle are removed", () => {
    const root = makeRoot(main)
    expect(mea(root, "hello").status).toBe(0)
    expect(mea(root, "other-command").status).toBe(0)
    expect(cacheFiles(root)).toHaveLength(2)
    const before = cacheFiles(root).filter((f) => f.startsWith("hello-"))
    fs.writeFileSync(path.join(root, "src", "cli", "main.ts"), main.replace("typeof os.cpus", "typeof os.cpus, 2"))
    const future = new Date(Date.now() + 5000)
    fs.utimesSync(path.join(root, "src", "cli", "main.ts"), future, future)
    const r = mea(root, "hello")
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe("hello function 2 file:")
    const after = cacheFiles(root)
    expect(after).toHaveLength(1)
    expect(after[0]).toMatch(/^hello-/)
    expect(after[0]).not.toBe(before[0])
  })

  it("the build refuses a bundle with an import() that would fail from the code cache", () => {
    const root = makeRoot(`export const load = () => import("node:os")\n`)
    const r = mea(root, "hello")
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain("import() outside importModule")
    expect(fs.existsSync(path.join(root, "dist", "mea.cjs"))).toBe(false)
  })
})
