/**
 * Small stages of the engine tests' own (the engine must know nothing about music). Loaded into the CLI through
 * MEA_PLUGINS, the same way a user adds stages without touching mea.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { VerifiedReader } from "../../src/runtime/integrity.ts"
import { attempt, codec, defineStage, Input, StageError } from "../../src/runtime/stage.ts"

export const Num = codec("num", Schema.Struct({ n: Schema.Number, file: Schema.optional(Schema.String) }), {
  summarize: (v) => `n = ${v.n}`,
})

/** Appends a line to $MEA_TEST_LOG for each run, so tests can count what actually ran. */
const logRun = (id: string) =>
  Effect.sync(() => {
    const log = process.env.MEA_TEST_LOG
    if (log !== undefined) fs.appendFileSync(log, `${id}\n`)
  })

export const source = defineStage({
  name: "source",
  version: Number(process.env.MEA_TEST_SOURCE_VERSION ?? 1),
  description: "A number, plus the byte length of an optional file and the file count of an optional folder",
  params: Schema.Struct({ value: Schema.Number }),
  inputs: { file: Input.optional(Input.file()), dir: Input.optional(Input.dir({ glob: "**/*.txt" })) },
  output: Num,
  run: (ctx) =>
    Effect.gen(function* () {
      yield* logRun(ctx.nodeId)
      const extra = ctx.inputs.file === undefined ? 0 : yield* attempt("read", () => fs.readFileSync(ctx.inputs.file!.path).length)
      return { n: ctx.params.value + extra + (ctx.inputs.dir?.files.length ?? 0) }
    }),
})

export const add = defineStage({
  name: "add",
  version: 1,
  description: "Sum of its inputs plus k",
  params: Schema.Struct({ k: Schema.optionalWith(Schema.Number, { default: () => 0 }) }),
  inputs: { a: Input.node(Num), more: Input.optional(Input.nodes(Num)) },
  output: Num,
  run: (ctx) =>
    Effect.gen(function* () {
      yield* logRun(ctx.nodeId)
      const more = (ctx.inputs.more ?? []).reduce((s, a) => s + a.value.n, 0)
      return { n: ctx.inputs.a.value.n + more + ctx.params.k }
    }),
})

/** Its output changes only when its input crosses a multiple of `m`: early cutoff's test case. */
export const floor = defineStage({
  name: "floor",
  version: 1,
  description: "Rounds down to a multiple of m",
  params: Schema.Struct({ m: Schema.Number }),
  inputs: { a: Input.node(Num) },
  output: Num,
  run: (ctx) =>
    Effect.gen(function* () {
      yield* logRun(ctx.nodeId)
      return { n: Math.floor(ctx.inputs.a.value.n / ctx.params.m) * ctx.params.m }
    }),
})

/** Writes `mb` MiB in small steps with progress, slowly: a target for kill -9 and concurrency tests. */
export const slow = defineStage({
  name: "slow",
  version: 1,
  description: "Writes a file slowly",
  params: Schema.Struct({ ms: Schema.Number, mb: Schema.optionalWith(Schema.Number, { default: () => 1 }) }),
  inputs: { a: Input.node(Num) },
  output: Num,
  run: (ctx) =>
    Effect.gen(function* () {
      yield* logRun(ctx.nodeId)
      const steps = 20
      yield* ctx.progress.start(steps, "steps")
      const file = path.join(ctx.outDir, "blob.bin")
      const chunk = Buffer.alloc(Math.max(1, Math.round((ctx.params.mb * (1 << 20)) / steps)), ctx.inputs.a.value.n & 0xff)
      for (let i = 0; i < steps; i++) {
        yield* attempt("write", () => fs.appendFileSync(file, chunk))
        yield* Effect.sleep(ctx.params.ms / steps)
        yield* ctx.progress.advance(1)
      }
      return { n: ctx.inputs.a.value.n, file: "blob.bin" }
    }),
})

export const fail = defineStage({
  name: "fail",
  version: 1,
  description: "Always fails",
  params: Schema.Struct({}),
  inputs: { a: Input.node(Num) },
  output: Num,
  run: () => Effect.fail(new StageError({ message: "data/broken.csv line 3: expected 4 columns, found 2" })),
})

export const Text = codec("text", Schema.Struct({ text: Schema.String }))

export const label = defineStage({
  name: "label",
  version: 1,
  description: "A text, for codec mismatch tests",
  params: Schema.Struct({ text: Schema.String }),
  inputs: {},
  output: Text,
  run: (ctx) => Effect.succeed({ text: ctx.params.text }),
})

/** Streams its input's blob in 64 KiB reads (as feature extraction streams audio) and sums its bytes, plus k. */
export const digest = defineStage({
  name: "digest",
  version: 1,
  description: "Sums the bytes of its input's blob",
  params: Schema.Struct({ k: Schema.optionalWith(Schema.Number, { default: () => 0 }) }),
  inputs: { a: Input.node(Num) },
  output: Num,
  run: (ctx) =>
    Effect.gen(function* () {
      yield* logRun(ctx.nodeId)
      const a = ctx.inputs.a
      if (a.value.file === undefined) return yield* Effect.fail(new StageError({ message: `node ${a.node} has no blob` }))
      const sum = yield* attempt(`reading ${a.value.file} of ${a.node}`, () => {
        const reader = new VerifiedReader(a.file(a.value.file!))
        try {
          const buf = new Uint8Array(64 << 10)
          let total = 0
          for (let at = 0; at < reader.size; at += buf.length) {
            const part = buf.subarray(0, Math.min(buf.length, reader.size - at))
            reader.read(part, at)
            for (const b of part) total += b
          }
          return total
        } finally {
          reader.close()
        }
      })
      return { n: sum + ctx.params.k }
    }),
})

/**
 * Plays a user editing a file while the run uses it: appends `text` to `target` (creating it) unless it already ends
 * with it, then reads its own file input, if any, by path (as decode reads a data set's audio by path).
 */
export const edit = defineStage({
  name: "edit",
  version: 1,
  description: "Edits a file during its run",
  params: Schema.Struct({ target: Schema.String, text: Schema.String }),
  inputs: { a: Input.optional(Input.node(Num)), file: Input.optional(Input.file()) },
  output: Num,
  run: (ctx) =>
    Effect.gen(function* () {
      yield* logRun(ctx.nodeId)
      const { target, text } = ctx.params
      yield* attempt("edit", () => {
        if (!fs.existsSync(target) || !fs.readFileSync(target, "utf8").endsWith(text)) fs.appendFileSync(target, text)
      })
      const read = ctx.inputs.file === undefined ? 0 : yield* attempt("read", () => fs.readFileSync(ctx.inputs.file!.path).length)
      return { n: (ctx.inputs.a?.value.n ?? 0) + read }
    }),
})

export const stages = [source, add, floor, slow, fail, label, digest, edit]
