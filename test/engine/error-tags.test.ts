/** A stage's typed error crosses the stage boundary with its tag (and its cause's), not as a bare string. */
import { Data, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { errorTags, NodeFailed } from "../../src/runtime/errors.ts"
import { attempt, codec, defineStage } from "../../src/runtime/stage.ts"
import { project, registryOf, runIn } from "./helpers.ts"
import { stages } from "./test-stages.ts"

class CsvRowError extends Data.TaggedError("CsvRowError")<{ readonly message: string }> {}

const Num = codec("num", Schema.Struct({ n: Schema.Number }))
const parseRow = defineStage({
  name: "parse-row",
  version: 1,
  description: "test: a library error thrown inside a stage",
  params: Schema.Struct({}),
  inputs: {},
  output: Num,
  run: () =>
    attempt("reading rows.csv", () => {
      throw new CsvRowError({ message: "line 3: expected 4 columns, found 2" })
    }),
})

describe("error tags", () => {
  it("walks the cause chain, outermost first", () => {
    const inner = new CsvRowError({ message: "x" })
    expect(errorTags(new NodeFailed({ node: "n", stage: "s", message: "m", cause: { _tag: "StageError", cause: inner } }))).toEqual(["NodeFailed", "StageError", "CsvRowError"])
    expect(errorTags("plain")).toEqual([])
  })

  it("a failed node keeps its stage's error and the library error under it", async () => {
    const dir = project({})
    const r = await runIn(dir, "stages:\n  p: { uses: parse-row }\n", { registry: registryOf([...stages, parseRow]) })
    expect(r.status.p).toBe("failed")
    const node = r.nodes.find((n) => n.id === "p")!
    expect(node.error).toBe("reading rows.csv: line 3: expected 4 columns, found 2")
    expect(node.errorTags).toEqual(["StageError", "CsvRowError"])
    expect((r.failed[0].cause as { readonly _tag: string })._tag).toBe("StageError")
  })
})
