/**
 * Each label's emotional character as a point (valence, arousal, tension), each in [-1, 1]: valence = pleasant vs
 * unpleasant, arousal = calm vs excited (Russell's circumplex), tension = consonant/relaxed vs dissonant/tense (the third
 * axis of Schimmack & Grob's model; it separates e.g. "angry" from "happy" at equal arousal). The demo data draws a
 * mood point per track, labels it with the nearby labels of its vocabulary, and derives the synthesis parameters from
 * the point: labels that mean similar things across vocabularies ("sad", "sadness", "melancholic") get similar audio,
 * which is what makes zero-shot transfer between the demo data sets meaningful.
 */

export interface Mood {
  readonly valence: number
  readonly arousal: number
  readonly tension: number
}

const m = (valence: number, arousal: number, tension: number): Mood => ({ valence, arousal, tension })

export const LABEL_MOODS: Readonly<Record<string, Mood>> = {
  // MTG-Jamendo mood/theme
  action: m(0.2, 0.9, 0.5),
  adventure: m(0.5, 0.7, 0.3),
  advertising: m(0.6, 0.4, -0.3),
  background: m(0.1, -0.5, -0.5),
  ballad: m(0.0, -0.5, -0.3),
  calm: m(0.3, -0.8, -0.7),
  children: m(0.8, 0.3, -0.6),
  christmas: m(0.8, 0.1, -0.5),
  commercial: m(0.6, 0.5, -0.3),
  cool: m(0.3, 0.2, -0.1),
  corporate: m(0.5, 0.2, -0.5),
  dark: m(-0.7, 0.1, 0.7),
  deep: m(-0.2, -0.4, 0.2),
  documentary: m(0.0, -0.2, 0.0),
  drama: m(-0.4, 0.2, 0.5),
  dramatic: m(-0.3, 0.5, 0.6),
  dream: m(0.3, -0.7, -0.2),
  emotional: m(-0.2, -0.1, 0.2),
  energetic: m(0.5, 0.9, 0.2),
  epic: m(0.3, 0.8, 0.5),
  fast: m(0.3, 0.9, 0.2),
  film: m(0.0, 0.2, 0.3),
  fun: m(0.8, 0.6, -0.4),
  funny: m(0.8, 0.5, -0.3),
  game: m(0.4, 0.6, 0.1),
  groovy: m(0.6, 0.5, -0.1),
  happy: m(0.9, 0.5, -0.5),
  heavy: m(-0.4, 0.8, 0.7),
  holiday: m(0.8, 0.3, -0.5),
  hopeful: m(0.6, 0.0, -0.3),
  inspiring: m(0.6, 0.3, -0.1),
  love: m(0.6, -0.3, -0.4),
  meditative: m(0.1, -0.9, -0.6),
  melancholic: m(-0.7, -0.5, 0.1),
  melodic: m(0.3, -0.2, -0.3),
  motivational: m(0.6, 0.6, 0.0),
  movie: m(0.0, 0.3, 0.3),
  nature: m(0.4, -0.6, -0.5),
  party: m(0.7, 0.8, -0.1),
  positive: m(0.8, 0.4, -0.4),
  powerful: m(0.2, 0.9, 0.5),
  relaxing: m(0.4, -0.8, -0.6),
  retro: m(0.4, 0.3, -0.1),
  romantic: m(0.6, -0.4, -0.3),
  sad: m(-0.8, -0.5, 0.2),
  sexy: m(0.4, 0.1, 0.0),
  slow: m(-0.1, -0.8, -0.3),
  soft: m(0.3, -0.7, -0.6),
  soundscape: m(0.0, -0.5, 0.2),
  space: m(0.0, -0.3, 0.4),
  sport: m(0.4, 0.9, 0.3),
  summer: m(0.8, 0.5, -0.4),
  trailer: m(0.0, 0.8, 0.6),
  travel: m(0.5, 0.2, -0.2),
  upbeat: m(0.8, 0.7, -0.2),
  uplifting: m(0.8, 0.5, -0.2),
  // CAL500 emotions
  "angry, aggressive": m(-0.7, 0.9, 0.9),
  "arousing, awakening": m(0.3, 0.8, 0.3),
  "bizarre, weird": m(-0.3, 0.3, 0.8),
  "calming, soothing": m(0.4, -0.8, -0.6),
  "carefree, lighthearted": m(0.8, 0.3, -0.5),
  "cheerful, festive": m(0.9, 0.6, -0.4),
  "emotional, passionate": m(-0.1, 0.3, 0.3),
  "exciting, thrilling": m(0.5, 0.9, 0.4),
  // "happy" and "sad" are shared with MTG above.
  "light, playful": m(0.7, 0.4, -0.6),
  "loving, romantic": m(0.6, -0.4, -0.3),
  "pleasant, comfortable": m(0.6, -0.4, -0.5),
  "positive, optimistic": m(0.8, 0.4, -0.4),
  "powerful, strong": m(0.2, 0.9, 0.5),
  "tender, soft": m(0.4, -0.7, -0.6),
  "touching, loving": m(0.4, -0.5, -0.2),
  // Emotify GEMS
  amazement: m(0.5, 0.5, 0.4),
  solemnity: m(-0.2, -0.3, 0.3),
  tenderness: m(0.5, -0.6, -0.5),
  nostalgia: m(-0.3, -0.4, 0.0),
  calmness: m(0.3, -0.8, -0.6),
  power: m(0.1, 0.9, 0.6),
  joyful_activation: m(0.8, 0.7, -0.3),
  tension: m(-0.5, 0.5, 0.9),
  sadness: m(-0.8, -0.5, 0.2),
}

export const moodOf = (label: string): Mood => {
  const mood = LABEL_MOODS[label]
  if (mood === undefined) throw new Error(`no mood for label ${JSON.stringify(label)}`)
  return mood
}

export const moodDistance = (a: Mood, b: Mood): number =>
  Math.hypot(a.valence - b.valence, a.arousal - b.arousal, a.tension - b.tension)

/** The labels of `vocabulary` nearest to `mood`, nearest first. */
export const nearestLabels = (mood: Mood, vocabulary: ReadonlyArray<string>, k: number): Array<string> =>
  vocabulary
    .map((label, i) => ({ label, i, d: moodDistance(mood, moodOf(label)) }))
    .sort((a, b) => a.d - b.d || a.i - b.i)
    .slice(0, k)
    .map((r) => r.label)
