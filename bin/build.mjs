// Bundles src/cli/main.ts into dist/mea.mjs. Packages with native code, dynamic requires or worker files stay external.
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const buildBundle = async (root) => {
  const dist = path.join(root, "dist")
  const out = path.join(dist, "mea.mjs")
  fs.mkdirSync(dist, { recursive: true })
  const result = await esbuild.build({
    entryPoints: { mea: path.join(root, "src", "cli", "main.ts") },
    outdir: dist,
    write: false,
    bundle: true,
    // Code reached only by a dynamic import (the cluster and S3 layers) goes to its own chunk, loaded when used.
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    outExtension: { ".js": ".mjs" },
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
    external: ["onnxruntime-node", "@aws-sdk/*", "@smithy/*", "@ffmpeg-installer/*", "fft.js", "ml-kmeans", "fflate", "onnx-proto", "protobufjs", "cli-progress", "tsx", "esbuild"],
    // Whitespace and syntax only: names stay readable in MEA_DEBUG traces; parsing a smaller file starts faster.
    minifyWhitespace: true,
    minifySyntax: true,
    banner: { js: "import { createRequire as __meaRequire } from 'node:module'; const require = __meaRequire(import.meta.url);" },
  })
  // Chunks are named by content hash, so writing them never disturbs a running `mea`; the entry goes last and
  // atomically, so a concurrent `mea` never imports a half-written bundle.
  const entry = result.outputFiles.find((f) => path.resolve(f.path) === out)
  for (const f of result.outputFiles) {
    if (f === entry) continue
    const tmp = `${f.path}.${process.pid}.tmp`
    fs.mkdirSync(path.dirname(f.path), { recursive: true })
    fs.writeFileSync(tmp, f.contents)
    fs.renameSync(tmp, f.path)
  }
  const tmp = `${out}.${process.pid}.tmp`
  fs.writeFileSync(tmp, entry.contents)
  fs.renameSync(tmp, out)
  // Chunks of earlier builds: kept a day for a long-running `mea worker` that may still load one, then dropped.
  const current = new Set(result.outputFiles.map((f) => path.resolve(f.path)))
  const chunks = path.join(dist, "chunks")
  for (const name of fs.existsSync(chunks) ? fs.readdirSync(chunks) : []) {
    const file = path.join(chunks, name)
    if (!current.has(file) && Date.now() - fs.statSync(file).mtimeMs > 86_400_000) fs.rmSync(file, { force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildBundle(path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."))
}
