/**
 * Buffers kept per batch size and reused by every step of that size: the full batch, an epoch's last partial one, and
 * a spare. Fresh buffers every step would cost page faults and garbage collections (tens of MB a step for the
 * reference net); beyond three sizes, the least recently used is dropped.
 */
const KEPT_SIZES = 3

export class KeptBySize<T> {
  private readonly bySize = new Map<number, T>()

  get(rows: number): T | undefined {
    const kept = this.bySize.get(rows)
    if (kept !== undefined) {
      this.bySize.delete(rows)
      this.bySize.set(rows, kept)
    }
    return kept
  }

  set(rows: number, value: T): void {
    this.bySize.set(rows, value)
    while (this.bySize.size > KEPT_SIZES) this.bySize.delete(this.bySize.keys().next().value as number)
  }
}
