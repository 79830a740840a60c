/**
 * What text is embedded for a label: the label's expansions (augmentation: synonyms or paraphrases, default the label
 * itself), each put through the template. A label's embedding is the mean of its expansions' embeddings.
 */
import { Data } from "effect"

export class LabelTextError extends Data.TaggedError("LabelTextError")<{ readonly message: string }> {}

export const DEFAULT_TEMPLATE = "{label}"

export const applyTemplate = (template: string, text: string): string => template.split("{label}").join(text)

export const checkTemplate = (template: string): void => {
  if (!template.includes("{label}")) {
    throw new LabelTextError({ message: `template ${JSON.stringify(template)} has no {label} placeholder` })
  }
}

/** The texts to embed for each label, in label order. */
export const labelTexts = (
  labels: ReadonlyArray<string>,
  template: string,
  augmentation: Readonly<Record<string, ReadonlyArray<string>>> | undefined,
): ReadonlyArray<ReadonlyArray<string>> => {
  checkTemplate(template)
  labels.forEach((l, i) => {
    if (l.trim().length === 0) throw new LabelTextError({ message: `label ${i} is empty` })
  })
  const seen = new Set<string>()
  for (const l of labels) {
    if (seen.has(l)) throw new LabelTextError({ message: `label ${JSON.stringify(l)} appears twice` })
    seen.add(l)
  }
  if (augmentation !== undefined) {
    for (const [key, list] of Object.entries(augmentation)) {
      if (!seen.has(key)) {
        throw new LabelTextError({ message: `augmentation names label ${JSON.stringify(key)}, which is not among the labels (${labels.join(", ")})` })
      }
      if (list.length === 0) throw new LabelTextError({ message: `augmentation for ${JSON.stringify(key)} is an empty list` })
      list.forEach((t, i) => {
        if (t.trim().length === 0) throw new LabelTextError({ message: `augmentation for ${JSON.stringify(key)}: expansion ${i} is empty` })
      })
    }
  }
  return labels.map((l) => (augmentation?.[l] ?? [l]).map((t) => applyTemplate(template, t)))
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
