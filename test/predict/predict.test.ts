import { Either } from "effect"
/**
 * `mea predict` through the real CLI, against a small trained demo model (test/predict/tiny.yaml: trained on demo
 * MTG + CAL500, evaluated zero-shot on demo Emotify, song level three ways):
 * - predicting the demo Emotify folder with --vocabulary emotify reproduces eval's segment scores and vote's song
 *   scores exactly, and vote's predicted labels;
 * - a second predict over the same folder runs nothing;
 * - a label list of one's own (labels no data set has) scores the cosine with that list's word-vector embeddings;
 * - an exported .onnx model gives the same scores (to float rounding);
 * - bad input gets exit code 2 and a one-line message; unreadable and too-short files are named and skipped;
 * - a pipeline can end in a predict node, and labels embedded another way than the model's are refused.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { encodeWav } from "../../src/audio/wav.ts"
import { readNpy } from "../../src/io/npy.ts"
import { defaultVectorsFile, embedWithWordVectors } from "../../src/labels/providers/word-vectors.ts"
import { meanVector } from "../../src/labels/text.ts"

const root = path.resolve(import.meta.dirname, "../..")
const work = fs.mkdtempSync(path.join(os.tmpdir(), "mea-predict-"))
const cache = path.join(work, "cache")

const mea = (args: ReadonlyArray<string>) => {
  const r = spawnSync(process.execPath, [path.join(root, "bin/mea.mjs"), ...args, "--cache", cache], {
    cwd: work,
    env: { ...process.env, CI: "1" },
    encoding: "utf8",
    timeout: 400_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

interface Song {
  readonly file: string
  readonly top: ReadonlyArray<{ readonly label: string; readonly score: number }>
  readonly scores: Readonly<Record<string, number>>
  readonly segments?: ReadonlyArray<{ readonly segment: number; readonly scores: Readonly<Record<string, number>> }>
}
interface PredictJson {
  readonly labels: ReadonlyArray<string>
  readonly k: number
  readonly songs: ReadonlyArray<Song>
  readonly failed: ReadonlyArray<{ readonly file: string; readonly reason: string }>
}

const objectDir = (node: string): string => {
  const all = JSON.parse(mea(["ls", "--json"]).stdout) as ReadonlyArray<{ hash: string; node: string | null; at: string | null }>
  const hit = all.filter((a) => a.node === node).sort((a, b) => (b.at ?? "").localeCompare(a.at ?? ""))[0]
  if (hit === undefined) throw new Error(`no artifact of node ${node}`)
  return path.join(cache, "objects", hit.hash.slice(0, 2), hit.hash)
}

const matrix = (file: string): { data: Float32Array; cols: number } => {
  const a = Either.getOrThrow(readNpy(file))
  if (a.kind !== "numeric") throw new Error(file)
  return { data: a.data as Float32Array, cols: a.shape[1] }
}

let emotifyDir = ""
/** Track id -> absolute audio path, and each eval row's track and segment. */
let audioOf = new Map<string, string>()
let evalValue: { labels: ReadonlyArray<string>; row_tracks: ReadonlyArray<string>; row_segments: ReadonlyArray<number> }
let first: PredictJson

const songByFile = (p: PredictJson, file: string): Song => {
  const s = p.songs.find((x) => path.resolve(work, x.file) === file)
  if (s === undefined) throw new Error(`no prediction for ${file}`)
  return s
}

