/**
 * Corruption anywhere in the cache is noticed before a stage consumes it: a byte flipped deep inside a large file
 * (beyond the 64 KiB the cheap check reads), a truncated or deleted object, a garbled key record, manifest or value.
 * The corrupt artifact is quarantined and rebuilt within the same run, and the user is told which node and file.
 */
import { describe, expect, it } from "vitest"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { cli, project } from "../engine/helpers.ts"

const MB = 6
const PIPELINE = (k = 0) => `
stages:
  src: { uses: source, with: { value: 7 } }
  big: { uses: slow, inputs: { a: src }, with: { ms: 10, mb: ${MB} } }
  sum: { uses: digest, inputs: { a: big }, with: { k: ${k} } }
`
/** The slow stage writes MB MiB of the byte 7 (its input), in 20 equal chunks. */
const chunk = Math.round((MB * (1 << 20)) / 20)
const SUM = chunk * 20 * 7

interface Node {
  readonly id: string
  readonly status: string
  readonly output: string | null
  readonly warnings?: ReadonlyArray<string>
}
const nodes = (stdout: string): Record<string, Node> =>
  Object.fromEntries((JSON.parse(stdout) as { nodes: Array<Node> }).nodes.map((n) => [n.id, n]))

const setup = () => {
  const dir = project({ "p.yaml": PIPELINE() })
  const log = path.join(dir, "runs.log")
  const first = cli(["run", "p.yaml", "--json"], dir, { MEA_TEST_LOG: log })
  expect(first.code).toBe(0)
  const out = nodes(first.stdout)
  const object = (id: string) => path.join(dir, "cache", "objects", out[id].output!.slice(0, 2), out[id].output!)
  return { dir, log, out, object, runs: () => fs.readFileSync(log, "utf8").trim().split("\n") }
}

const sumOf = (dir: string): unknown => JSON.parse(cli(["show", "sum", "--json"], dir).stdout).n

