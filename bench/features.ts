/**
 * Built-in feature extraction throughput, through the real `mert` stage (PCM reading, worker threads, .npy writing)
 * on synthetic 24 kHz music-like audio (chords, a drum-like click track, noise). Prints x realtime and the ratio to
 * the goal of 100x realtime on 2 cores; also the single-thread in-process figure for reference.
 *
 *   npx tsx bench/features.ts [minutes=30] [threads=2]
 */
import * as os from "node:os"
import { BuiltinExtractor } from "../src/features/builtin.ts"
import { MertStage } from "../src/stages/mert.ts"
import { segmentSamples } from "../src/artifacts/segments.ts"
import { audioArtifacts, lcg } from "../test/features/support.ts"
import { runStagePromise } from "../test/support/stage-harness.ts"

const minutes = Number(process.argv[2] ?? 30)
const threads = Number(process.argv[3] ?? 2)
const SR = 24000
const GOAL = 100

const rand = lcg(2024)
const track = (seconds: number, bpm: number, root: number): Float32Array => {
  const n = seconds * SR
  const x = new Float32Array(n)
  const beat = Math.round((60 / bpm) * SR)
  const freqs = [root, root * 1.26, root * 1.5]
  for (let i = 0; i < n; i++) {
    let v = 0
    for (const f of freqs) v += 0.15 * Math.sin((2 * Math.PI * f * i) / SR)
    const sinceBeat = i % beat
    v += sinceBeat < 600 ? 0.5 * Math.exp(-sinceBeat / 120) * (rand() - 0.5) : 0
    x[i] = v + 0.02 * (rand() - 0.5)
  }
  return x
}

// Tracks of 1-3 minutes until the requested total.
const tracks: Array<Float32Array> = []
let total = 0
while (total < minutes * 60) {
  const seconds = Math.min(60 + Math.round(rand() * 120), minutes * 60 - total)
  tracks.push(track(Math.max(10, seconds), 80 + Math.round(rand() * 80), 110 * 2 ** (rand() * 2)))
  total += Math.max(10, seconds)
}
const { audio, segments } = audioArtifacts(tracks, SR)
const audioSeconds = segments.value.count * 10

console.log(`bench/features: ${segments.value.count} segments of 10 s (${(audioSeconds / 60).toFixed(1)} min) at ${SR} Hz, ${threads} threads`)

// Stage: includes worker start-up (tsx in each worker), reading PCM and writing features.npy.
const t0 = performance.now()
await runStagePromise(MertStage, { inputs: { audio, segments }, threads })
const stageSeconds = (performance.now() - t0) / 1000
const stageRealtime = audioSeconds / stageSeconds

// One thread, in process, after a warm-up segment: the per-core kernel speed.
const extractor = new BuiltinExtractor(SR)
const sample = Array.from({ length: Math.min(30, segments.value.count) }, (_, i) => segmentSamples(audio, segments, i))
extractor.extract(sample[0])
const t1 = performance.now()
for (const s of sample) extractor.extract(s)
const coreSeconds = (performance.now() - t1) / 1000
const coreRealtime = (sample.length * 10) / coreSeconds

console.log(`single thread (kernel only):      ${coreRealtime.toFixed(0)}x realtime (${((coreSeconds / sample.length) * 1000).toFixed(1)} ms per 10 s segment)`)
console.log(`mert stage, builtin, ${threads} threads:   ${stageRealtime.toFixed(0)}x realtime (${stageSeconds.toFixed(2)} s, ${(segments.value.count / stageSeconds).toFixed(1)} segments/s)`)
// Other processes on the machine skew wall-clock figures; say how busy it was.
console.log(`load average (1 min) at the end: ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} cores`)
console.log(`ratio to the goal (${GOAL}x realtime on 2 cores): ${(stageRealtime / GOAL).toFixed(2)}x`)