describe("mea predict", () => {
  beforeAll(() => {
    fs.copyFileSync(path.join(import.meta.dirname, "tiny.yaml"), path.join(work, "tiny.yaml"))
    const r = mea(["run", "tiny.yaml", "-q"])
    if (r.code !== 0) throw new Error(`tiny.yaml failed: ${r.stderr}`)
    const data = JSON.parse(mea(["show", "data.emotify", "--json"]).stdout) as { tracks: ReadonlyArray<{ id: string; audio: string }> }
    audioOf = new Map(data.tracks.map((t) => [t.id, t.audio]))
    emotifyDir = path.join(objectDir("demo"), "emotify")
    evalValue = JSON.parse(fs.readFileSync(path.join(objectDir("eval"), "value.json"), "utf8"))
  }, 600_000)

  it("reproduces eval's segment scores and vote's song scores and labels exactly", { timeout: 300_000 }, () => {
    const out = path.join(work, "first.json")
    const r = mea(["predict", "train", emotifyDir, "--vocabulary", "emotify", "--segment-scores", "--format", "json", "-o", out])
    expect(r.stderr).not.toMatch(/error/)
    expect(r.code).toBe(0)
    first = JSON.parse(fs.readFileSync(out, "utf8")) as PredictJson
    expect(first.labels).toEqual(evalValue.labels)
    expect(first.k).toBe(3)
    expect(first.songs).toHaveLength(audioOf.size)

    const seg = matrix(path.join(objectDir("eval"), "scores.npy"))
    evalValue.row_tracks.forEach((track, row) => {
      const song = songByFile(first, audioOf.get(track)!)
      const s = song.segments!.find((x) => x.segment === evalValue.row_segments[row])!
      evalValue.labels.forEach((l, j) => expect(s.scores[l]).toBe(seg.data[row * seg.cols + j]))
    })

    const voteDir = objectDir("vote.vote")
    const vote = JSON.parse(fs.readFileSync(path.join(voteDir, "value.json"), "utf8")) as { row_tracks: ReadonlyArray<string> }
    const songScores = matrix(path.join(voteDir, "scores.npy"))
    const predicted = matrix(path.join(voteDir, "predicted.npy"))
    vote.row_tracks.forEach((track, row) => {
      const song = songByFile(first, audioOf.get(track)!)
      evalValue.labels.forEach((l, j) => expect(song.scores[l]).toBe(songScores.data[row * songScores.cols + j]))
      const voted = evalValue.labels.filter((_, j) => predicted.data[row * predicted.cols + j] === 1)
      expect(song.top.map((t) => t.label).sort()).toEqual([...voted].sort())
    })
  })

  it("runs nothing the second time over the same folder (the model named by its hash prefix this time)", { timeout: 120_000 }, () => {
    const prefix = path.basename(objectDir("train")).slice(0, 10)
    const r = mea(["predict", prefix, emotifyDir, "--vocabulary", "emotify", "--format", "csv"])
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/^\d+ songs tagged; 0 of \d+ nodes ran$/m)
    const lines = r.stdout.trim().split("\n")
    expect(lines[0]).toBe("file,segment,start_s,end_s,rank,label,score")
    expect(lines).toHaveLength(1 + audioOf.size * 3)
  })

  it("scores a label list of one's own by the cosine with its word-vector embeddings", { timeout: 120_000 }, () => {
    const labels = ["nostalgic", "euphoric", "tense", "spooky"]
    const r = mea(["predict", "train", emotifyDir, "--labels", labels.join(", "), "--aggregation", "mean-score", "--top-k", "2", "--segment-scores", "--format", "json"])
    expect(r.code).toBe(0)
    const p = JSON.parse(r.stdout) as PredictJson
    expect(p.labels).toEqual(labels)
    // The labels' embeddings, computed here: word vectors, normalised (label-embed's defaults, which tiny.yaml uses).
    const wv = Either.getOrThrow(embedWithWordVectors(labels, defaultVectorsFile()))
    const L = wv.results.map((x) => {
      if (!("vector" in x)) throw new Error("OOV")
      return meanVector([x.vector], true)
    })
    const out = matrix(path.join(objectDir("eval"), "embeddings.npy"))
    const cosine = (row: number, l: Float32Array) => {
      let dot = 0
      let n = 0
      let m = 0
      for (let d = 0; d < out.cols; d++) {
        dot += out.data[row * out.cols + d] * l[d]
        n += out.data[row * out.cols + d] ** 2
        m += l[d] ** 2
      }
      return dot / Math.sqrt(n * m)
    }
    const sums = new Map<string, Array<number>>()
    evalValue.row_tracks.forEach((track, row) => {
      const song = songByFile(p, audioOf.get(track)!)
      const s = song.segments!.find((x) => x.segment === evalValue.row_segments[row])!
      const expected = L.map((l) => cosine(row, l))
      labels.forEach((l, j) => expect(s.scores[l]).toBeCloseTo(expected[j], 5))
      const acc = sums.get(track) ?? labels.map(() => 0)
      expected.forEach((e, j) => (acc[j] += e))
      sums.set(track, acc)
    })
    for (const [track, acc] of sums) {
      const song = songByFile(p, audioOf.get(track)!)
      const n = song.segments!.length
      const mean = acc.map((x) => x / n)
      labels.forEach((l, j) => expect(song.scores[l]).toBeCloseTo(mean[j], 5))
      const best = labels.map((l, j) => ({ l, s: mean[j] })).sort((a, b) => b.s - a.s).slice(0, 2).map((x) => x.l)
      expect(song.top.map((t) => t.label)).toEqual(best)
    }
  })

  it("predicts with an exported .onnx model as with the trained artifact", { timeout: 120_000 }, () => {
    const onnx = path.join(work, "model.onnx")
    expect(mea(["export", "train", onnx]).code).toBe(0)
    const r = mea(["predict", onnx, emotifyDir, "--vocabulary", "emotify", "--format", "json", "-q"])
    expect(r.code).toBe(0)
    const p = JSON.parse(r.stdout) as PredictJson
    expect(p.songs).toHaveLength(first.songs.length)
    for (const s of p.songs) {
      const a = songByFile(first, path.resolve(work, s.file))
      for (const l of p.labels) expect(s.scores[l]).toBeCloseTo(a.scores[l], 5)
    }
  })

  it("refuses bad input with exit code 2 and a message, no stack trace", { timeout: 120_000 }, () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [["--labels", " , "], /--labels: the label list is empty/],
      [["--labels", "calm, tense, Calm"], /duplicate label 'Calm' \(item 3, first at item 1\)/],
      [[], /give the labels to score/],
      [["--labels", "calm", "--vocabulary", "mtg"], /only one of --labels, --labels-file and --vocabulary/],
    ]
    for (const [extra, message] of cases) {
      const r = mea(["predict", "train", emotifyDir, ...extra])
      expect(r.code, extra.join(" ")).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(r.stderr).not.toMatch(/\n\s+at /)
    }
    const fixture = path.join(root, "test/fixtures/mert/tiny-mert.onnx")
    const notMea = mea(["predict", fixture, emotifyDir, "--vocabulary", "emotify"])
    expect(notMea.code).toBe(2)
    expect(notMea.stderr).toMatch(/is an ONNX model, but not one written by `mea export`/)
    const notModel = mea(["predict", "eval", emotifyDir, "--vocabulary", "emotify"])
    expect(notModel.code).toBe(2)
    expect(notModel.stderr).toMatch(/'eval' is an output of stage 'eval', not a trained model/)
    const missing = mea(["predict", "train", path.join(work, "nowhere"), "--vocabulary", "emotify"])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/nowhere: no such file or folder/)
    const emptyFile = path.join(work, "labels.txt")
    fs.writeFileSync(emptyFile, "# my labels\n\n")
    const empty = mea(["predict", "train", emotifyDir, "--labels-file", emptyFile])
    expect(empty.code).toBe(2)
    expect(empty.stderr).toMatch(/labels\.txt: the label list is empty/)
  })

  it("names unreadable and too-short files, tags the rest, and exits 1", { timeout: 200_000 }, () => {
    const mixed = path.join(work, "mixed")
    fs.mkdirSync(mixed)
    const good = [...audioOf.values()].slice(0, 2)
    good.forEach((f, i) => fs.copyFileSync(f, path.join(mixed, `good${i}${path.extname(f)}`)))
    fs.writeFileSync(path.join(mixed, "broken.mp3"), Buffer.from("this is not audio at all, just text".repeat(20)))
    const tone = Float32Array.from({ length: 22050 * 2 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / 22050))
    fs.writeFileSync(path.join(mixed, "short.wav"), encodeWav([tone], 22050))
    const r = mea(["predict", "train", mixed, "--vocabulary", "emotify"])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/good0/)
    expect(r.stdout).toMatch(/good1/)
    expect(r.stdout).not.toMatch(/broken|short/)
    expect(r.stderr).toMatch(/error: 2 files could not be tagged \(the other 2 were\)/)
    expect(r.stderr).toMatch(/broken\.mp3: cannot decode/)
    expect(r.stderr).toMatch(/short\.wav: shorter than one 10 s segment/)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it("ends a pipeline in predictions, and refuses labels embedded another way than the model's", { timeout: 200_000 }, () => {
    const base = fs.readFileSync(path.join(work, "tiny.yaml"), "utf8")
    const tail = (template: string) => `
  songs:
    uses: audio-files
    inputs: { folder: ${JSON.stringify(emotifyDir)} }
  songs_decoded:
    uses: decode
    inputs: { dataset: songs }
  songs_segments:
    uses: segment
    inputs: { audio: songs_decoded }
  songs_features:
    uses: mert
    inputs: { audio: songs_decoded, segments: songs_segments }
  my_labels:
    uses: label-embed
    with: { labels: [nostalgic, euphoric, tense], template: ${JSON.stringify(template)} }
  tags:
    uses: predict
    inputs: { model: train, labels: my_labels, songs: [songs], audio: [songs_decoded], segments: [songs_segments], features: [songs_features] }
    with: { k: 1 }
`
    fs.writeFileSync(path.join(work, "tag.yaml"), base + tail("{label}"))
    const ok = mea(["run", "tag.yaml", "-q"])
    expect(ok.code).toBe(0)
    const tags = JSON.parse(mea(["show", "tags", "--json", "--pipeline", "tag.yaml"]).stdout) as { songs: ReadonlyArray<{ top: ReadonlyArray<{ label: string }> }> }
    expect(tags.songs).toHaveLength(audioOf.size)
    expect(tags.songs.every((s) => s.top.length === 1)).toBe(true)

    fs.writeFileSync(path.join(work, "tag.yaml"), base + tail("music that feels {label}"))
    const bad = mea(["run", "tag.yaml"])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/the labels my_labels were embedded with provider word-vectors, template "music that feels \{label\}", but model train was trained on labels embedded with provider word-vectors, template "\{label\}"/)
  })
})
