/** The shape of pipeline.yaml, as an Effect Schema (validation) and as JSON Schema (editor completion). */
import { JSONSchema, Schema } from "effect"
import type { Stage } from "./stage.ts"

const NodeRefs = Schema.Union(Schema.String, Schema.Array(Schema.String)).annotations({
  description: "A node id (or list of node ids, `*` globs allowed) for node inputs; a path relative to this file for file/dir inputs",
})

const LoopValues = Schema.Union(Schema.Array(Schema.Unknown), Schema.String).annotations({
  description: "A list, or a `${...}` reference to a list or a map (a map expands over its entries, each with `id` = key)",
})

export const StageEntry = Schema.Struct({
  uses: Schema.String.annotations({ description: "The registered stage this node runs (see `mea stages`)" }),
  description: Schema.optional(Schema.String),
  foreach: Schema.optional(LoopValues),
  matrix: Schema.optional(Schema.Record({ key: Schema.String, value: LoopValues })),
  id: Schema.optional(
    Schema.String.annotations({ description: "Template of the node id suffix for foreach/matrix, e.g. `${item.name}`" }),
  ),
  inputs: Schema.optional(Schema.Record({ key: Schema.String, value: NodeRefs })),
  with: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
}).annotations({ identifier: "StageEntry" })
export type StageEntry = typeof StageEntry.Type

export const ResultColumn = Schema.Struct({
  name: Schema.optional(Schema.String),
  node: Schema.String.annotations({ description: "Node id or glob (e.g. `eval.*`); one column per matching node" }),
  path: Schema.String.annotations({ description: "Dotted path into the node's JSON form, e.g. `metrics.f1_macro`" }),
})
export type ResultColumn = typeof ResultColumn.Type

/** Where a pipeline runs and shares artifacts (`mea run --cluster/--store` and MEA_CLUSTER/MEA_STORE take precedence). */
export const ClusterBlock = Schema.Struct({
  cluster: Schema.optional(Schema.String.annotations({ description: "PostgreSQL URL of the cluster, e.g. postgres://mea@db/mea (password from PGPASSWORD)" })),
  store: Schema.optional(Schema.String.annotations({ description: "Shared artifact store: s3://bucket/prefix, or a folder" })),
}).annotations({ identifier: "ClusterBlock" })

export const PipelineFile = Schema.Struct({
  name: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  params: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })).annotations({
    description: "Defaults, overridable with `-p key=value`; referenced as ${key}",
  }),
  datasets: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Record({ key: Schema.String, value: Schema.Unknown }) })),
  vars: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })).annotations({
    description: "Named values and tables (e.g. the experiment's splits), defined once and referenced as ${vars.name}; lists and maps can be expanded over with foreach/matrix",
  }),
  stages: Schema.Record({ key: Schema.String, value: StageEntry }),
  results: Schema.optional(Schema.Array(ResultColumn)),
  cluster: Schema.optional(ClusterBlock),
}).annotations({ title: "mea pipeline", description: "A mea pipeline: params, datasets and stages" })
export type PipelineFile = typeof PipelineFile.Type

/**
 * JSON Schema of pipeline.yaml. Each registered stage contributes a branch that ties `uses: <stage>` to the JSON Schema
 * of its params, so an editor completes `with:` keys per stage.
 */
export const pipelineJsonSchema = (stages: ReadonlyArray<Stage>): unknown => {
  const base = JSONSchema.make(PipelineFile) as unknown as Record<string, unknown>
  const branches = stages.map((stage) => {
    let withSchema: unknown = { type: "object" }
    try {
      withSchema = JSONSchema.make(Schema.encodedSchema(stage.paramsSchema))
    } catch {
      // Params with shapes JSON Schema cannot express keep the generic object schema.
    }
    return {
      if: { properties: { uses: { const: stage.name } }, required: ["uses"] },
      then: { properties: { with: withSchema }, description: stage.description },
    }
  })
  return {
    ...base,
    $defs: { ...((base.$defs as object) ?? {}), stageBranches: { allOf: branches } },
    properties: {
      ...(base.properties as object),
      stages: {
        type: "object",
        additionalProperties: {
          allOf: [{ $ref: "#/$defs/StageEntry" }, { $ref: "#/$defs/stageBranches" }],
          properties: { uses: { enum: stages.map((s) => s.name) } },
        },
      },
    },
  }
}
