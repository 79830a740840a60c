import { Either } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { LabelEmbedStage } from "../../src/stages/label-embed.ts"
import { type LabelEmbeddings } from "../../src/artifacts/label-embeddings.ts"
import { readNpy } from "../../src/io/npy.ts"
import { runStagePromise } from "../support/stage-harness.ts"
import * as path from "node:path"

/** A loopback embeddings server whose behaviour each test scripts, recording every request. */
type Reply = (body: { model: string; input: ReadonlyArray<string> }, res: http.ServerResponse) => void
let script: Array<Reply> = []
const requests: Array<{ url: string; auth: string | undefined; body: { model: string; input: ReadonlyArray<string> } }> = []
let server: http.Server
let base = ""

const vectorOf = (text: string): Array<number> => [text.length, text.charCodeAt(0), 1]
const openAiOk: Reply = (body, res) => {
  // Deliberately out of order: the client must sort by index.
  const data = body.input.map((t, index) => ({ index, embedding: vectorOf(t) })).reverse()
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data }))
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = ""
    req.on("data", (c) => (raw += c))
    req.on("end", () => {
      const body = JSON.parse(raw)
      requests.push({ url: req.url ?? "", auth: req.headers.authorization, body })
      const reply = script.shift() ?? openAiOk
      reply(body, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const run = (params: Record<string, unknown>) => {
  requests.length = 0
  return runStagePromise(LabelEmbedStage, {
    params: { provider: "http", url: base, model: "tiny", labels: ["happy", "sad", "calm"], backoff_ms: 10, normalise: false, ...params },
  })
}

describe("http provider", () => {
  it("retries after a 429 and then succeeds, rows in label order", async () => {
    script = [(_, res) => res.writeHead(429, { "retry-after": "0" }).end("slow down"), openAiOk]
    const r = await run({})
    expect(requests).toHaveLength(2)
    expect(requests[0].url).toBe("/v1/embeddings")
    expect(requests[0].body).toEqual({ model: "tiny", input: ["happy", "sad", "calm"] })
    expect(r.warnings.join("\n")).toMatch(/HTTP 429; retry 1\/4/)
    const v = r.value as LabelEmbeddings
    const m = Either.getOrThrow(readNpy(path.join(r.outDir, v.file)))
    expect(Array.from(m.data as Float32Array)).toEqual([...vectorOf("happy"), ...vectorOf("sad"), ...vectorOf("calm")])
    expect(v.model).toBe("tiny")
  })
  it("fails at once on a malformed body, saying what shape was expected", async () => {
    script = [(_, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: [{ vector: [1] }] }))]
    await expect(run({})).rejects.toMatchObject({ message: expect.stringMatching(/does not have the shape \{"data": \[\{"embedding"/) })
    expect(requests).toHaveLength(1)
    script = [(_, res) => res.writeHead(200).end("<html>oops</html>")]
    await expect(run({})).rejects.toMatchObject({ message: expect.stringMatching(/answer is not JSON/) })
  })
  it("times out, retries, then gives up naming the timeout", async () => {
    const hang: Reply = (body, res) => void setTimeout(() => openAiOk(body, res), 400)
    script = [hang, hang]
    await expect(run({ timeout_ms: 60, retries: 1 })).rejects.toMatchObject({ message: expect.stringMatching(/gave up after 2 attempts, last: no answer within 60 ms/) })
    expect(requests).toHaveLength(2)
    await new Promise((r) => setTimeout(r, 450))
    script = []
  })
  it("does not retry a 4xx other than 429", async () => {
    script = [(_, res) => res.writeHead(404).end("no such model")]
    await expect(run({})).rejects.toMatchObject({ message: expect.stringMatching(/HTTP 404: no such model/) })
    expect(requests).toHaveLength(1)
  })
  it("batches", async () => {
    script = []
    await run({ batch_size: 2 })
    expect(requests.map((r) => r.body.input)).toEqual([["happy", "sad"], ["calm"]])
  })
  it("speaks Ollama's /api/embed", async () => {
    script = [(body, res) => res.writeHead(200).end(JSON.stringify({ model: body.model, embeddings: body.input.map(vectorOf) }))]
    const r = await run({ api: "ollama" })
    expect(requests[0].url).toBe("/api/embed")
    expect((r.value as LabelEmbeddings).dim).toBe(3)
  })
  it("sends the API key from the named environment variable and never shows it", async () => {
    process.env.MEA_TEST_EMBED_KEY = "s3cret-key"
    try {
      script = [(_, res) => res.writeHead(500).end("boom"), (_, res) => res.writeHead(500).end("boom")]
      const err = await run({ api_key_env: "MEA_TEST_EMBED_KEY", retries: 1 }).catch((e: unknown) => e)
      expect(requests.map((r) => r.auth)).toEqual(["Bearer s3cret-key", "Bearer s3cret-key"])
      expect(JSON.stringify(err)).not.toContain("s3cret")
      expect(String((err as Error).message)).toMatch(/HTTP 500/)
      const ok = await run({ api_key_env: "MEA_TEST_EMBED_KEY" })
      expect(JSON.stringify(ok)).not.toContain("s3cret")
    } finally {
      delete process.env.MEA_TEST_EMBED_KEY
    }
    await expect(run({ api_key_env: "MEA_TEST_EMBED_KEY" })).rejects.toMatchObject({ message: expect.stringMatching(/MEA_TEST_EMBED_KEY .* is not set/) })
  })
  it("applies the template and averages augmented expansions", async () => {
    script = []
    const r = await run({ template: "music that feels {label}", augmentation: { calm: ["calm", "peaceful"] } })
    expect(requests[0].body.input).toEqual(["music that feels happy", "music that feels sad", "music that feels calm", "music that feels peaceful"])
    const v = r.value as LabelEmbeddings
    expect(v.texts[2]).toEqual(["music that feels calm", "music that feels peaceful"])
    const m = Either.getOrThrow(readNpy(path.join(r.outDir, v.file))).data as Float32Array
    const a = vectorOf("music that feels calm")
    const b = vectorOf("music that feels peaceful")
    expect(Array.from(m.subarray(6, 9))).toEqual(a.map((x, k) => (x + b[k]) / 2))
  })
})
