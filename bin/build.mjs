// Bundles src/cli/main.ts into dist/mea.cjs. Packages with native code, dynamic requires or worker files stay external.
//
// CommonJS, one file, so that bin/mea.mjs can compile it with vm.Script and a V8 code cache: Node 20 has no code cache
// for ES modules, and compiling 1.7 MB of ESM took 110-130 ms of a 0.5 s no-op run. Modules reached only by a dynamic
// import (the cluster and S3 layers) are wrapped by esbuild and initialised on first use, so they cost only their
// share of the file's bytes, which a code cache hit does not parse.
import * as esbuild from "esbuild"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The bundle's first line: `// mea-bundle <sha256 of the rest>`, the code cache's key (see bin/mea.mjs). */
export const stampPrefix = "// mea-bundle "

export const buildBundle = async (root) => {
  const dist = path.join(root, "dist")
  const out = path.join(dist, "mea.cjs")
  fs.mkdirSync(dist, { recursive: true })
  const result = await esbuild.build({
    entryPoints: [path.join(root, "src", "cli", "main.ts")],
    outfile: out,
    write: false,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    logLevel: "warning",
    external: ["onnxruntime-node", "@aws-sdk/*", "@smithy/*", "@ffmpeg-installer/*", "fft.js", "ml-kmeans", "fflate", "onnx-proto", "protobufjs", "cli-progress", "tsx", "esbuild"],
    // Whitespace and syntax only: names stay readable in MEA_DEBUG traces; parsing a smaller file starts faster.
    minifyWhitespace: true,
    minifySyntax: true,
    // bin/mea.mjs reads the bundle as latin1.
    charset: "ascii",
    // The sources locate files (package root, createRequire) from import.meta.url, which CommonJS lacks.
    define: { "import.meta.url": "__meaBundleUrl" },
    banner: { js: "var __meaBundleUrl=require('node:url').pathToFileURL(__filename).href;" },
  })
  const code = result.outputFiles[0].text
  // A script compiled from a code cache cannot import(): every ES module import goes through importModule.
  const stray = [...code.matchAll(/(?<![\w$.])import\((?!specifier\))/g)]
  if (stray.length > 0) {
    const at = stray[0].index
    throw new Error(`bundle: import() outside importModule (src/util/lazy.ts) would fail from the code cache, near: ${code.slice(Math.max(0, at - 80), at + 60)}`)
  }
  const stamped = `${stampPrefix}${createHash("sha256").update(code).digest("hex")}\n${code}`
  // Written whole and renamed, so a concurrent `mea` never compiles a half-written bundle.
  const tmp = `${out}.${process.pid}.tmp`
  fs.writeFileSync(tmp, stamped)
  fs.renameSync(tmp, out)
  // Left by the ES module builds this replaced.
  fs.rmSync(path.join(dist, "mea.mjs"), { force: true })
  fs.rmSync(path.join(dist, "chunks"), { recursive: true, force: true })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildBundle(path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."))
}
