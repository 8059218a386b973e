/*
 * Long loops over large lists (a 100,000-entry registry) cut into slices with a turn of the event
 * loop between them, so no single turn blocks timers and I/O for long: a slice ends after
 * SLICE_ENTRIES items or SLICE_MS, whichever comes first.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'

/** Items handled between two turns of the event loop. */
const SLICE_ENTRIES = 2_000
/** ... or after this much time, whichever comes first. */
const SLICE_MS = 5

/**
 * Splits a long loop into slices of at most SLICE_ENTRIES items or SLICE_MS, with a turn of the
 * event loop (setImmediate: timers and I/O run) between two slices.
 */
export class Slicer {
  private seen = 0
  private sliceStart = performance.now()

  /** Call once per item: true when the loop should `await yield()` before this item. */
  due (): boolean {
    const n = ++this.seen
    return n % SLICE_ENTRIES === 0 || (n % 64 === 0 && performance.now() - this.sliceStart > SLICE_MS)
  }

  async yield (): Promise<void> {
    await nextTurn()
    this.sliceStart = performance.now()
  }

  /** How many items pass `test`, in slices. */
  async count (items: Iterable<string>, test: (item: string) => boolean): Promise<number> {
    let n = 0
    for (const item of items) {
      if (this.due()) await this.yield()
      if (test(item)) n++
    }
    return n
  }

  /** A new set of the items passing `keep`, built in slices. */
  async collect (items: Iterable<string>, keep: (item: string) => boolean): Promise<Set<string>> {
    const out = new Set<string>()
    for (const item of items) {
      if (this.due()) await this.yield()
      if (keep(item)) out.add(item)
    }
    return out
  }

  /** A new set of `a`'s items then `b`'s, built in slices. */
  async union (a: Iterable<string>, b: Iterable<string>): Promise<Set<string>> {
    const out = new Set<string>()
    for (const items of [a, b]) {
      for (const item of items) {
        if (this.due()) await this.yield()
        out.add(item)
      }
    }
    return out
  }
}
