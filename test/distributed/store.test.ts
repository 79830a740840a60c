/**
 * The shared store (`--store`) on a real S3-compatible server (s3rver on 127.0.0.1) and on a folder: a second cache
 * downloads instead of recomputing, uploads go in parts and are verified, a tampered object in the store is refused,
 * a key record is published only after its object, corrupt local records are named and rebuilt, and no credential
 * appears in any output.
 */
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { s3Blobs, PART_BYTES } from "../../src/distributed/s3.ts"
import { folderBlobs, makeRemoteStore, keyPath, objectPath, SMALL_OBJECT_BYTES } from "../../src/runtime/remote.ts"
import { makeLocalStore } from "../../src/runtime/store.ts"
import { cli, project } from "../engine/helpers.ts"
import { s3Env, startS3, type S3Server } from "./servers.ts"
import { treeBytes } from "../support/tree-bytes.ts"

const yaml = `
params: { v: 3 }
stages:
  src: { uses: source, with: { value: "\${v}" } }
  big: { uses: slow, inputs: { a: src }, with: { ms: 50, mb: 10 } }
  sum: { uses: add, inputs: { a: big }, with: { k: 1 } }
`

const objectsOf = (cache: string): Array<string> => {
  const root = path.join(cache, "objects")
  return fs.existsSync(root) ? fs.readdirSync(root).flatMap((d) => fs.readdirSync(path.join(root, d))).sort() : []
}
const ranIn = (json: string): Array<string> =>
  (JSON.parse(json) as { nodes: ReadonlyArray<{ id: string; status: string }> }).nodes.filter((n) => n.status === "ran").map((n) => n.id)

describe("shared store on S3 (s3rver)", () => {
  let s3: S3Server
  let env: Record<string, string>
  beforeAll(async () => {
    s3 = await startS3()
    env = s3Env(s3)
  })
  afterAll(async () => {
    await s3?.close()
  })

  it("a second cache downloads every node from the store and runs nothing; results are byte-identical", () => {
    const dir = project({ "p.yaml": yaml })
    const store = `s3://${s3.bucket}/team/a`
    const first = cli(["run", "p.yaml", "--store", store, "--json", "--cache", "c1"], dir, env)
    expect(first.code).toBe(0)
    expect(ranIn(first.stdout).sort()).toEqual(["big", "src", "sum"])
    // The store holds the same layout as a cache folder (the 10 MiB blob went up as a multipart upload).
    const keys = fs.readdirSync(path.join(s3.dir, s3.bucket, "team", "a", "keys"))
    expect(keys.length).toBeGreaterThan(0)

    const second = cli(["run", "p.yaml", "--json", "--cache", "c2"], dir, { ...env, MEA_STORE: store })
    expect(second.code).toBe(0)
    expect(ranIn(second.stdout)).toEqual([])
    expect(second.stderr).toContain(`fetched big from ${store}`)
    expect(objectsOf(path.join(dir, "c2"))).toEqual(objectsOf(path.join(dir, "c1")))
    expect(treeBytes(path.join(dir, "c2", "objects"))).toEqual(treeBytes(path.join(dir, "c1", "objects")))
    // s3rver's fixed credentials (access key and secret are both S3RVER) appear in no output and no cached file.
    for (const out of [first.stdout, first.stderr, second.stdout, second.stderr]) expect(out).not.toContain("S3RVER")
    for (const [name, b64] of Object.entries(treeBytes(path.join(dir, "c2")))) expect(`${name} ${Buffer.from(b64, "base64").toString("latin1")}`).not.toContain("S3RVER")
    // status looks into the store too, without downloading.
    const status = cli(["status", "p.yaml", "--json", "--cache", "c3", "--store", store], dir, env)
    expect(JSON.parse(status.stdout).nodes.map((n: { status: string }) => n.status)).toEqual(["cached", "cached", "cached"])
    expect(fs.existsSync(path.join(dir, "c3", "objects"))).toBe(false)
  })

  it("a tampered object in the store is refused and the node recomputed", () => {
    const dir = project({ "p.yaml": yaml })
    const store = `s3://${s3.bucket}/team/b`
    expect(cli(["run", "p.yaml", "-p", "v=4", "--store", store, "--cache", "c1", "-q"], dir, env).code).toBe(0)
    // Flip a byte of big's blob as the server stores it.
    const found: Array<string> = []
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name))
        else if (e.name.startsWith("blob.bin") && e.name.endsWith("_object")) found.push(path.join(d, e.name)) // s3rver: <key>._S3rver_object
      }
    }
    walk(path.join(s3.dir, s3.bucket, "team", "b"))
    expect(found.length).toBe(1)
    const fd = fs.openSync(found[0], "r+")
    fs.writeSync(fd, Buffer.from([0x5a]), 0, 1, 1234)
    fs.closeSync(fd)
    const again = cli(["run", "p.yaml", "-p", "v=4", "--store", store, "--json", "--cache", "c2"], dir, env)
    expect(again.code).toBe(0)
    expect(again.stderr).toMatch(/blob\.bin does not match its manifest .*; not used/)
    expect(ranIn(again.stdout)).toEqual(["big"])
    expect(treeBytes(path.join(dir, "c2", "objects"))).toEqual(treeBytes(path.join(dir, "c1", "objects")))
  })

  it("publishes an object's files, then its manifest, then the key; an unreachable store is one clear error", async () => {
    const dir = project({})
    const local = makeLocalStore(path.join(dir, "cache"))
    const staging = Effect.runSync(local.newStaging)
    fs.writeFileSync(path.join(staging, "value.json"), JSON.stringify({ n: 1 }))
    // Over PART_BYTES: uploaded as a multipart upload, and the round trip below re-hashes every byte.
    fs.writeFileSync(path.join(staging, "big.bin"), Buffer.alloc(PART_BYTES + 12345, 7))
    const manifest = Effect.runSync(local.commit(staging))
    const writes: Array<string> = []
    const program = Effect.gen(function* () {
      const blobs = yield* s3Blobs(`s3://${s3.bucket}/order`)
      const traced = {
        ...blobs,
        writeText: (rel: string, text: string) => Effect.zipRight(Effect.sync(() => void writes.push(rel)), blobs.writeText(rel, text)),
        upload: (rel: string, file: string, e: { size: number; sha256: string }) => Effect.zipRight(Effect.sync(() => void writes.push(rel)), blobs.upload(rel, file, e)),
      }
      const remote = makeRemoteStore(traced)
      yield* remote.pushObject(local, manifest.hash)
      yield* remote.putKey({ key: "k".repeat(64), output: manifest.hash, node: "n", stage: "s", components: { stage: "s", version: 1, params: {}, inputs: {} }, ms: 1, at: "now" })
      const other = makeLocalStore(path.join(dir, "other"))
      yield* remote.fetchObject(other, manifest.hash)
      return yield* Effect.either(other.check(manifest.hash, true))
    })
    const saved = { ...process.env }
    Object.assign(process.env, s3Env(s3))
    try {
      const check = await Effect.runPromise(program)
      expect(Either.isRight(check)).toBe(true)
      expect(writes).toEqual([
        objectPath(manifest.hash, "big.bin"),
        objectPath(manifest.hash, "value.json"),
        objectPath(manifest.hash, ".mea-manifest.json"),
        keyPath("k".repeat(64)),
      ])
      process.env.MEA_S3_ENDPOINT = "http://127.0.0.1:9"
      const down = await Effect.runPromise(Effect.either(s3Blobs(`s3://${s3.bucket}/order`)))
      expect(Either.isLeft(down) && down.left.message).toMatch(/^s3:\/\/mea-test\/order: cannot reach the bucket: /)
    } finally {
      process.env = saved
    }
  })
})

