/** Builds the CLI bundle once, so CLI tests running in parallel do not each rebuild it. */
import * as path from "node:path"
import { buildBundle } from "../bin/build.mjs"

export default async function setup(): Promise<void> {
  await buildBundle(path.resolve(import.meta.dirname, ".."))
}
