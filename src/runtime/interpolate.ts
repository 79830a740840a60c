/**
 * `${...}` interpolation. A string that is exactly one `${x}` takes x's value with its type (a number stays a number,
 * a map stays a map); otherwise each `${x}` is replaced by its text. Names resolve to loop variables first (`item`, or
 * matrix keys), then `params.x` / `datasets.x` / `vars.x` (the pipeline's `vars:` block), then bare param names.
 */
import { Either } from "effect"

export interface Scope {
  readonly vars: Readonly<Record<string, unknown>>
  readonly params: Readonly<Record<string, unknown>>
  readonly datasets: Readonly<Record<string, unknown>>
  /** The pipeline's `vars:` block (tables such as the experiment's splits), resolved against params and datasets. */
  readonly tables?: Readonly<Record<string, unknown>>
}

const WHOLE = /^\$\{([^}]*)\}$/
const ANY = /\$\{([^}]*)\}/g

const describeScope = (scope: Scope): string => {
  const parts = [
    Object.keys(scope.vars).length > 0 ? `loop variables: ${Object.keys(scope.vars).join(", ")}` : "",
    `params: ${Object.keys(scope.params).join(", ") || "none"}`,
    Object.keys(scope.datasets).length > 0 ? `datasets.${Object.keys(scope.datasets).join(", datasets.")}` : "",
    scope.tables !== undefined && Object.keys(scope.tables).length > 0 ? `vars.${Object.keys(scope.tables).join(", vars.")}` : "",
  ]
  return parts.filter((p) => p !== "").join("; ")
}

export const lookup = (expr: string, scope: Scope): Either.Either<unknown, string> => {
  const segments = expr.trim().split(".")
  if (segments.some((s) => s === "")) return Either.left(`malformed reference \${${expr}}`)
  const [head, ...rest] = segments
  let value: unknown
  let walked: Array<string>
  if (head in scope.vars) {
    value = scope.vars[head]
    walked = [head]
  } else if (head === "params" && rest.length > 0 && rest[0] in scope.params) {
    value = scope.params[rest[0]]
    walked = [head, rest.shift()!]
  } else if (head === "datasets") {
    value = scope.datasets
    walked = [head]
  } else if (head === "vars" && scope.tables !== undefined) {
    value = scope.tables
    walked = [head]
  } else if (head in scope.params) {
    value = scope.params[head]
    walked = [head]
  } else {
    return Either.left(`unknown name '${head}' in \${${expr}} (${describeScope(scope)})`)
  }
  for (const key of rest) {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && key in value) {
      value = (value as Record<string, unknown>)[key]
      walked.push(key)
    } else {
      const has = value !== null && typeof value === "object" ? ` (it has: ${Object.keys(value).join(", ")})` : ""
      return Either.left(`\${${expr}}: '${walked.join(".")}' has no key '${key}'${has}`)
    }
  }
  return Either.right(value)
}

const textOf = (expr: string, v: unknown): Either.Either<string, string> =>
  typeof v === "string" || typeof v === "number" || typeof v === "boolean"
    ? Either.right(String(v))
    : Either.left(`\${${expr}} is a ${v === null ? "null" : Array.isArray(v) ? "list" : "map"} and cannot be part of a string; use it as the whole value`)

/** Interpolates a string. */
export const interpolateString = (text: string, scope: Scope): Either.Either<unknown, string> => {
  const whole = WHOLE.exec(text)
  if (whole !== null) return lookup(whole[1], scope)
  let error: string | undefined
  const out = text.replace(ANY, (_, expr: string) => {
    if (error !== undefined) return ""
    const r = Either.flatMap(lookup(expr, scope), (v) => textOf(expr, v))
    if (Either.isLeft(r)) {
      error = r.left
      return ""
    }
    return r.right
  })
  return error === undefined ? Either.right(out) : Either.left(error)
}

/** Interpolates every string inside a JSON-like value; errors carry the key path inside `value`. */
export const interpolate = (
  value: unknown,
  scope: Scope,
  at: ReadonlyArray<string | number> = [],
): Either.Either<unknown, { readonly path: ReadonlyArray<string | number>; readonly message: string }> => {
  if (typeof value === "string") {
    return Either.mapLeft(interpolateString(value, scope), (message) => ({ path: at, message }))
  }
  if (Array.isArray(value)) {
    const out: Array<unknown> = []
    for (let i = 0; i < value.length; i++) {
      const r = interpolate(value[i], scope, [...at, i])
      if (Either.isLeft(r)) return r
      out.push(r.right)
    }
    return Either.right(out)
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      const r = interpolate(v, scope, [...at, k])
      if (Either.isLeft(r)) return r
      out[k] = r.right
    }
    return Either.right(out)
  }
  return Either.right(value)
}
