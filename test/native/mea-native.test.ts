/**
 * The in-place onnxruntime binding (src/native/mea-native.c): outputs land in the caller's arrays and nothing else is
 * handed back; a training step through it computes bit for bit what onnxruntime-node computes; bad arguments are
 * errors that name the tensor, not crashes; and where it cannot be built, mea says why and trains through
 * onnxruntime-node. Needs a C compiler and Node's headers (the machine's `cc`); .ci/run sets MEA_REQUIRE_NATIVE=1.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { expect, it } from "vitest"
import { NetEngine } from "../../src/model/forward-backward.ts"
import { openGraphSession } from "../../src/model/graph-session.ts"
import { buildNet } from "../../src/model/nets.ts"
import { GraphBuilder } from "../../src/model/onnx/builder.ts"
import { Either } from "effect"
import { AdamW } from "../../src/model/adamw.ts"
import { columnStatistics } from "../../src/model/standardise.ts"
import { DropoutMasks } from "../../src/model/forward-backward.ts"
import { initWeights } from "../../src/model/nets.ts"
import { Rng } from "../../src/model/rng.ts"
import { buildBinding, loadMeaNative, meaNative } from "../../src/native/mea-native.ts"
import { projectRoot } from "../../src/util/project-root.ts"
import { describeIfPresent } from "../support/requires.ts"

const compiler = spawnSync("cc", ["--version"]).status === 0
const missing = process.platform !== "linux" ? "Linux" : compiler ? undefined : "a C compiler (cc)"

/** x -> (x + 1, 2x): two outputs of the input's shape. */
const twoOutputs = (): Uint8Array => {
  const g = new GraphBuilder("t", "float32")
  const x = g.input("x", ["n"])
  g.output(g.op("Add", [x, g.scalar(1)]), "plus")
  g.output(g.op("Add", [x, x]), "twice")
  return g.toBytes()
}

