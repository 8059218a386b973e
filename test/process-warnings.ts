/*
 * vitest setup file: a Node process warning emitted in a test file's process (a
 * MaxListenersExceededWarning, a deprecation, ...) fails the test during which it was emitted, or
 * the file when it came after the last test. Node still prints the warning as usual; this makes a
 * run fail on it instead of leaving a line in the log nobody reads (issue 16). Warnings of child
 * processes (daemons, examples) are theirs: the tests that start them check their stderr.
 */
import { afterAll, afterEach } from 'vitest'

interface Collector { warnings: Error[] }

// A worker process may run several test files, each loading this file again: one listener per
// process (on a key that survives the module reload), and a list emptied at every check.
const KEY = Symbol.for('depin-p2p.test.process-warnings')
const holder = globalThis as unknown as Record<symbol, Collector | undefined>
const collector: Collector = holder[KEY] ?? listen()
function listen (): Collector {
  const created: Collector = { warnings: [] }
  process.on('warning', (w) => { created.warnings.push(w) })
  return (holder[KEY] = created)
}
collector.warnings.length = 0

// process.emitWarning emits on the next tick; the real setImmediate, taken before a test can fake timers
const realSetImmediate = setImmediate
async function check (): Promise<void> {
  await new Promise((resolve) => realSetImmediate(resolve))
  const found = collector.warnings.splice(0)
  if (found.length === 0) return
  throw new Error(`${found.length} Node process warning(s) in this test process:\n` +
    found.map((w) => w.stack ?? `${w.name}: ${w.message}`).join('\n'))
}

afterEach(check)
afterAll(check)
