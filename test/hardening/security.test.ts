/**
 * The HTTP provider's API key never leaves the process except in its Authorization header: not in logs, --json,
 * cache keys, records, artifacts or error messages. And nothing in a pipeline, TSV or JSON makes mea write outside
 * the cache and the report folder.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { sine, writeWav } from "../audio/fixtures.ts"
import { cliAsync, project } from "../engine/helpers.ts"

const KEY = `sk-mea-test-${Math.random().toString(36).slice(2)}${Date.now()}`
let server: http.Server
let base = ""
const auth: Array<string | undefined> = []

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = ""
    auth.push(req.headers.authorization)
    req.on("data", (c) => (raw += c))
    req.on("end", () => {
      const input = (JSON.parse(raw) as { input: Array<string> }).input
      // /fail echoes the request headers back in its error body, as a careless server might.
      if (req.url?.startsWith("/fail")) res.writeHead(401).end(`unauthorized: ${JSON.stringify(req.headers)}`)
      else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: input.map((t, index) => ({ index, embedding: [t.length, 1, 2] })) }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

/** Every file under `dir`, as text, with its path. */
const everything = (dir: string): Array<[string, string]> =>
  (fs.readdirSync(dir, { recursive: true }) as Array<string>)
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile())
    .map((f) => [f, fs.readFileSync(f).toString("latin1")])

describe("the HTTP provider's API key", () => {
  it("never appears in output, --json, the cache (keys, records, artifacts) or error messages", async () => {
    const yaml = (url: string) => `stages:\n  labels: { uses: label-embed, with: { provider: http, url: "${url}", model: m, labels: [happy, sad], api_key_env: MEA_TEST_KEY, retries: 0, backoff_ms: 1 } }\n`
    const dir = project({ "p.yaml": yaml(base), "bad.yaml": yaml(`${base}/fail`) })
    const env = { MEA_TEST_KEY: KEY }
    const outputs = [
      await cliAsync(["run", "p.yaml", "--json"], dir, env).done,
      await cliAsync(["run", "p.yaml"], dir, env).done,
      await cliAsync(["run", "bad.yaml", "--json"], dir, env).done,
      await cliAsync(["run", "bad.yaml"], dir, { ...env, MEA_DEBUG: "1" }).done,
      await cliAsync(["status", "p.yaml", "--json"], dir, env).done,
      await cliAsync(["explain", "p.yaml", "labels"], dir, env).done,
      await cliAsync(["ls", "--json"], dir, env).done,
      await cliAsync(["show", "labels", "--json"], dir, env).done,
      await cliAsync(["run", "p.yaml", "--dry-run", "--json"], dir, env).done,
    ]
    expect(outputs[0].code).toBe(0)
    expect(outputs[2].code).toBe(1)
    expect(outputs[2].stderr).toMatch(/HTTP 401/)
    // The key was really used (so the greps below could have found it).
    expect(auth).toContain(`Bearer ${KEY}`)
    for (const o of outputs) {
      expect(o.stdout).not.toContain(KEY)
      expect(o.stderr).not.toContain(KEY)
    }
    for (const [file, text] of everything(dir)) expect(text.includes(KEY) ? file : "").toBe("")
  })
})

describe("writes stay in the cache and the report folder", () => {
  const nested = () => {
    const outer = fs.mkdtempSync(path.join(os.tmpdir(), "mea-confine-"))
    const dir = path.join(outer, "proj")
    fs.mkdirSync(dir)
    return { outer, dir }
  }
  const run = async (dir: string, yaml: string, files: Record<string, string | Buffer> = {}) => {
    fs.writeFileSync(path.join(dir, "p.yaml"), yaml)
    for (const [name, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
      fs.writeFileSync(path.join(dir, name), content)
    }
    return cliAsync(["run", "p.yaml"], dir).done
  }

  it("a node id like ../../x is refused", async () => {
    const { outer, dir } = nested()
    const r = await run(dir, 'stages:\n  "../../x": { uses: source, with: { value: 1 } }\n')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("node id '../../x' has characters other than letters, digits, '_', '-', '.'")
    const item = await run(dir, 'stages:\n  a:\n    uses: source\n    foreach: [{ id: "../../x" }]\n    with: { value: 1 }\n')
    expect(item.code).toBe(2)
    expect(item.stderr).toContain("node id 'a.../../x' has characters other than letters, digits, '_', '-', '.'")
    expect(fs.readdirSync(outer)).toEqual(["proj"])
  })

  for (const out of ["/tmp/mea-escape", "../escape", "reports/../../escape", "${where}"]) {
    it(`a report 'out' of ${out} is refused with the line and what was expected`, async () => {
      const { outer, dir } = nested()
      const yaml = `params: { where: "../p-escape" }\nstages:\n  report:\n    uses: report\n    inputs: { evaluations: [], models: [], clusters: [] }\n    with: { out: "${out}" }\n`
      const r = await run(dir, yaml)
      expect(r.code).toBe(2)
      const shown = out === "${where}" ? "../p-escape" : out
      expect(r.stderr.trim()).toBe(
        `error: p.yaml:6:18: stages.report.with.out: expected a folder below the working directory (no absolute path, no '..'), found ${JSON.stringify(shown)} (node 'report', stage 'report')`,
      )
      expect(fs.readdirSync(outer)).toEqual(["proj"])
      expect(fs.existsSync("/tmp/mea-escape")).toBe(false)
    })
  }

  it("track ids and audio paths like ../../x in a metadata TSV write nothing outside the cache", async () => {
    const { outer, dir } = nested()
    const header = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS"
    const line = (id: string, rel: string, tag: string) => [id, "artist_1", "album_1", rel, "2.0", `mood/theme---${tag}`].join("\t")
    const wav = path.join(outer, "outside.wav")
    writeWav(wav, [sine(440, 0.3, 8000, 1.5)], 8000)
    const tsv = [header, line("track_../../x", "../../outside.wav", "happy"), line("track_0000002", "../../outside.wav", "sad")].join("\n") + "\n"
    const before = fs.readdirSync(outer).sort()
    const r = await run(dir, "stages:\n  data: { uses: dataset, inputs: { root: mtg }, with: { format: mtg-jamendo, name: mtg } }\n  decode: { uses: decode, inputs: { dataset: data }, with: { rate: 8000 } }\n", {
      "mtg/autotagging_moodtheme.tsv": tsv,
    })
    // Whether mea accepts such rows or refuses them, it writes nothing next to the project.
    expect(r.stderr).not.toMatch(/^\s+at /m)
    expect(fs.readdirSync(outer).sort()).toEqual(before)
    const written = (fs.readdirSync(dir, { recursive: true }) as Array<string>).filter((f) => !f.startsWith("cache") && !f.startsWith("mtg") && f !== "p.yaml")
    expect(written).toEqual([])
  })
})
