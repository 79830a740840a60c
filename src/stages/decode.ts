/**
 * Stage `decode`: every track of a data set to mono 16-bit PCM at one rate, in one file (see src/audio/pcm.ts).
 * Files are decoded in parallel (ctx.threads ffmpeg processes), each streaming into its worker's shard file, so no
 * track is ever held whole in memory and no temporary WAV is written; the shards are joined at the end.
 */
import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { decodeFile, DecodeFailure, locateFfmpeg } from "../audio/ffmpeg.ts"
import { BYTES_PER_SAMPLE } from "../audio/pcm.ts"
import { defineStage, Input, StageError } from "../runtime/stage.ts"
import { DatasetCodec } from "../artifacts/dataset.ts"
import { DecodedAudioCodec } from "../artifacts/decoded-audio.ts"

export const DecodeParams = Schema.Struct({
  rate: Schema.optionalWith(Schema.Int.pipe(Schema.between(8000, 192000)), { default: () => 24000 }),
  on_error: Schema.optionalWith(Schema.Literal("fail", "skip"), { default: () => "fail" as const }),
})

const PCM_FILE = "audio.s16le"

interface Placed {
  readonly shard: number
  readonly byteStart: number
  readonly bytes: number
}

export const DecodeStage = defineStage({
  name: "decode",
  version: 1,
  description: "Decodes every track (mp3, wav, flac, ogg, opus, m4a) to mono 16-bit PCM at one rate with ffmpeg + soxr",
  params: DecodeParams,
  inputs: { dataset: Input.node(DatasetCodec) },
  output: DecodedAudioCodec,
  run: (ctx) =>
    Effect.gen(function* () {
      const ffmpeg = yield* locateFfmpeg
      const dataset = ctx.inputs.dataset.value
      const tracks = dataset.tracks
      const workers = Math.max(1, Math.min(ctx.threads, tracks.length))
      const shardPaths = Array.from({ length: workers }, (_, k) => path.join(ctx.outDir, `.shard-${k}`))
      const handles = yield* Effect.forEach(shardPaths, (p) =>
        Effect.tryPromise({ try: () => fsp.open(p, "w+"), catch: (e) => new StageError({ message: `cannot create ${p}: ${String(e)}`, cause: e }) }),
      )
      const ends = shardPaths.map(() => 0)
      const placed: Array<Placed | undefined> = tracks.map(() => undefined)
      const skipped: Array<{ id: string; file: string; reason: string }> = []
      yield* ctx.progress.start(tracks.length, "files")
      let next = 0

      const decodeOne = (k: number, i: number) =>
        Effect.tryPromise({
          try: async (signal) => {
            const fh = handles[k]
            const start = ends[k]
            let pos = start
            await decodeFile(
              tracks[i].audio,
              { ffmpeg, rate: ctx.params.rate },
              async (chunk) => {
                const { bytesWritten } = await fh.write(chunk, 0, chunk.length, pos)
                pos += bytesWritten
              },
              signal,
            )
            // An odd trailing byte cannot happen with s16 output; drop it defensively so offsets stay whole samples.
            const bytes = pos - start - ((pos - start) % BYTES_PER_SAMPLE)
            ends[k] = start + bytes
            return { shard: k, byteStart: start, bytes }
          },
          catch: (e) => e,
        })

      const worker = (k: number): Effect.Effect<void, StageError> =>
        Effect.gen(function* () {
          while (next < tracks.length) {
            const i = next++
            const result = yield* Effect.either(decodeOne(k, i))
            if (Either.isRight(result)) placed[i] = result.right
            else {
              const e = result.left
              const reason = `cannot decode: ${e instanceof Error ? e.message : String(e)}`
              if (!(e instanceof DecodeFailure) || ctx.params.on_error === "fail") {
                return yield* Effect.fail(new StageError({ message: `${tracks[i].audio} (track ${JSON.stringify(tracks[i].id)}): ${reason}`, cause: e }))
              }
              skipped.push({ id: tracks[i].id, file: tracks[i].audio, reason })
              yield* ctx.progress.warn(`decode ${dataset.name}: skipped ${tracks[i].audio}: ${reason}`)
            }
            yield* ctx.progress.advance(1)
          }
        })

      const closeAll = Effect.promise(() => Promise.all(handles.map((h) => h.close().catch(() => undefined))))
      // On failure no partial output stays behind in the stage's folder.
      const removeShards = Effect.promise(() => Promise.all(shardPaths.map((p) => fsp.rm(p, { force: true }))))
      yield* Effect.forEach(shardPaths, (_, k) => worker(k), { concurrency: "unbounded", discard: true }).pipe(
        Effect.ensuring(closeAll),
        Effect.onError(() => removeShards),
      )

      // Join the shards into the one PCM file in track order. Which worker decoded which track depends on timing, so
      // copying shard after shard would make the file's layout (and its hash, and every key downstream) differ from
      // run to run and with -j; copying track after track gives the same bytes whatever the scheduling.
      const out = path.join(ctx.outDir, PCM_FILE)
      const ids: Array<string> = []
      const offsets: Array<number> = []
      const lengths: Array<number> = []
      yield* Effect.try({
        try: () => {
          const fds = shardPaths.map((p) => fs.openSync(p, "r"))
          const fd = fs.openSync(out, "w")
          const buf = Buffer.allocUnsafe(1 << 20)
          let at = 0
          try {
            tracks.forEach((t, i) => {
              const p = placed[i]
              if (p === undefined) return
              ids.push(t.id)
              offsets.push(at / BYTES_PER_SAMPLE)
              lengths.push(p.bytes / BYTES_PER_SAMPLE)
              for (let done = 0; done < p.bytes; ) {
                const n = fs.readSync(fds[p.shard], buf, 0, Math.min(buf.length, p.bytes - done), p.byteStart + done)
                if (n === 0) throw new Error(`shard ${p.shard} is shorter than what was decoded into it`)
                fs.writeSync(fd, buf, 0, n, at)
                at += n
                done += n
              }
            })
          } finally {
            fs.closeSync(fd)
            fds.forEach((f) => fs.closeSync(f))
          }
          shardPaths.forEach((p) => fs.rmSync(p, { force: true }))
        },
        catch: (e) => new StageError({ message: `cannot write ${out}: ${e instanceof Error ? e.message : String(e)}`, cause: e }),
      })
      // Failures are found in completion order; list them in track order.
      const order = new Map(tracks.map((t, i) => [t.id, i]))
      skipped.sort((x, y) => order.get(x.id)! - order.get(y.id)!)
      if (ids.length === 0) return yield* Effect.fail(new StageError({ message: `decode ${dataset.name}: no track could be decoded (${skipped.length} skipped)` }))
      const hours = lengths.reduce((a, b) => a + b, 0) / ctx.params.rate / 3600
      yield* ctx.progress.note(`decode ${dataset.name}: ${ids.length} tracks, ${hours.toFixed(2)} h${skipped.length ? `, ${skipped.length} skipped` : ""}`)
      return { dataset: dataset.name, rate: ctx.params.rate, sample_format: "s16le" as const, file: PCM_FILE, ids, offsets, lengths, skipped }
    }),
})
