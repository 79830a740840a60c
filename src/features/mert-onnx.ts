/**
 * MERT through ONNX: the model contract mea expects, per-segment input normalisation, batched inference and pooling.
 *
 * Contract (checked when the model is loaded, see `resolveMertContract`):
 * - input `input_values`: float32 [batch, samples], mono audio at 24 kHz. An optional `attention_mask` input (int64
 *   [batch, samples]) is fed with ones; any other input is an error.
 * - hidden states, in one of two layouts:
 *   "stacked": one output `hidden_states` float32 [batch, layers, frames, dim]; or
 *   "list": outputs `hidden_states.0` .. `hidden_states.{L-1}` (or `hidden_states_0` ..), each [batch, frames, dim].
 *   Other outputs (e.g. `last_hidden_state`) are ignored. For MERT-v1-95M: 13 x 768; MERT-v1-330M: 25 x 1024.
 */
import { Effect } from "effect"
import { float32Tensor, formatValueInfo, int64Tensor, OnnxError, type OnnxSession, type Tensor, type ValueInfo } from "../onnx/runtime.ts"

export const MERT_SAMPLE_RATE = 24000
export const INPUT_NAME = "input_values"
export const MASK_NAME = "attention_mask"
const STACKED_NAME = "hidden_states"
const LIST_NAME = /^hidden_states[._](\d+)$/

export type Pooling = "first" | "mean"

export interface MertContract {
  readonly layout: "stacked" | "list"
  /** Output names to fetch: one (stacked) or one per layer (list), in layer order. */
  readonly fetches: ReadonlyArray<string>
  /** Known from the model's declared shapes; undefined when a dimension is symbolic (checked on the first batch). */
  readonly layers: number | undefined
  readonly dim: number | undefined
  readonly hasMask: boolean
  readonly layerNames: ReadonlyArray<string>
}

const EXPECTED =
  `expected input "${INPUT_NAME}" float32 [batch, samples] and either output "${STACKED_NAME}" float32 [batch, layers, frames, dim] ` +
  `or outputs "hidden_states.0".."hidden_states.N" float32 [batch, frames, dim]`

const fail = (session: OnnxSession, what: string): OnnxError =>
  new OnnxError({
    message:
      `${session.path} does not follow the MERT contract: ${what}; ${EXPECTED}. ` +
      `The model has inputs ${session.inputs.map(formatValueInfo).join(", ") || "(none)"} and outputs ${session.outputs.map(formatValueInfo).join(", ") || "(none)"}. ` +
      `See the README (MERT) for an export recipe.`,
  })

const numeric = (d: number | string | undefined): number | undefined => (typeof d === "number" && d > 0 ? d : undefined)

const checkFloat = (session: OnnxSession, v: ValueInfo, rank: number, form: string): Effect.Effect<void, OnnxError> =>
  v.type !== "float32"
    ? Effect.fail(fail(session, `output "${v.name}" is ${v.type}, expected float32`))
    : v.shape.length !== 0 && v.shape.length !== rank
      ? Effect.fail(fail(session, `output "${v.name}" has rank ${v.shape.length} ([${v.shape.join(", ")}]), expected ${rank} (${form})`))
      : Effect.void

/** Checks a loaded session against the contract and says how to read its hidden states. */
export const resolveMertContract = (session: OnnxSession): Effect.Effect<MertContract, OnnxError> =>
  Effect.gen(function* () {
    const input = session.inputs.find((i) => i.name === INPUT_NAME)
    if (input === undefined) return yield* Effect.fail(fail(session, `no input named "${INPUT_NAME}"`))
    if (input.type !== "float32") return yield* Effect.fail(fail(session, `input "${INPUT_NAME}" is ${input.type}, expected float32`))
    if (input.shape.length !== 0 && input.shape.length !== 2) {
      return yield* Effect.fail(fail(session, `input "${INPUT_NAME}" has rank ${input.shape.length} ([${input.shape.join(", ")}]), expected 2 [batch, samples]`))
    }
    const extra = session.inputs.filter((i) => i.name !== INPUT_NAME && i.name !== MASK_NAME)
    if (extra.length > 0) return yield* Effect.fail(fail(session, `unexpected input(s) ${extra.map((e) => `"${e.name}"`).join(", ")}`))
    const mask = session.inputs.find((i) => i.name === MASK_NAME)
    if (mask !== undefined && mask.type !== "int64") return yield* Effect.fail(fail(session, `input "${MASK_NAME}" is ${mask.type}, expected int64`))

    const stacked = session.outputs.find((o) => o.name === STACKED_NAME)
    if (stacked !== undefined) {
      yield* checkFloat(session, stacked, 4, "[batch, layers, frames, dim]")
      const layers = numeric(stacked.shape[1])
      return {
        layout: "stacked",
        fetches: [STACKED_NAME],
        layers,
        dim: numeric(stacked.shape[3]),
        hasMask: mask !== undefined,
        layerNames: layers === undefined ? [] : hiddenStateNames(layers),
      }
    }
    const listed = session.outputs.flatMap((o) => {
      const m = LIST_NAME.exec(o.name)
      return m === null ? [] : [{ info: o, index: Number(m[1]) }]
    })
    if (listed.length === 0) return yield* Effect.fail(fail(session, `no hidden-state output`))
    listed.sort((a, b) => a.index - b.index)
    const missing = listed.findIndex((l, i) => l.index !== i)
    if (missing >= 0) return yield* Effect.fail(fail(session, `hidden-state outputs are not numbered 0..${listed.length - 1} (missing ${missing})`))
    for (const l of listed) yield* checkFloat(session, l.info, 3, "[batch, frames, dim]")
    const dims = new Set(listed.map((l) => numeric(l.info.shape[2])).filter((d) => d !== undefined))
    if (dims.size > 1) return yield* Effect.fail(fail(session, `hidden-state outputs disagree on dim (${[...dims].join(" vs ")})`))
    return {
      layout: "list",
      fetches: listed.map((l) => l.info.name),
      layers: listed.length,
      dim: [...dims][0],
      hasMask: mask !== undefined,
      layerNames: hiddenStateNames(listed.length),
    }
  })

