/** The label list of `mea predict`: parsed from --labels, --labels-file or --vocabulary, checked before anything runs. */
import { VOCABULARIES, type VocabularyName } from "../datasets/vocabularies.ts"

/** The reference's top-k per vocabulary. */
export const VOCABULARY_K: Readonly<Record<VocabularyName, number>> = { mtg: 2, cal500: 4, emotify: 3 }

export type LabelSource =
  | { readonly _tag: "Inline"; readonly text: string }
  | { readonly _tag: "File"; readonly file: string; readonly text: string }
  | { readonly _tag: "Vocabulary"; readonly name: VocabularyName }

/**
 * The labels, in order. Inline: comma-separated. File: one label per line (so labels may contain commas, like CAL500's
 * "angry, aggressive"); blank lines and lines starting with # are ignored. Returns an error message for an empty list
 * or duplicates (which would make two columns of the same thing).
 */
export const parseLabels = (source: LabelSource): { readonly labels: ReadonlyArray<string> } | { readonly error: string } => {
  if (source._tag === "Vocabulary") return { labels: [...VOCABULARIES[source.name]] }
  const where = source._tag === "Inline" ? "--labels" : source.file
  const entries =
    source._tag === "Inline"
      ? source.text.split(",").map((l, i) => ({ label: l.trim(), at: `item ${i + 1}` }))
      : source.text.split(/\r?\n/).map((l, i) => ({ label: l.trim(), at: `line ${i + 1}` })).filter((e) => !e.label.startsWith("#"))
  const labels = entries.filter((e) => e.label.length > 0)
  if (labels.length === 0) {
    return { error: `${where}: the label list is empty${source._tag === "Inline" ? ' (give labels separated by commas: --labels "calm, tense, euphoric")' : " (one label per line)"}` }
  }
  const seen = new Map<string, string>()
  const duplicates: Array<string> = []
  for (const e of labels) {
    const key = e.label.toLowerCase()
    const first = seen.get(key)
    if (first !== undefined) duplicates.push(`'${e.label}' (${e.at}, first at ${first})`)
    else seen.set(key, e.at)
  }
  if (duplicates.length > 0) return { error: `${where}: duplicate label${duplicates.length > 1 ? "s" : ""} ${duplicates.join(", ")}; each label must appear once` }
  return { labels: labels.map((e) => e.label) }
}
