/**
 * What the training benches measure a step against: its FLOPs, and this machine's sgemm peak on the net's biggest
 * shape (256 x 3072 x 768) through onnxruntime's MatMul and through numpy/OpenBLAS (Debian's python3-numpy with
 * libopenblas0-pthread), each the median of 30 runs after 5 warm-ups.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { onnxRuntime } from "../src/model/forward-backward.ts"
import { referenceConfig } from "../src/model/nets.ts"
import { GraphBuilder } from "../src/model/onnx/builder.ts"

/** Multiply-adds x 2 of one training step of the attention net at batch B (forward, backward without dL/dx). */
export const stepFlops = (B: number, inDim: number, outDim: number): number => {
  const c = referenceConfig("attention", inDim, outDim)
  const h = c.hidden
  const layers: Array<[number, number]> = [[c.in_dim, h]]
  for (let i = 0; i < c.num_layers; i++) layers.push([h, h], [h, h], [h, c.ff], [c.ff, h])
  layers.push([h, c.out_dim])
  const linear = layers.reduce((a, [i, o]) => a + 2 * B * i * o, 0)
  const similarity = 2 * B * B * c.out_dim
  // Forward; backward: dW of every layer, dx of all but the first, and (dS + dSᵀ)·A for the similarity.
  return linear + similarity + (2 * linear - 2 * B * c.in_dim * h) + similarity
}

/** onnxruntime MatMul of (batch x 3072) @ (3072 x 768), GFLOP/s. */
export const ortPeak = async (batch: number, threads: number): Promise<number> => {
  const ort = onnxRuntime()
  const g = new GraphBuilder("peak", "float32")
  const a = g.input("a", [batch, 3072])
  const b = g.input("b", [3072, 768])
  g.output(g.op("MatMul", [a, b]), "c", [batch, 768])
  const s = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential" })
  const feeds = { a: new ort.Tensor("float32", new Float32Array(batch * 3072).fill(0.5), [batch, 3072]), b: new ort.Tensor("float32", new Float32Array(3072 * 768).fill(0.25), [3072, 768]) }
  const fetches = { c: new ort.Tensor("float32", new Float32Array(batch * 768), [batch, 768]) }
  for (let i = 0; i < 5; i++) await s.run(feeds, fetches)
  const times: Array<number> = []
  for (let i = 0; i < 30; i++) {
    const t = performance.now()
    await s.run(feeds, fetches)
    times.push(performance.now() - t)
  }
  await s.release()
  times.sort((x, y) => x - y)
  return (2 * batch * 3072 * 768) / (times[Math.floor(times.length / 2)] / 1000) / 1e9
}

/** Debian's interpreter, where python3-numpy and python3-torch live, over any python3 earlier on PATH. */
export const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3"

/** numpy's a @ b on the same shape, GFLOP/s; undefined without numpy. */
export const numpyPeak = (batch: number, threads: number): number | undefined => {
  const r = spawnSync(
    python,
    [
      "-c",
      `import os\nos.environ["OPENBLAS_NUM_THREADS"]="${threads}"\nimport numpy as np, time\na=np.full((${batch},3072),0.5,np.float32); b=np.full((3072,768),0.25,np.float32)\nfor _ in range(5): a@b\nts=[]\nfor _ in range(30):\n t=time.perf_counter(); a@b; ts.append(time.perf_counter()-t)\nts.sort(); print(2*${batch}*3072*768/ts[15]/1e9)`,
    ],
    { encoding: "utf8", env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads) } },
  )
  return r.status === 0 ? Number(r.stdout.trim()) : undefined
}
