// A counting HTTP proxy in front of an S3 server, for bench/cluster.ts: how many round trips the cluster path makes.
// argv: target port. Prints its own port once listening. GET /__counts answers the counts so far as JSON, by
// "METHOD kind" (kind: keys, manifest, object, bucket), and resets them.
import * as http from "node:http"

const target = Number(process.argv[2])
let counts = {}
const kindOf = (url) =>
  url.includes("/keys/") ? "keys" : url.includes(".mea-manifest.json") ? "manifest" : url.includes("/objects/") ? "object" : "bucket"
const server = http.createServer((req, res) => {
  if (req.url === "/__counts") {
    res.end(JSON.stringify(counts))
    counts = {}
    return
  }
  const what = `${req.method} ${kindOf(req.url ?? "")}`
  counts[what] = (counts[what] ?? 0) + 1
  const up = http.request({ host: "127.0.0.1", port: target, method: req.method, path: req.url, headers: req.headers }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers)
    r.pipe(res)
  })
  up.on("error", () => res.destroy())
  req.pipe(up)
})
server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`))
process.on("SIGTERM", () => process.exit(0))
