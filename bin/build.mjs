// Bundles src/cli/main.ts into dist/mea.mjs. Packages with native code, dynamic requires or worker files stay external.
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const buildBundle = async (root) => {
  const out = path.join(root, "dist", "mea.mjs")
  const tmp = `${out}.${process.pid}.tmp`
  fs.mkdirSync(path.dirname(out), { recursive: true })
  await esbuild.build({
    entryPoints: [path.join(root, "src", "cli", "main.ts")],
    outfile: tmp,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
    external: ["onnxruntime-node", "@ffmpeg-installer/*", "fft.js", "ml-kmeans", "fflate", "onnx-proto", "protobufjs", "cli-progress", "tsx", "esbuild"],
    // Whitespace and syntax only: names stay readable in MEA_DEBUG traces; parsing a smaller file starts faster.
    minifyWhitespace: true,
    minifySyntax: true,
    banner: { js: "import { createRequire as __meaRequire } from 'node:module'; const require = __meaRequire(import.meta.url);" },
  })
  // Atomic: a concurrent `mea` never imports a half-written bundle.
  fs.renameSync(tmp, out)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildBundle(path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."))
}
