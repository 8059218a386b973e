/*
 * The stop deadline, enforced from outside the main event loop. A timer on the main thread only
 * fires when the loop reaches its timers, and a node flooded with inbound messages can keep it busy
 * in one unbroken chain of promise callbacks (verify, decode, deliver, next message) for as long as
 * the flood lasts: the deadline then passed unnoticed for minutes. So the deadline runs on a worker
 * thread, which at expiry asks the main thread, through an inspector session (V8 runs such requests
 * between two JavaScript steps, even in the middle of that chain), to write `message` to stderr and
 * exit 1. If even that gets no answer within `graceMs` (the thread is stuck inside native code) the
 * worker kills the process outright.
 */
import { Worker } from 'node:worker_threads'

const WATCHDOG = `
const { workerData } = require('node:worker_threads')
const inspector = require('node:inspector')
setTimeout(() => {
  try {
    const session = new inspector.Session()
    session.connectToMainThread()
    session.post('Runtime.evaluate', { expression: 'process.stderr.write(' + JSON.stringify(workerData.message + '\\n') + '); process.exit(1)' })
  } catch {}
  setTimeout(() => { process.kill(process.pid, 'SIGKILL') }, workerData.graceMs)
}, workerData.ms)
`

/** Starts the deadline; the returned function cancels it (the stop finished in time). */
export function startStopDeadline (ms: number, message: string, graceMs = 500): () => void {
  const worker = new Worker(WATCHDOG, { eval: true, workerData: { ms, message, graceMs } })
  // referenced on purpose: a stop stuck on a promise with nothing else pending still ends at the deadline
  return () => { void worker.terminate() }
}
