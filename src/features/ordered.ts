/**
 * Runs asynchronous work over a stream of batches with at most `window` in flight, consuming results in input order,
 * so feature rows are written in segment order while workers run ahead. Bounded memory: at most `window` batches
 * of samples and results exist at once.
 */
import { Effect } from "effect"

export const forEachOrdered = <B, R, E, E2>(
  /** Pulls the next batch (undefined at the end); reading may fail. */
  next: Effect.Effect<B | undefined, E>,
  window: number,
  start: (batch: B) => Effect.Effect<Promise<R>, E>,
  consume: (result: R, batch: B) => Effect.Effect<void, E2>,
  onRejected: (cause: unknown) => E2,
): Effect.Effect<void, E | E2> =>
  Effect.gen(function* () {
    const queue: Array<{ readonly batch: B; readonly result: Promise<R> }> = []
    const drainOne = Effect.gen(function* () {
      const head = queue.shift()
      if (head === undefined) return
      const r = yield* Effect.tryPromise({ try: () => head.result, catch: onRejected })
      yield* consume(r, head.batch)
    })
    for (;;) {
      const batch = yield* next
      if (batch === undefined) break
      const result = yield* start(batch)
      // Later failures are reported when their turn comes (or not at all if an earlier one stops the run).
      result.catch(() => undefined)
      queue.push({ batch, result })
      if (queue.length >= window) yield* drainOne
    }
    while (queue.length > 0) yield* drainOne
  })
