/** Worker-thread side of the built-in extractor (run through pool.ts / worker-entry.mjs). */
import { parentPort } from "node:worker_threads"
import { extractBatch, type SegmentBatch } from "./builtin-batch.ts"
import type { ReplyMessage, TaskMessage } from "./pool.ts"

const port = parentPort
if (port === null) throw new Error("builtin-worker.ts must run in a worker thread")
port.on("message", (msg: TaskMessage<SegmentBatch>) => {
  let reply: ReplyMessage<Float32Array>
  try {
    reply = { id: msg.id, ok: true, result: extractBatch(msg.payload) }
  } catch (e) {
    reply = { id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) }
  }
  port.postMessage(reply, reply.ok ? [reply.result.buffer as ArrayBuffer] : [])
})
