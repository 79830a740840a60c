/**
 * The S3 backend of the shared store (`--store s3://bucket/prefix`), for AWS or any S3-compatible server (MinIO, R2,
 * Ceph, s3rver). Credentials come from the AWS SDK's usual chain (environment, ~/.aws files); the endpoint of a
 * non-AWS server from MEA_S3_ENDPOINT, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL. Nothing printed holds a credential.
 *
 * Uploads send each body with its Content-MD5, so the server refuses a corrupted transfer, and a HEAD afterwards checks
 * the size; files above PART_BYTES go up as a multipart upload one part at a time, so memory stays bounded. Downloads
 * stream to disk through sha256; the caller compares the hash with the manifest.
 */
import type * as S3 from "@aws-sdk/client-s3"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import type { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { StoreError, type Blobs } from "../runtime/remote.ts"
import { importModule } from "../util/lazy.ts"

/** Parts of a multipart upload (S3's minimum part is 5 MiB). */
export const PART_BYTES = 8 << 20

export interface S3Location {
  readonly bucket: string
  readonly prefix: string
}

export const parseS3Url = (url: string): S3Location | undefined => {
  const m = /^s3:\/\/([^/?#]+)\/?([^?#]*)$/.exec(url)
  if (m === null) return undefined
  return { bucket: m[1], prefix: m[2].replace(/\/+$/, "") }
}

const md5 = (b: Uint8Array): string => createHash("md5").update(b).digest("base64")

const describeError = (e: unknown): string => {
  if (e instanceof Error) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
    return `${e.name === "Error" ? "" : `${e.name}: `}${e.message}${status !== undefined ? ` (HTTP ${status})` : ""}`
  }
  return String(e)
}

const isNotFound = (e: unknown): boolean => {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } }
  return err?.name === "NoSuchKey" || err?.name === "NotFound" || err?.$metadata?.httpStatusCode === 404
}

/** Reads `length` bytes of a file at `offset` (one part). */
const readPart = (fd: number, offset: number, length: number): Buffer => {
  const buf = Buffer.allocUnsafe(length)
  let done = 0
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, offset + done)
    if (n === 0) throw new Error("file shrank while uploading")
    done += n
  }
  return buf
}

export const s3Blobs = (url: string): Effect.Effect<Blobs, StoreError> =>
  Effect.gen(function* () {
    const loc = parseS3Url(url)
    if (loc === undefined) return yield* Effect.fail(new StoreError({ message: `--store ${url}: expected s3://bucket/prefix` }))
    // mea supports Node 20; the SDK's notice about its future Node support is not the user's concern mid-run.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"
    const sdk = yield* Effect.tryPromise({ try: () => importModule<typeof import("@aws-sdk/client-s3")>("@aws-sdk/client-s3"), catch: (e) => new StoreError({ message: `cannot load the AWS SDK: ${String(e)}` }) })
    const endpoint = process.env.MEA_S3_ENDPOINT ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL
    const client: S3.S3Client = new sdk.S3Client({
      region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1",
      ...(endpoint !== undefined ? { endpoint, forcePathStyle: true } : {}),
      // Content-MD5 is sent explicitly; the SDK's default CRC trailers are not understood by every compatible server.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 4,
    })
    const describe = `s3://${loc.bucket}${loc.prefix === "" ? "" : `/${loc.prefix}`}`
    const keyOf = (rel: string) => (loc.prefix === "" ? rel : `${loc.prefix}/${rel}`)
    const call = <A>(what: string, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (e) => new StoreError({ message: `${describe}: ${what}: ${describeError(e)}` }) })

    /** Uploads a file; true when the server's answer already proves it holds these bytes (see `upload`). */
    const uploadFile = async (key: string, file: string, size: number): Promise<boolean> => {
      const fd = fs.openSync(file, "r")
      try {
        if (size <= PART_BYTES) {
          const body = readPart(fd, 0, size)
          const digest = md5(body)
          const r = await client.send(new sdk.PutObjectCommand({ Bucket: loc.bucket, Key: key, Body: body, ContentLength: size, ContentMD5: digest }))
          // A single PUT's ETag is the MD5 of what the server stored (except under SSE-KMS, where it is opaque).
          return r.ETag !== undefined && r.ETag.replace(/"/g, "") === Buffer.from(digest, "base64").toString("hex")
        }
        const { UploadId } = await client.send(new sdk.CreateMultipartUploadCommand({ Bucket: loc.bucket, Key: key }))
        try {
          const parts: Array<{ PartNumber: number; ETag: string | undefined }> = []
          for (let offset = 0, n = 1; offset < size; offset += PART_BYTES, n++) {
            const body = readPart(fd, offset, Math.min(PART_BYTES, size - offset))
            const r = await client.send(
              new sdk.UploadPartCommand({ Bucket: loc.bucket, Key: key, UploadId, PartNumber: n, Body: body, ContentLength: body.length, ContentMD5: md5(body) }),
            )
            parts.push({ PartNumber: n, ETag: r.ETag })
          }
          await client.send(new sdk.CompleteMultipartUploadCommand({ Bucket: loc.bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }))
          return false
        } catch (e) {
          await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: loc.bucket, Key: key, UploadId })).catch(() => undefined)
          throw e
        }
      } finally {
        fs.closeSync(fd)
      }
    }

    const blobs: Blobs = {
      describe,
      readText: (rel) =>
        call(`cannot read ${rel}`, async () => {
          try {
            const r = await client.send(new sdk.GetObjectCommand({ Bucket: loc.bucket, Key: keyOf(rel) }))
            return await r.Body!.transformToString("utf8")
          } catch (e) {
            if (isNotFound(e)) return undefined
            throw e
          }
        }),
      writeText: (rel, text) =>
        call(`cannot write ${rel}`, async () => {
          const body = Buffer.from(text, "utf8")
          await client.send(new sdk.PutObjectCommand({ Bucket: loc.bucket, Key: keyOf(rel), Body: body, ContentLength: body.length, ContentMD5: md5(body), ContentType: "application/json" }))
        }),
      upload: (rel, file, expected) =>
        call(`cannot upload ${rel}`, async () => {
          // A single PUT whose ETag is the MD5 of the bytes sent needs no second look (a round trip saved per file);
          // otherwise (multipart, or an opaque ETag) the stored size is checked.
          if (await uploadFile(keyOf(rel), file, expected.size)) return
          const head = await client.send(new sdk.HeadObjectCommand({ Bucket: loc.bucket, Key: keyOf(rel) }))
          if (head.ContentLength !== expected.size) throw new Error(`stored copy has ${head.ContentLength} bytes, expected ${expected.size}`)
        }),
      download: (rel, file) =>
        call(`cannot download ${rel}`, async () => {
          const r = await client.send(new sdk.GetObjectCommand({ Bucket: loc.bucket, Key: keyOf(rel) }))
          const h = createHash("sha256")
          let size = 0
          const body = r.Body as Readable
          body.on("data", (chunk: Buffer) => {
            h.update(chunk)
            size += chunk.length
          })
          await pipeline(body, fs.createWriteStream(file))
          return { size, sha256: h.digest("hex") }
        }),
    }
    // One cheap request up front, so a wrong bucket or endpoint is one clear error before anything runs.
    yield* call("cannot reach the bucket", () => client.send(new sdk.HeadBucketCommand({ Bucket: loc.bucket })))
    return blobs
  })
