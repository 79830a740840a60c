/**
 * The label vocabularies of the three data sets, in a fixed order (the order of the reference's label embedding files,
 * alphabetical for MTG and CAL500, GEMS order for Emotify). Downstream arrays of scores are indexed in this order.
 */

export const MTG_LABELS: ReadonlyArray<string> = [
  "action", "adventure", "advertising", "background", "ballad", "calm", "children", "christmas", "commercial", "cool",
  "corporate", "dark", "deep", "documentary", "drama", "dramatic", "dream", "emotional", "energetic", "epic", "fast",
  "film", "fun", "funny", "game", "groovy", "happy", "heavy", "holiday", "hopeful", "inspiring", "love", "meditative",
  "melancholic", "melodic", "motivational", "movie", "nature", "party", "positive", "powerful", "relaxing", "retro",
  "romantic", "sad", "sexy", "slow", "soft", "soundscape", "space", "sport", "summer", "trailer", "travel", "upbeat",
  "uplifting",
]

export const CAL500_LABELS: ReadonlyArray<string> = [
  "angry, aggressive", "arousing, awakening", "bizarre, weird", "calming, soothing", "carefree, lighthearted",
  "cheerful, festive", "emotional, passionate", "exciting, thrilling", "happy", "light, playful", "loving, romantic",
  "pleasant, comfortable", "positive, optimistic", "powerful, strong", "sad", "tender, soft", "touching, loving",
]

export const EMOTIFY_LABELS: ReadonlyArray<string> = [
  "amazement", "solemnity", "tenderness", "nostalgia", "calmness", "power", "joyful_activation", "tension", "sadness",
]

/** Emotify's genre folders, in the order of its track ids (1-100 classical, 101-200 rock, 201-300 electronic, 301-400 pop). */
export const EMOTIFY_GENRES: ReadonlyArray<string> = ["classical", "rock", "electronic", "pop"]

export const VOCABULARIES = {
  mtg: MTG_LABELS,
  cal500: CAL500_LABELS,
  emotify: EMOTIFY_LABELS,
} as const satisfies Record<string, ReadonlyArray<string>>

export type VocabularyName = keyof typeof VOCABULARIES

/**
 * CAL500's vocab.txt writes emotion words as `Emotion-Angry_/_Agressive` (sic: the official file misspells it), and
 * the reference labels are `angry, aggressive`. Returns undefined for non-emotion entries (instruments, genres,
 * `NOT-Emotion-...`). Emotion entries outside the 17 (`Emotion-Laid-back_/_Mellow`) come back as their own label and
 * are left out by the loader.
 */
export const cal500LabelOfVocabEntry = (entry: string): string | undefined => {
  const m = /^Emotion-(.+)$/.exec(entry.trim())
  if (m === null) return undefined
  const label = m[1].split("_/_").map((w) => w.replace(/_/g, " ").trim().toLowerCase()).join(", ")
  return CAL500_SPELLING[label] ?? label
}

/** Official vocab.txt spelling -> reference label. */
const CAL500_SPELLING: Readonly<Record<string, string>> = { "angry, agressive": "angry, aggressive" }

/** The official vocab.txt entry for a CAL500 label (the demo data writes vocab.txt with it). */
export const cal500VocabEntryOfLabel = (label: string): string => {
  const official = Object.entries(CAL500_SPELLING).find(([, l]) => l === label)?.[0] ?? label
  return (
    "Emotion-" +
    official
      .split(", ")
      .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
      .join("_/_")
  )
}
