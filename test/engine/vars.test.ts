/** The `vars:` block: a table defined once, expanded over by several stage entries and read with ${vars.name}. */
import { Effect } from "effect"
import { describe, expect, it } from "@effect/vitest"
import { graphOf, project } from "./helpers.ts"

const yaml = `params: { scale: 2 }
vars:
  splits:
    - { id: p, v: 1, w: "\${scale}" }
    - { id: q, v: 3, w: 10 }
  levels: [lo, hi]
stages:
  src:
    uses: source
    foreach: "\${vars.splits}"
    with: { value: "\${item.v}" }
  sum:
    uses: add
    matrix: { split: "\${vars.splits}", level: "\${vars.levels}" }
    inputs: { a: "src.\${split.id}" }
    with: { k: "\${split.w}" }
  first:
    uses: source
    with: { value: "\${vars.splits}" }
`

describe("vars", () => {
  it.effect("expands foreach and matrix over a vars table, with params resolved inside it", () =>
    Effect.gen(function* () {
      const g = yield* graphOf(project({}), yaml.replace(/\n  first:[\s\S]*$/, "\n"))
      expect(g.nodes.map((n) => n.id)).toEqual(["src.p", "src.q", "sum.p.lo", "sum.p.hi", "sum.q.lo", "sum.q.hi"])
      const params = (id: string) => g.byId.get(id)!.params as Record<string, unknown>
      expect(params("src.q")).toMatchObject({ value: 3 })
      expect(params("sum.p.hi")).toMatchObject({ k: 2 })
      expect(params("sum.q.lo")).toMatchObject({ k: 10 })
      expect(g.byId.get("sum.q.hi")!.deps).toEqual(["src.q"])
    }))

  it.effect("follows -p overrides of the params a vars table uses", () =>
    Effect.map(graphOf(project({}), yaml.replace(/\n  first:[\s\S]*$/, "\n"), { params: ["scale=7"] }), (g) =>
      expect(g.byId.get("sum.p.lo")!.params).toMatchObject({ k: 7 }),
    ))

  it.effect("a whole table used where a number is expected is a params error at its key", () =>
    Effect.map(Effect.flip(graphOf(project({}), yaml)), (e) => expect(e.errors.map((x) => x.path.join("."))).toEqual(["stages.first.with.value"])),
  )
})
