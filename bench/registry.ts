/*
 * `npm run bench:registry [-- sizes...]`: how long a registry refresh blocks the event loop. Two
 * probes (a 1 ms interval's lag, and perf_hooks.monitorEventLoopDelay's max) watch the loop while
 * the registry cache reads a 100,000-entry (and a 1,000,000-entry) answer: first load (every entry
 * checked as base58), a steady refresh (known entries skip the check), a shrink to 40 % (held back
 * for a second read) and the confirming read. The baseline is the same probes over an idle period
 * of the same length in the same run, so scheduling noise on a shared machine shows up in both
 * columns. Also times refusing a 5 MB entry. Prints a table and writes bench/results/registry.json.
 * Not a test: nothing here asserts.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import bs58 from 'bs58'
import { AuthorizedWalletCache } from '../src/auth/registry-cache.js'
import { normalizeWalletAddress } from '../src/identity.js'
import { silentLogger } from '../src/logger.js'

/**
 * Two probes of the longest event-loop block: a 1 ms interval's lag, and perf_hooks'
 * monitorEventLoopDelay max (1 ms resolution). Also the longest garbage-collection pause, which
 * tells a block caused by the work apart from time slices lost to other processes.
 */
async function probe<T> (work: () => Promise<T>): Promise<{ ms: number, maxBlockMs: number, eldMaxMs: number, gcMaxMs: number }> {
  let gcMaxMs = 0
  const gc = new PerformanceObserver((list) => { for (const e of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, e.duration) })
  gc.observe({ entryTypes: ['gc'] })
  let last = performance.now()
  let maxBlockMs = 0
  const timer = setInterval(() => { const now = performance.now(); maxBlockMs = Math.max(maxBlockMs, now - last); last = now }, 1)
  const eld = monitorEventLoopDelay({ resolution: 1 })
  eld.enable()
  const started = performance.now()
  await work()
  const ms = performance.now() - started
  // one more timer turn, so a block just before `work` resolved is recorded by the histogram too
  await new Promise((resolve) => setTimeout(resolve, 2))
  clearInterval(timer)
  eld.disable()
  gc.disconnect()
  return { ms, maxBlockMs, eldMaxMs: eld.max / 1e6, gcMaxMs }
}

type Probe = Awaited<ReturnType<typeof probe>>
const row = (entries: number, phase: string, p: Probe, idle: Probe): Record<string, string | number> => ({
  entries, phase, refreshMs: Math.round(p.ms), maxBlockMs: +p.maxBlockMs.toFixed(1), eldMaxMs: +p.eldMaxMs.toFixed(1), gcMaxMs: +p.gcMaxMs.toFixed(1),
  idleMaxBlockMs: +idle.maxBlockMs.toFixed(1), idleEldMaxMs: +idle.eldMaxMs.toFixed(1)
})
const idleFor = async (ms: number): Promise<Probe> => await probe(async () => { await new Promise((resolve) => setTimeout(resolve, Math.max(ms, 50))) })

// `npm run bench:registry -- 100000` runs one size only
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0)
const rows: Array<Record<string, string | number>> = []
for (const size of sizes.length > 0 ? sizes : [100_000, 1_000_000]) {
  // the answer as a JSON-RPC client hands it over: parsed from JSON (flat strings, not the
  // concatenation trees bs58.encode builds, which a Set flattens on first use)
  const asAnswer = (list: string[]): string[] => JSON.parse(JSON.stringify(list)) as string[]
  const random = randomBytes(32 * size)
  const wallets = asAnswer(Array.from({ length: size }, (_, i) => bs58.encode(random.subarray(32 * i, 32 * i + 32))))
  let answer = wallets
  const cache = new AuthorizedWalletCache({ logger: silentLogger, fetch: async () => answer },
    { refreshIntervalMs: 3_600_000, timeoutMs: 600_000, missIntervalMs: 3_600_000, maxShrinkFraction: 0.5 })
  const first = await probe(async () => { await cache.start() })
  rows.push(row(size, 'first load', first, await idleFor(first.ms)))
  answer = asAnswer([...wallets.slice(10), ...Array.from({ length: 10 }, () => bs58.encode(randomBytes(32)))])
  const steady = await probe(async () => { await cache.refresh('bench') })
  rows.push(row(size, 'steady refresh', steady, await idleFor(steady.ms)))
  // a shrink to 40 %: held back (removals wait), then the confirming read applies it
  answer = asAnswer(answer.slice(0, Math.floor(size * 0.4)))
  const held = await probe(async () => { await cache.refresh('bench shrink') })
  rows.push(row(size, 'shrink held', held, await idleFor(held.ms)))
  const confirmed = await probe(async () => { await cache.refresh('confirm shrink') })
  rows.push(row(size, 'shrink confirmed', confirmed, await idleFor(confirmed.ms)))
  if (cache.size !== answer.length) throw new Error(`bench: the cache holds ${cache.size} wallets after the confirmed shrink, expected ${answer.length}`)
  cache.stop()
}
const long = '2'.repeat(5_000_000)
const t0 = performance.now()
try { normalizeWalletAddress(long) } catch {}
const refuseMs = performance.now() - t0

console.table(rows)
console.log(`refusing a 5,000,000-character entry: ${refuseMs.toFixed(2)} ms`)
mkdirSync('bench/results', { recursive: true })
writeFileSync('bench/results/registry.json', JSON.stringify({ rows, refuseLongEntryMs: refuseMs }, null, 2))