describeIfPresent("in-place onnxruntime binding", missing, "MEA_REQUIRE_NATIVE", () => {
  it("builds and loads with onnxruntime-node's library", () => {
    const ort = meaNative()
    if (typeof ort === "string") throw new Error(ort)
    expect(ort.version).toMatch(/^1\.\d+\.\d+/)
  })

  it("writes outputs into the given arrays and hands nothing back for them", async () => {
    const s = await openGraphSession(twoOutputs(), 1, "in-place")
    expect(s.binding).toBe("in-place")
    expect([...s.inputNames]).toEqual(["x"])
    expect([...s.outputNames].sort()).toEqual(["plus", "twice"])
    const plus = new Float32Array(3)
    const twice = new Float32Array(3)
    const back = await s.run([{ name: "x", data: Float32Array.of(1, 2, 3), dims: [3] }], [
      { name: "plus", data: plus, dims: [3] },
      { name: "twice", data: twice, dims: [3] },
    ])
    expect(back).toEqual([])
    expect([...plus]).toEqual([2, 3, 4])
    // A run lets the event loop turn first (signals, timers and heartbeats get through a training epoch).
    let turned = false
    setImmediate(() => void (turned = true))
    await s.run([{ name: "x", data: Float32Array.of(1, 2, 3), dims: [3] }], [{ name: "plus", data: plus, dims: [3] }])
    expect(turned).toBe(true)
    expect([...twice]).toEqual([2, 4, 6])
    // A run that does not know an output's shape yet gets it allocated, with its dims.
    const learned = await s.run([{ name: "x", data: Float32Array.of(5, 6), dims: [2] }], [{ name: "plus", data: new Float32Array(2), dims: [2] }], ["twice"])
    expect(learned.map((f) => [f.name, [...f.dims], [...f.data]])).toEqual([["twice", [2], [10, 12]]])
    await s.release()
    await s.release()
  })

  it("refuses bad arguments with errors that name the tensor", async () => {
    const s = await openGraphSession(twoOutputs(), 1, "in-place")
    const x = { name: "x", data: Float32Array.of(1, 2, 3), dims: [3] }
    const out = (n: number) => ({ name: "plus", data: new Float32Array(n), dims: [n] })
    await expect(s.run([{ ...x, dims: [4] }], [out(3)])).rejects.toThrow("input 'x': dims hold 4 elements, the array 3")
    await expect(s.run([x], [out(2)])).rejects.toThrow(/onnxruntime run: .*plus/)
    await expect(s.run([{ ...x, name: "nope" }], [out(3)])).rejects.toThrow(/onnxruntime run: .*nope/)
    await expect(s.run([{ ...x, data: new Int32Array(3) as unknown as Float32Array }], [out(3)])).rejects.toThrow("input 'x': expected a Float32Array or Float64Array")
    await expect(s.run([{ ...x, dims: [-3] }], [out(3)])).rejects.toThrow("dims must be non-negative integers")
    await s.release()
    await expect(s.run([x], [out(3)])).rejects.toThrow("released")
    const ort = meaNative()
    if (typeof ort === "string") throw new Error(ort)
    expect(() => ort.createSession(Uint8Array.of(1, 2, 3), 1)).toThrow(/onnxruntime session: /)
  })

  it("trains bit for bit like onnxruntime-node: forward, backward and embed of a small attention net", async () => {
    const config = { net: "attention", in_dim: 24, out_dim: 8, hidden: 16, heads: 4, ff: 32, num_layers: 2, dropout: 0.1 } as const
    const net = buildNet(config)
    const rows = 6
    const rng = new Rng(3, "native")
    const weights = initWeights(net.params, rng)
    const x = Float32Array.from({ length: rows * config.in_dim }, () => rng.next() * 2 - 1)
    const dA = Float32Array.from({ length: rows * config.out_dim }, () => rng.next() - 0.5)
    const dS = Float32Array.from({ length: rows * rows }, () => rng.next() - 0.5)
    const masks = new DropoutMasks(net.masks).draw(rows, rng)
    const step = async (binding: "in-place" | "onnxruntime-node") => {
      const engine = await NetEngine.create(net, config.in_dim, { threads: 2, binding })
      expect(engine.binding).toBe(binding)
      // Twice: the first run of a batch size learns the output shapes, the second writes into the kept buffers.
      let f = await engine.forward(weights, x, rows, masks)
      f = await engine.forward(weights, x, rows, masks)
      const anchors = Float32Array.from(f.anchors)
      const grads = new Map([...(await engine.backward(weights, f, masks, dA, dS))].map(([k, v]) => [k, Float32Array.from(v)]))
      await engine.embed(weights, x, rows)
      const embedding = Float32Array.from(await engine.embed(weights, x, rows))
      await engine.release()
      return { anchors, grads, embedding }
    }
    const native = await step("in-place")
    const node = await step("onnxruntime-node")
    expect(native.anchors).toEqual(node.anchors)
    expect(native.embedding).toEqual(node.embedding)
    expect([...native.grads.keys()]).toEqual([...node.grads.keys()])
    for (const [name, g] of native.grads) expect(g, name).toEqual(node.grads.get(name))
    expect([...native.grads.values()].some((g) => g.some((v) => v !== 0))).toBe(true)
  })

  const sizes = [["a", 5000], ["b", 3001], ["c", 2], ["d", 7]] as const
  const f32 = (n: number) => new Float32Array(n)
  const tensors = (seed: number, make: (n: number) => Float32Array): Map<string, Float32Array> => {
    const rng = new Rng(seed, "t")
    const m = new Map<string, Float32Array>()
    for (const [name, n] of sizes) m.set(name, Float32Array.from(make(n), () => rng.next() * 2 - 1))
    return m
  }

  it("AdamW: the native kernel (1 and 3 threads) gives the WebAssembly kernel's bits, step after step", () => {
    // Large enough that every thread gets a share of each tensor, odd sizes for the cuts between them.
    const big = (seed: number) => {
      const m = tensors(seed, f32)
      const rng = new Rng(seed, "big")
      m.set("big", Float32Array.from({ length: 100_003 }, () => rng.next() * 2 - 1))
      return m
    }
    const runs = [
      new AdamW({ lr: 0.01, weightDecay: 0.01, native: false }),
      new AdamW({ lr: 0.01, weightDecay: 0.01, threads: 1 }),
      new AdamW({ lr: 0.01, weightDecay: 0.01, threads: 3 }),
    ].map((opt) => ({ opt, w: big(1), g: big(2) }))
    expect(runs.map((r) => r.opt.kernel)).toEqual(["webassembly", "native", "native"])
    for (let step = 0; step < 4; step++) {
      for (const r of runs) {
        r.opt.update(r.w, r.g)
        for (const [k, g] of r.g) g.set(big(10 + step).get(k)!)
      }
    }
    const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length)
    for (const [k, w] of runs[0].w) {
      expect(bits(runs[1].w.get(k)!), k).toEqual(bits(w))
      expect(bits(runs[2].w.get(k)!), k).toEqual(bits(w))
    }
    expect(runs[0].w.get("big")![7]).not.toBe(big(1).get("big")![7])
  })

  it("dropout masks: the native kernel draws the JS loop's values and leaves the stream where the loop does", () => {
    const ort = meaNative()
    if (typeof ort === "string") throw new Error(ort)
    for (const [p, block, width, make] of [
      [0.1, 1, 3072, f32],
      [0.1, 96, 768, f32],
      [0.5, 1, 7, (n: number) => new Float64Array(n)],
      [1, 4, 16, f32],
      [0.3, 5, 12, f32],
    ] as const) {
      const js = new Rng(9, "mask")
      const native = new Rng(9, "mask")
      for (let round = 0; round < 3; round++) {
        const a = make(5 * width + (block === 1 ? 3 : 0))
        const b = make(a.length)
        js.fillMask(a, block, p * 4294967296, 1 / (1 - p))
        native.fillMask(b, block, p * 4294967296, 1 / (1 - p), ort.fillMask)
        expect(b, `p ${p}, block ${block}`).toEqual(a)
      }
      expect(native.u32()).toBe(js.u32())
    }
    // Not vacuous: a mask at p = 0.1 has zeros and kept entries.
    const m = new Float32Array(1000)
    new Rng(1).fillMask(m, 1, 0.1 * 4294967296, 1 / 0.9, ort.fillMask)
    expect(m.filter((v) => v === 0).length).toBeGreaterThan(50)
    expect(m.filter((v) => v === Math.fround(1 / 0.9)).length).toBeGreaterThan(800)
  })

  it("column statistics: the native kernel gives the JS loops' bits and names the same first non-finite value", () => {
    const dim = 37
    const n = 2500
    const rng = new Rng(4, "stats")
    // Columns far from zero and on different scales, where a careless sum would lose bits.
    const data = Float32Array.from({ length: n * dim }, (_, i) => 1000 * (i % dim) + (rng.next() - 0.5) * (1 + (i % 5)))
    const source = {
      dim,
      gather: (idx: ArrayLike<number>, out: Float32Array, offset = 0) => {
        for (let k = 0; k < idx.length; k++) out.set(data.subarray(idx[k] * dim, (idx[k] + 1) * dim), (offset + k) * dim)
      },
      close: () => undefined,
    }
    const rows = Array.from({ length: n }, (_, i) => (i * 7) % n)
    const stats = (native: boolean) => columnStatistics([{ name: "d", source, rows }], 300, undefined, { native })
    const [c, js] = [stats(true), stats(false)]
    if (Either.isLeft(c) || Either.isLeft(js)) throw new Error("statistics failed")
    expect(c.right.mean).toEqual(js.right.mean)
    expect(c.right.std).toEqual(js.right.std)
    expect(js.right.std[3]).toBeGreaterThan(0.1)
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      data[1234 * dim + 5] = bad
      data[1500 * dim + 2] = Number.NaN
      const [a, b] = [stats(true), stats(false)]
      if (Either.isRight(a) || Either.isRight(b)) throw new Error("a non-finite value went unnoticed")
      expect(a.left.message).toBe(b.left.message)
      expect(a.left.message).toContain(`feature row 1234, column 5 is ${bad}`)
    }
  })

  it("says why it is unavailable and leaves onnxruntime-node to run the graphs", async () => {
    const off = loadMeaNative({ off: true })
    expect(off).toBe("MEA_NATIVE=off")
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "mea-native-"))
    try {
      expect(() => buildBinding(projectRoot(), { outDir, cc: path.join(outDir, "no-such-cc") })).toThrow(/no-such-cc could not compile mea-native\.c/)
      expect(loadMeaNative({ outDir, cc: path.join(outDir, "no-such-cc") })).toMatch(/could not compile/)
      expect(fs.readdirSync(outDir)).toEqual([])
      // A build lands under the hash of its source and is reused, not rebuilt; it replaces builds of earlier sources
      // and what a killed compile left a while ago, not a compile in progress.
      const stale = path.join(outDir, "mea-native-0000000000000000.node")
      const leftover = path.join(outDir, "mea-native-0000000000000000.node.123.tmp")
      const running = path.join(outDir, "mea-native-1111111111111111.node.456.tmp")
      for (const f of [stale, leftover, running]) fs.writeFileSync(f, "x")
      fs.utimesSync(leftover, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000))
      const built = buildBinding(projectRoot(), { outDir })
      expect(fs.readdirSync(outDir).sort()).toEqual([path.basename(built), path.basename(running)].sort())
      expect(path.basename(built)).toMatch(/^mea-native-[0-9a-f]{16}\.node$/)
      const mtime = fs.statSync(built).mtimeMs
      expect(buildBinding(projectRoot(), { outDir, cc: path.join(outDir, "no-such-cc") })).toBe(built)
      expect(fs.statSync(built).mtimeMs).toBe(mtime)
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true })
    }
    const s = await openGraphSession(twoOutputs(), 1, "onnxruntime-node")
    expect(s.binding).toBe("onnxruntime-node")
    const plus = new Float32Array(2)
    await s.run([{ name: "x", data: Float32Array.of(1, 2), dims: [2] }], [{ name: "plus", data: plus, dims: [2] }])
    expect([...plus]).toEqual([2, 3])
    await s.release()
  })

  it("the train stage gives the same model with and without the addon, and says when it goes without", () => {
    const train = (native: string) => {
      const r = spawnSync(process.execPath, ["--import", "tsx", path.join(projectRoot(), "test/native/train-child.ts")], {
        cwd: projectRoot(),
        env: { ...process.env, MEA_NATIVE: native },
        encoding: "utf8",
      })
      if (r.status !== 0) throw new Error(r.stderr)
      return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { notes: Array<string>; curves: Array<unknown>; files: Record<string, string> }
    }
    const [on, off] = [train(""), train("off")]
    expect(off.files).toEqual(on.files)
    expect(off.curves).toEqual(on.curves)
    expect(Object.keys(on.files).length).toBeGreaterThan(0)
    expect(on.notes.filter((n) => n.includes("onnxruntime-node"))).toEqual([])
    expect(off.notes).toContain("train: onnxruntime runs through onnxruntime-node, which copies every output (the in-place binding is unavailable: MEA_NATIVE=off)")
  }, 120_000)

  it("a process with MEA_NATIVE=off trains through onnxruntime-node", () => {
    const script = `import { NetEngine } from "./src/model/forward-backward.ts"; import { buildNet } from "./src/model/nets.ts";
const net = buildNet({ net: "linear", in_dim: 4, out_dim: 2, hidden: 3, heads: 0, ff: 0, num_layers: 1, dropout: 0 });
const e = await NetEngine.create(net, 4, { threads: 1 });
console.log(e.binding); await e.release()
await NetEngine.create(net, 4, { threads: 1, binding: "in-place" }).catch((err) => console.log(err.message))`
    const run = (env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: projectRoot(), env: { ...process.env, ...env }, encoding: "utf8" })
    const off = run({ MEA_NATIVE: "off" })
    expect(off.stderr).toBe("")
    expect(off.stdout.trim().split("\n")).toEqual(["onnxruntime-node", "the in-place onnxruntime binding is not available: MEA_NATIVE=off"])
    expect(run({ MEA_NATIVE: "" }).stdout.trim()).toBe("in-place")
  })
})
