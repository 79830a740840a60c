/**
 * What text is embedded for a label: the label's expansions (augmentation: synonyms or paraphrases, default the label
 * itself), each put through the template. A label's embedding is the mean of its expansions' embeddings.
 */
import { Data, Either } from "effect"

export class LabelTextError extends Data.TaggedError("LabelTextError")<{ readonly message: string }> {}

export const DEFAULT_TEMPLATE = "{label}"

export const applyTemplate = (template: string, text: string): string => template.split("{label}").join(text)

const problem = (
  labels: ReadonlyArray<string>,
  template: string,
  augmentation: Readonly<Record<string, ReadonlyArray<string>>> | undefined,
): string | undefined => {
  if (!template.includes("{label}")) return `template ${JSON.stringify(template)} has no {label} placeholder`
  const empty = labels.findIndex((l) => l.trim().length === 0)
  if (empty >= 0) return `label ${empty} is empty`
  const seen = new Set<string>()
  for (const l of labels) {
    if (seen.has(l)) return `label ${JSON.stringify(l)} appears twice`
    seen.add(l)
  }
  for (const [key, list] of Object.entries(augmentation ?? {})) {
    if (!seen.has(key)) return `augmentation names label ${JSON.stringify(key)}, which is not among the labels (${labels.join(", ")})`
    if (list.length === 0) return `augmentation for ${JSON.stringify(key)} is an empty list`
    const blank = list.findIndex((t) => t.trim().length === 0)
    if (blank >= 0) return `augmentation for ${JSON.stringify(key)}: expansion ${blank} is empty`
  }
  return undefined
}

/** The texts to embed for each label, in label order. */
export const labelTexts = (
  labels: ReadonlyArray<string>,
  template: string,
  augmentation: Readonly<Record<string, ReadonlyArray<string>>> | undefined,
): Either.Either<ReadonlyArray<ReadonlyArray<string>>, LabelTextError> => {
  const message = problem(labels, template, augmentation)
  if (message !== undefined) return Either.left(new LabelTextError({ message }))
  return Either.right(labels.map((l) => (augmentation?.[l] ?? [l]).map((t) => applyTemplate(template, t))))
}

/** Mean of row vectors, then optionally scaled to unit L2 norm (float64 arithmetic, float32 result). */
export const meanVector = (vectors: ReadonlyArray<ArrayLike<number>>, normalise: boolean): Float32Array => {
  const d = vectors[0].length
  const acc = new Float64Array(d)
  for (const v of vectors) for (let k = 0; k < d; k++) acc[k] += v[k]
  for (let k = 0; k < d; k++) acc[k] /= vectors.length
  if (normalise) {
    let s = 0
    for (let k = 0; k < d; k++) s += acc[k] * acc[k]
    const norm = Math.sqrt(s)
    if (norm > 0) for (let k = 0; k < d; k++) acc[k] /= norm
  }
  return Float32Array.from(acc)
}