describe("corruption", () => {
  it("a byte flipped deep inside a cached file is caught by the streaming reader; the producer is rebuilt and the consumer retried", () => {
    const { dir, out, object, runs } = setup()
    expect(sumOf(dir)).toBe(SUM)
    const blob = path.join(object("big"), "blob.bin")
    const bytes = fs.readFileSync(blob)
    const at = (5 << 20) + 12345 // far beyond the 64 KiB the cheap check reads
    bytes[at] ^= 0x40
    fs.writeFileSync(blob, bytes)
    // Only the consumer's param changes: `big` is a cache hit that passes the cheap check; its reader must notice.
    fs.writeFileSync(path.join(dir, "p.yaml"), PIPELINE(1))
    const r = cli(["run", "p.yaml", "--json"], dir, { MEA_TEST_LOG: path.join(dir, "runs.log") })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`output ${out.big.output!.slice(0, 12)} of node 'big' is corrupt (file blob.bin: bytes 5242880-6291455 (block 6 of 7) do not match the hash recorded when it was written); quarantined it and rebuilding it`)
    expect(r.stderr).toMatch(/rebuilt {2}big/)
    expect(r.stderr).not.toContain("manifest is missing") // the quarantined copy is not reported twice
    const after = nodes(r.stdout)
    expect(after.big.output).toBe(out.big.output) // rebuilt to the same content
    expect(after.sum.status).toBe("ran")
    expect(sumOf(dir)).toBe(SUM + 1) // the consumer saw only good bytes
    expect(runs()).toEqual(["src", "big", "sum", "sum", "big", "sum"]) // sum: first run, the attempt that hit the flip, the retry
    expect(fs.readdirSync(path.join(dir, "cache", "corrupt")).length).toBe(1)
    // src, big, and sum for k = 0 and k = 1.
    expect(cli(["verify"], dir).stdout).toContain("4 artifacts verified, 0 corrupt")
  })

  const cases: ReadonlyArray<{ name: string; damage: (object: (id: string) => string, dir: string, key: string) => void; message: RegExp }> = [
    {
      name: "a truncated file",
      damage: (object) => fs.truncateSync(path.join(object("big"), "blob.bin"), 1000),
      message: /warn {3}big: cached output [0-9a-f]{12} is corrupt \(file blob\.bin has 1000 bytes, expected 6291460\); rebuilding it/,
    },
    {
      name: "a deleted file",
      damage: (object) => fs.rmSync(path.join(object("big"), "blob.bin")),
      message: /warn {3}big: cached output [0-9a-f]{12} is corrupt \(file blob\.bin is missing\); rebuilding it/,
    },
    {
      name: "a deleted object",
      damage: (object) => fs.rmSync(object("big"), { recursive: true }),
      message: /warn {3}big: cached output [0-9a-f]{12} is corrupt \(its manifest is missing\); rebuilding it/,
    },
    {
      name: "a garbled manifest",
      damage: (object) => fs.writeFileSync(path.join(object("big"), ".mea-manifest.json"), '{"hash": "nope", "files": [{'),
      message: /warn {3}big: cached output [0-9a-f]{12} is corrupt \(its manifest is unreadable \(not JSON: [^)]*\)\); rebuilding it/,
    },
    {
      name: "a garbled value.json",
      damage: (object) => fs.writeFileSync(path.join(object("big"), "value.json"), '{"n": 8, "file": "blob.bin"}'),
      message: /warn {3}big: cached output [0-9a-f]{12} is corrupt \(file value\.json (has \d+ bytes, expected \d+|does not match its hash)\); rebuilding it/,
    },
    {
      name: "a garbled key record",
      damage: (_object, _dir, key) => fs.writeFileSync(key, "{ not json"),
      message: /warn {3}big: key record .*keys[\\/][0-9a-f]{2}[\\/][0-9a-f]{64}\.json is unreadable \(not JSON: [^)]*\); rebuilding it/,
    },
  ]
  for (const c of cases) {
    it(`${c.name} of a cached artifact is noticed, named and rebuilt`, () => {
      const { dir, out, object, runs } = setup()
      const keyOf = (JSON.parse(cli(["ls", "--json"], dir).stdout) as Array<{ hash: string; key: string; node: string }>).find((a) => a.node === "big")!.key
      c.damage(object, dir, path.join(dir, "cache", "keys", keyOf.slice(0, 2), `${keyOf}.json`))
      const r = cli(["run", "p.yaml", "--json"], dir, { MEA_TEST_LOG: path.join(dir, "runs.log") })
      expect(r.code).toBe(0)
      expect(r.stderr).toMatch(c.message)
      const after = nodes(r.stdout)
      expect(after.big.status).toBe("ran")
      expect(after.big.output).toBe(out.big.output)
      // Early cutoff: the rebuilt output is the same, so the consumer stays cached.
      expect(after.sum.status).toBe("cached")
      expect(runs()).toEqual(["src", "big", "sum", "big"])
      expect(sumOf(dir)).toBe(SUM)
      expect(cli(["verify"], dir).code).toBe(0)
    })
  }

  it("mea verify reports a deep flip, and the next run rebuilds it", () => {
    const { dir, out, object } = setup()
    const blob = path.join(object("big"), "blob.bin")
    const fd = fs.openSync(blob, "r+")
    fs.writeSync(fd, Buffer.from([0xee]), 0, 1, 3 << 20)
    fs.closeSync(fd)
    const v = cli(["verify"], dir)
    expect(v.code).toBe(1)
    expect(v.stdout).toContain(`corrupt ${out.big.output!.slice(0, 12)}: file blob.bin does not match its hash (quarantined; the next run rebuilds it)`)
    const r = cli(["run", "p.yaml", "--json"], dir)
    expect(r.code).toBe(0)
    expect(nodes(r.stdout).big.status).toBe("ran")
    expect(cli(["verify"], dir).stdout).toContain("3 artifacts verified, 0 corrupt")
  })

  it("blocks are hashed with xxh64 and the manifest says so; a manifest of an earlier mea (sha256-128, no blockHash) is still checked", () => {
    const { dir, out, object } = setup()
    const manifestFile = path.join(object("big"), ".mea-manifest.json")
    const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as {
      blockHash?: string
      blockBytes: number
      files: Array<{ name: string; blocks?: Array<string> }>
    }
    expect(manifest.blockHash).toBe("xxh64")
    const entry = manifest.files.find((f) => f.name === "blob.bin")!
    expect(entry.blocks).toHaveLength(MB + 1)
    for (const b of entry.blocks!) expect(b).toMatch(/^[0-9a-f]{16}$/)
    // Rewrite the manifest as an earlier mea wrote it: 128 bits of SHA-256 per block, no blockHash field.
    const bs = manifest.blockBytes
    for (const f of manifest.files) {
      const content = fs.readFileSync(path.join(object("big"), f.name))
      f.blocks = Array.from({ length: Math.ceil(content.length / bs) }, (_, i) =>
        createHash("sha256").update(content.subarray(i * bs, (i + 1) * bs)).digest("hex").slice(0, 32),
      )
    }
    const blob = path.join(object("big"), "blob.bin")
    const bytes = fs.readFileSync(blob)
    delete manifest.blockHash
    fs.writeFileSync(manifestFile, JSON.stringify(manifest))
    fs.writeFileSync(path.join(dir, "p.yaml"), PIPELINE(1))
    const clean = cli(["run", "p.yaml", "--json"], dir)
    expect(clean.code).toBe(0)
    expect(clean.stderr).not.toContain("corrupt")
    expect(sumOf(dir)).toBe(SUM + 1)
    // And a flipped byte is still found against those older hashes.
    bytes[(3 << 20) + 7] ^= 0x01
    fs.writeFileSync(blob, bytes)
    fs.writeFileSync(path.join(dir, "p.yaml"), PIPELINE(2))
    const r = cli(["run", "p.yaml", "--json"], dir)
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`output ${out.big.output!.slice(0, 12)} of node 'big' is corrupt (file blob.bin: bytes 3145728-4194303 (block 4 of 7)`)
    expect(sumOf(dir)).toBe(SUM + 2)
  })
})
