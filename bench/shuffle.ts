/**
 * What the block shuffle costs in accuracy on the demo: the default pipeline (pipeline.yaml) swept over the training
 * row order, full random permutation vs block shuffle, everything else equal. The demo's data sets have a few hundred
 * segments, less than one batch of 256, so at the default batch the order cannot matter; the sweep uses a small batch
 * and small blocks (defaults: batch 16, blocks of 4 rows, 4 blocks per window: a window is one batch, a harsher mix
 * than at scale, where a window of 16 x 256 rows spans 16 batches).
 *
 * `--seed N` reruns it on another seed (the demo's data, the split, the net's initialisation and the batches).
 *
 *   npx tsx bench/shuffle.ts [--batch 16] [--block 4] [--window 4] [--seed N] [--cache DIR]
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const flag = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name)
  return i < 0 ? fallback : process.argv[i + 1]
}
const out = path.join(root, "bench/out/shuffle")
fs.mkdirSync(out, { recursive: true })
const yaml = fs
  .readFileSync(path.join(root, "pipeline.yaml"), "utf8")
  .replace("params:\n", "params:\n  shuffle: random\n  shuffle_block: 4\n  shuffle_window: 4\n")
  .replace('      upsample: "${split.upsample}"\n', '      upsample: "${split.upsample}"\n      shuffle: "${shuffle}"\n      shuffle_block: "${shuffle_block}"\n      shuffle_window: "${shuffle_window}"\n')
if (!yaml.includes('shuffle: "${shuffle}"')) throw new Error("pipeline.yaml's train stage has changed; update bench/shuffle.ts")
const file = path.join(out, "pipeline.yaml")
fs.writeFileSync(file, yaml)
const cache = flag("--cache", path.join(out, "cache"))
const seed = flag("--seed", "")
console.log(
  `shuffle bench: demo pipeline, batch ${flag("--batch", "16")}, block ${flag("--block", "4")} rows x window ${flag("--window", "4")}${seed === "" ? "" : `, seed ${seed}`}; load ${os.loadavg()[0].toFixed(2)}`,
)
const r = spawnSync(
  process.execPath,
  [
    path.join(root, "bin/mea.mjs"),
    "sweep",
    file,
    "shuffle=random,block",
    "-p",
    `batch=${flag("--batch", "16")}`,
    "-p",
    `shuffle_block=${flag("--block", "4")}`,
    "-p",
    `shuffle_window=${flag("--window", "4")}`,
    ...(seed === "" ? [] : ["-p", `seed=${seed}`]),
    "--cache",
    cache,
    "-q",
  ],
  { cwd: out, encoding: "utf8", env: { ...process.env, CI: "1" } },
)
process.stdout.write(r.stdout)
if (r.status !== 0) process.stderr.write(r.stderr)
console.log(`load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
process.exitCode = r.status ?? 1
