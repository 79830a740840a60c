/**
 * The cluster's runner health check (src/distributed/cluster.ts): a worker is alive while its port accepts
 * connections, even when its event loop is stuck in a computation, and dead as soon as its process is gone.
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import { expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { Effect } from "effect"
import { connectRunnerHealth } from "../../src/distributed/cluster.ts"

const isAlive = (port: number) =>
  Effect.flatMap(RunnerHealth.RunnerHealth, (h) => h.isAlive(RunnerAddress.make("127.0.0.1", port))).pipe(Effect.provide(connectRunnerHealth))

// live: the check retries on the real clock.
it.live("a worker whose event loop is busy is alive; once killed it is dead", () =>
  Effect.gen(function* () {
    // Listens, says on which port, then never returns to its event loop.
    const child = spawn(process.execPath, [
      "-e",
      "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); for (;;) {} })",
    ])
    const port: number = yield* Effect.async<number>((resume) => {
      child.stdout.once("data", (d) => resume(Effect.succeed(Number(String(d).trim()))))
    })
    expect(yield* isAlive(port)).toBe(true)
    yield* Effect.async<void>((resume) => {
      child.once("exit", () => resume(Effect.void))
      child.kill("SIGKILL")
    })
    expect(yield* isAlive(port)).toBe(false)
  }),
  30_000,
)
