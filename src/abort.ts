/*
 * Deadlines and cancellable sleeps, in one place. Timeouts use our own timers instead of
 * AbortSignal.timeout inside AbortSignal.any, which Node 20 can garbage-collect so the timeout never
 * fires (a known Node bug: a DHT query hung past its limit that way).
 */
import { setMaxListeners } from 'node:events'

/** A signal that aborts after `ms` (with `message`) or when `parent` aborts. The timer does not keep the process alive. */
export function deadlineSignal (ms: number, message: string, parent?: AbortSignal): AbortSignal {
  return deadline(ms, message, parent).signal
}

function deadline (ms: number, message: string, parent?: AbortSignal): { signal: AbortSignal, clear: () => void } {
  const controller = new AbortController()
  // These signals are handed to libp2p calls that listen on them once per sub-operation: a kad-dht
  // provide or lookup takes a peer-store lock per closer peer it learns, each lock adding an abort
  // listener that is removed when it is released. Such a fan-out is bounded by the call and ends
  // with it, yet passes Node's warning threshold of 10 listeners (MaxListenersExceededWarning); libp2p
  // marks the signals it creates for the same calls the same way. Project code adds one listener per
  // signal (the replica network shares one per caller signal), so a leak of ours still cannot hide here.
  setMaxListeners(Infinity, controller.signal)
  const timer = setTimeout(() => { controller.abort(new Error(message)) }, ms)
  timer.unref?.()
  const onAbort = (): void => { clearTimeout(timer); controller.abort(parent?.reason) }
  if (parent != null) {
    if (parent.aborted) onAbort()
    else parent.addEventListener('abort', onAbort, { once: true })
    controller.signal.addEventListener('abort', () => { parent.removeEventListener('abort', onAbort) }, { once: true })
  }
  // finished early: stop the timer and stop listening to the parent, without aborting the signal
  // (work started with it, such as a dialed connection, must outlive the call)
  return { signal: controller.signal, clear: () => { clearTimeout(timer); parent?.removeEventListener('abort', onAbort) } }
}

/**
 * Runs `fn` with a signal that aborts after `ms` or when `parent` aborts, and rejects with the abort
 * reason at that moment even if `fn` ignores its signal.
 */
export async function withDeadline<T> (ms: number, message: string, fn: (signal: AbortSignal) => Promise<T>, parent?: AbortSignal): Promise<T> {
  const controller = new AbortController()
  const { signal, clear } = deadline(ms, message, parent)
  const onAbort = (): void => { controller.abort(signal.reason) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await Promise.race([fn(signal), new Promise<never>((_resolve, reject) => {
      controller.signal.addEventListener('abort', () => { reject(controller.signal.reason) }, { once: true })
    })])
  } finally {
    signal.removeEventListener('abort', onAbort)
    clear()
  }
}

/**
 * A signal that aborts when `parent` aborts, to carry one bounded fan-out of listeners (one per
 * parallel sub-operation, such as a deadline per dial) that would otherwise all sit on `parent`.
 * Past 10 listeners Node warns of a leak (MaxListenersExceededWarning); the fan-out is legitimate
 * and ends with the operation, so only this short-lived signal is marked for it. `parent`, often a
 * long-lived stop signal, gets one listener and keeps Node's limit, so listeners that leak across
 * operations still warn there. Call `clear` when the operation ends (the signal is not aborted).
 */
export function fanOutSignal (parent: AbortSignal): { signal: AbortSignal, clear: () => void } {
  const controller = new AbortController()
  setMaxListeners(Infinity, controller.signal)
  const onAbort = (): void => { controller.abort(parent.reason) }
  if (parent.aborted) onAbort()
  else parent.addEventListener('abort', onAbort, { once: true })
  return { signal: controller.signal, clear: () => { parent.removeEventListener('abort', onAbort) } }
}

/** Sleeps `ms`; resolves false early when `signal` aborts. */
export async function sleep (ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return false
  return await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(true) }, ms)
    const onAbort = (): void => { clearTimeout(timer); resolve(false) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Waits for `work` at most `ms`: true when it settled in time (the work itself is not stopped). */
export async function settlesWithin (ms: number, work: Promise<unknown>): Promise<boolean> {
  return await withDeadline(ms, 'not settled in time', async () => { await work.catch(() => {}) }).then(() => true, () => false)
}