describe("shared store in a folder, and corrupt records", () => {
  it("works as --store DIR; a corrupt local key record is named, then rebuilt", () => {
    const dir = project({ "p.yaml": yaml.replace("mb: 10", "mb: 1") })
    expect(cli(["run", "p.yaml", "--store", "shared", "--cache", "c1", "-q"], dir).code).toBe(0)
    const second = cli(["run", "p.yaml", "--store", "shared", "--cache", "c2", "--json"], dir)
    expect(ranIn(second.stdout)).toEqual([])
    // A truncated key record used to be a silent miss; now it is reported by path, and the node is rebuilt.
    const keys = path.join(dir, "c2", "keys")
    const sub = fs.readdirSync(keys)[0]
    const file = path.join(keys, sub, fs.readdirSync(path.join(keys, sub))[0])
    fs.writeFileSync(file, '{"key": "trunc')
    const third = cli(["run", "p.yaml", "--cache", "c2", "--json"], dir)
    expect(third.code).toBe(0)
    expect(third.stderr).toContain(`key record ${file} is unreadable (not JSON:`)
    expect(ranIn(third.stdout).length).toBe(1)
    const bad = cli(["run", "p.yaml", "--store", "ftp://host/x", "--cache", "c2"], dir)
    expect(bad.code).toBe(1)
    expect(bad.stderr.trim()).toBe("error: --store ftp://host/x: expected s3://bucket/prefix or a folder")
  })
})

describe("round trips of an upload", () => {
  it("a small object is uploaded without first asking whether the store has it; a large one is asked about, and skipped when there", () => {
    const dir = project({})
    const local = makeLocalStore(path.join(dir, "cache"))
    const commit = (name: string, bytes: number) => {
      const staging = Effect.runSync(local.newStaging)
      fs.writeFileSync(path.join(staging, name), Buffer.alloc(bytes, 3))
      return Effect.runSync(local.commit(staging)).hash
    }
    const small = commit("a.bin", 1000)
    const large = commit("b.bin", SMALL_OBJECT_BYTES + 1)
    const calls: Array<string> = []
    const blobs = folderBlobs(path.join(dir, "store"))
    const remote = makeRemoteStore({
      ...blobs,
      readText: (rel) => Effect.zipRight(Effect.sync(() => void calls.push(`read ${rel}`)), blobs.readText(rel)),
      upload: (rel, file, e) => Effect.zipRight(Effect.sync(() => void calls.push(`upload ${rel}`)), blobs.upload(rel, file, e)),
    })
    const push = (hash: string) => {
      calls.length = 0
      Effect.runSync(remote.pushObject(local, hash))
      return [...calls]
    }
    expect(push(small)).toEqual([`upload ${objectPath(small, "a.bin")}`])
    // Again: the same bytes under the same names, and the object still checks out.
    expect(push(small)).toEqual([`upload ${objectPath(small, "a.bin")}`])
    expect(push(large)).toEqual([`read ${objectPath(large, ".mea-manifest.json")}`, `upload ${objectPath(large, "b.bin")}`])
    expect(push(large)).toEqual([`read ${objectPath(large, ".mea-manifest.json")}`])
    const other = makeLocalStore(path.join(dir, "other"))
    Effect.runSync(remote.fetchObject(other, small))
    expect(Either.isRight(Effect.runSync(Effect.either(other.check(small, true))))).toBe(true)
  })
})
