/*
 * `npm run bench:registry`: how long a registry refresh blocks the event loop. A 1 ms interval
 * probes the loop while the registry cache reads a 100,000-entry (and a 1,000,000-entry) answer:
 * first load (every entry base58-decoded) and a steady refresh (known entries skip decoding). The
 * baseline is the same probe over an idle period of the same length in the same run, so scheduling
 * noise on a shared machine shows up in both columns. Also times refusing a 5 MB entry. Prints a
 * table and writes bench/results/registry.json. Not a test: nothing here asserts.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import bs58 from 'bs58'
import { AuthorizedWalletCache } from '../src/auth/registry-cache.js'
import { normalizeWalletAddress } from '../src/identity.js'
import { silentLogger } from '../src/logger.js'

async function probe<T> (work: () => Promise<T>): Promise<{ ms: number, maxBlockMs: number }> {
  let last = performance.now()
  let maxBlockMs = 0
  const timer = setInterval(() => { const now = performance.now(); maxBlockMs = Math.max(maxBlockMs, now - last); last = now }, 1)
  const started = performance.now()
  await work()
  const ms = performance.now() - started
  clearInterval(timer)
  maxBlockMs = Math.max(maxBlockMs, performance.now() - last)
  return { ms, maxBlockMs }
}

const rows: Array<Record<string, string | number>> = []
for (const size of [100_000, 1_000_000]) {
  const wallets = Array.from({ length: size }, () => bs58.encode(randomBytes(32)))
  let answer = wallets
  const cache = new AuthorizedWalletCache({ logger: silentLogger, fetch: async () => answer },
    { refreshIntervalMs: 3_600_000, timeoutMs: 600_000, missIntervalMs: 2_000, maxShrinkFraction: 0.5 })
  const first = await probe(async () => { await cache.start() })
  const idle1 = await probe(async () => { await new Promise((resolve) => setTimeout(resolve, first.ms)) })
  answer = [...wallets.slice(10), ...Array.from({ length: 10 }, () => bs58.encode(randomBytes(32)))]
  const steady = await probe(async () => { await cache.refresh('bench') })
  const idle2 = await probe(async () => { await new Promise((resolve) => setTimeout(resolve, Math.max(steady.ms, 50))) })
  cache.stop()
  rows.push({ entries: size, phase: 'first load', refreshMs: Math.round(first.ms), maxBlockMs: +first.maxBlockMs.toFixed(1), idleBaselineMaxBlockMs: +idle1.maxBlockMs.toFixed(1) })
  rows.push({ entries: size, phase: 'steady refresh', refreshMs: Math.round(steady.ms), maxBlockMs: +steady.maxBlockMs.toFixed(1), idleBaselineMaxBlockMs: +idle2.maxBlockMs.toFixed(1) })
}
const long = '2'.repeat(5_000_000)
const t0 = performance.now()
try { normalizeWalletAddress(long) } catch {}
const refuseMs = performance.now() - t0

console.table(rows)
console.log(`refusing a 5,000,000-character entry: ${refuseMs.toFixed(2)} ms`)
mkdirSync('bench/results', { recursive: true })
writeFileSync('bench/results/registry.json', JSON.stringify({ rows, refuseLongEntryMs: refuseMs }, null, 2))