/** hidden state 0 is the embedding output (before the first transformer layer), as in Hugging Face's `hidden_states`. */
export const hiddenStateNames = (layers: number): Array<string> => Array.from({ length: layers }, (_, i) => (i === 0 ? "embedding" : `layer_${i}`))

/**
 * Zero mean, unit variance per segment, exactly as Wav2Vec2FeatureExtractor(do_normalize=True):
 * (x - mean) / sqrt(var + 1e-7), population variance, statistics in double precision.
 */
export const normalizeInto = (x: Float32Array, out: Float32Array, offset = 0): void => {
  const n = x.length
  let mean = 0
  for (let i = 0; i < n; i++) mean += x[i]
  mean /= Math.max(1, n)
  let variance = 0
  for (let i = 0; i < n; i++) variance += (x[i] - mean) ** 2
  variance /= Math.max(1, n)
  const scale = 1 / Math.sqrt(variance + 1e-7)
  for (let i = 0; i < n; i++) out[offset + i] = (x[i] - mean) * scale
}

/** The pooled rows of a batch, [batch, layers, dim] as one Float32Array. */
export interface PooledBatch {
  readonly data: Float32Array
  readonly layers: number
  readonly dim: number
  readonly frames: number
}

/** Pools one [batch, frames, dim] (list) or [batch, layers, frames, dim] (stacked) result into [batch, layers, dim]. */
export const poolHiddenStates = (
  session: OnnxSession,
  contract: MertContract,
  outputs: Readonly<Record<string, Tensor>>,
  batch: number,
  pooling: Pooling,
): Effect.Effect<PooledBatch, OnnxError> =>
  Effect.gen(function* () {
    const views: Array<{ readonly data: Float32Array; readonly base: (b: number) => number }> = []
    let frames = 0
    let dim = 0
    const badShape = (name: string, dims: ReadonlyArray<number>, expected: string) =>
      fail(session, `at run time output "${name}" has shape [${dims.join(", ")}], expected ${expected}`)
    if (contract.layout === "stacked") {
      const t = outputs[STACKED_NAME]
      const d = t.dims
      if (d.length !== 4 || d[0] !== batch || (contract.layers !== undefined && d[1] !== contract.layers) || (contract.dim !== undefined && d[3] !== contract.dim)) {
        return yield* Effect.fail(badShape(STACKED_NAME, d, `[${batch}, ${contract.layers ?? "layers"}, frames, ${contract.dim ?? "dim"}]`))
      }
      frames = d[2]
      dim = d[3]
      const data = t.data as Float32Array
      const layerStride = frames * dim
      for (let l = 0; l < d[1]; l++) views.push({ data, base: (b) => (b * d[1] + l) * layerStride })
    } else {
      for (const name of contract.fetches) {
        const t = outputs[name]
        const d = t.dims
        if (d.length !== 3 || d[0] !== batch || (frames !== 0 && (d[1] !== frames || d[2] !== dim)) || (contract.dim !== undefined && d[2] !== contract.dim)) {
          return yield* Effect.fail(badShape(name, d, `[${batch}, ${frames || "frames"}, ${dim || contract.dim || "dim"}] like the other hidden states`))
        }
        frames = d[1]
        dim = d[2]
        const data = t.data as Float32Array
        views.push({ data, base: (b) => b * frames * dim })
      }
    }
    if (frames < 1) return yield* Effect.fail(fail(session, `the model produced 0 frames (is the segment shorter than the conv encoder's receptive field?)`))
    const layers = views.length
    const out = new Float32Array(batch * layers * dim)
    for (let b = 0; b < batch; b++) {
      for (let l = 0; l < layers; l++) {
        const { data, base } = views[l]
        const src = base(b)
        const dst = (b * layers + l) * dim
        if (pooling === "first") out.set(data.subarray(src, src + dim), dst)
        else {
          const acc = new Float64Array(dim)
          for (let t = 0; t < frames; t++) {
            const row = src + t * dim
            for (let j = 0; j < dim; j++) acc[j] += data[row + j]
          }
          for (let j = 0; j < dim; j++) out[dst + j] = acc[j] / frames
        }
      }
    }
    return { data: out, layers, dim, frames }
  })

/** Normalises and runs one batch of equal-length segments; returns the pooled [batch, layers, dim] rows. */
export const runMertBatch = (
  session: OnnxSession,
  contract: MertContract,
  segments: ReadonlyArray<Float32Array>,
  pooling: Pooling,
): Effect.Effect<PooledBatch, OnnxError> =>
  Effect.gen(function* () {
    const batch = segments.length
    const samples = segments[0]?.length ?? 0
    if (segments.some((s) => s.length !== samples)) {
      return yield* Effect.fail(new OnnxError({ message: `a MERT batch must hold segments of one length (found ${segments.map((s) => s.length).join(", ")})` }))
    }
    const input = new Float32Array(batch * samples)
    segments.forEach((s, b) => normalizeInto(s, input, b * samples))
    const feeds: Record<string, Tensor> = { [INPUT_NAME]: float32Tensor(input, [batch, samples]) }
    if (contract.hasMask) feeds[MASK_NAME] = int64Tensor(new BigInt64Array(batch * samples).fill(1n), [batch, samples])
    const outputs = yield* session.run(feeds, contract.fetches)
    return yield* poolHiddenStates(session, contract, outputs, batch, pooling)
  })
