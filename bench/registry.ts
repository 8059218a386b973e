/*
 * `npm run bench:registry [-- sizes...] [--runs N]`: how long a registry refresh blocks the event
 * loop. The registry cache reads a 100,000-entry (and a 1,000,000-entry) answer through four phases:
 * first load (every entry checked as base58), a steady refresh (known entries skip the check), a
 * shrink to 40 % (held back for a second read) and the confirming read. Each phase runs N times (10
 * for 100k, 3 for 1M by default) on a fresh cache, and the table shows the p50 and the worst of each
 * figure, so one outlier shows. Probes: a 1 ms interval's lag (every block it sees is kept), and
 * perf_hooks.monitorEventLoopDelay's max. Each block is split into the GC pauses inside it (V8 work,
 * mostly copying the answer's strings that the caller just allocated) and the rest (our code, plus
 * time the OS gave to other processes); and the process CPU time spent during the block (all of its
 * threads, GC helpers included), which time given to other processes does not inflate. The caller's own work is measured apart: building the
 * answer the way a JSON-RPC client does (JSON.parse of the response body) is one synchronous block
 * outside the cache, inherent to the callback. The idle baseline is the same probe over an idle
 * period in the same run, so scheduling noise on a shared machine shows in both. Then the daemon's
 * Solana source reads a BENCH_SOLANA_ACCOUNTS-account (default 100,000; 0 skips it) getProgramAccounts
 * answer from a local server, against one JSON.parse of the whole body.
 * Prints a table and writes bench/results/registry.json. Not a test: nothing here asserts.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { randomBytes } from 'node:crypto'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import bs58 from 'bs58'
import { AuthorizedWalletCache } from '../src/auth/registry-cache.js'
import { normalizeWalletAddress } from '../src/identity.js'
import { silentLogger } from '../src/logger.js'
import { SolanaRegistrySource } from '../src/daemon/sources.js'

interface Probe { ms: number, maxBlockMs: number, maxBlockExGcMs: number, maxBlockCpuMs: number, eldMaxMs: number, gcMaxMs: number }

/** Runs `work` under the probes. A block's GC share is the GC pauses that fall inside it. */
async function probe (work: () => Promise<unknown> | unknown): Promise<Probe> {
  const gcs: Array<{ start: number, end: number }> = []
  const gc = new PerformanceObserver((list) => { for (const e of list.getEntries()) gcs.push({ start: e.startTime, end: e.startTime + e.duration }) })
  gc.observe({ entryTypes: ['gc'] })
  const blocks: Array<{ start: number, end: number, cpuMs: number }> = []
  let last = performance.now()
  let lastCpu = process.cpuUsage()
  const timer = setInterval(() => {
    const now = performance.now()
    if (now - last > 2) { const cpu = process.cpuUsage(lastCpu); blocks.push({ start: last, end: now, cpuMs: (cpu.user + cpu.system) / 1000 }) }
    last = now
    lastCpu = process.cpuUsage()
  }, 1)
  const eld = monitorEventLoopDelay({ resolution: 1 })
  eld.enable()
  await new Promise((resolve) => setTimeout(resolve, 2)) // the probes are running
  const started = performance.now()
  await work()
  const ms = performance.now() - started
  // one more timer turn, so a block just before `work` resolved is recorded too
  await new Promise((resolve) => setTimeout(resolve, 2))
  clearInterval(timer)
  eld.disable()
  // GC entries are delivered a few turns later
  await new Promise((resolve) => setTimeout(resolve, 10))
  gc.disconnect()
  let maxBlockMs = 0
  let maxBlockExGcMs = 0
  let maxBlockCpuMs = 0
  for (const b of blocks) {
    maxBlockCpuMs = Math.max(maxBlockCpuMs, b.cpuMs)
    const inGc = gcs.reduce((sum, g) => sum + Math.max(0, Math.min(b.end, g.end) - Math.max(b.start, g.start)), 0)
    maxBlockMs = Math.max(maxBlockMs, b.end - b.start)
    maxBlockExGcMs = Math.max(maxBlockExGcMs, b.end - b.start - inGc)
  }
  return { ms, maxBlockMs, maxBlockExGcMs, maxBlockCpuMs, eldMaxMs: eld.max / 1e6, gcMaxMs: gcs.reduce((m, g) => Math.max(m, g.end - g.start), 0) }
}
const idleFor = async (ms: number): Promise<Probe> => await probe(async () => { await new Promise((resolve) => setTimeout(resolve, Math.max(ms, 50))) })

const args = process.argv.slice(2)
const runsArg = args.indexOf('--runs')
const runsOverride = runsArg >= 0 ? Number(args[runsArg + 1]) : undefined
const sizes = args.filter((a, i) => i !== runsArg + 1 || runsArg < 0).map(Number).filter((n) => n > 0)
const PHASES = ['callback: JSON.parse', 'first load', 'steady refresh', 'shrink held', 'shrink confirmed', 'idle baseline'] as const

const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
const rows: Array<Record<string, string | number>> = []
const raw: Record<string, Record<string, Probe[]>> = {}
for (const size of sizes.length > 0 ? sizes : [100_000, 1_000_000]) {
  const runs = runsOverride ?? (size > 200_000 ? 3 : 10)
  const samples: Record<string, Probe[]> = Object.fromEntries(PHASES.map((p) => [p, []]))
  const random = randomBytes(32 * size)
  const wallets = Array.from({ length: size }, (_, i) => bs58.encode(random.subarray(32 * i, 32 * i + 32)))
  // the answers as a JSON-RPC response body; the callback parses one per call
  const bodies = {
    full: JSON.stringify(wallets),
    steady: JSON.stringify([...wallets.slice(10), ...Array.from({ length: 10 }, () => bs58.encode(randomBytes(32)))]),
    shrunk: JSON.stringify(wallets.slice(0, Math.floor(size * 0.4)))
  }
  for (let run = 0; run < runs; run++) {
    let answer: string[] = []
    const parse = async (body: string): Promise<void> => {
      samples['callback: JSON.parse']!.push(await probe(() => { answer = JSON.parse(body) as string[] }))
    }
    const cache = new AuthorizedWalletCache({ logger: silentLogger, fetch: async () => answer },
      { refreshIntervalMs: 3_600_000, timeoutMs: 600_000, missIntervalMs: 3_600_000, maxShrinkFraction: 0.5 })
    await parse(bodies.full)
    samples['first load']!.push(await probe(async () => { await cache.start() }))
    await parse(bodies.steady)
    samples['steady refresh']!.push(await probe(async () => { await cache.refresh('bench') }))
    // a shrink to 40 %: held back (removals wait), then the confirming read applies it
    await parse(bodies.shrunk)
    samples['shrink held']!.push(await probe(async () => { await cache.refresh('bench shrink') }))
    samples['shrink confirmed']!.push(await probe(async () => { await cache.refresh('confirm shrink') }))
    if (cache.size !== answer.length) throw new Error(`bench: the cache holds ${cache.size} wallets after the confirmed shrink, expected ${answer.length}`)
    cache.stop()
    samples['idle baseline']!.push(await idleFor(200))
  }
  raw[size] = samples
  for (const phase of PHASES) {
    const s = samples[phase]!
    const worst = (f: (p: Probe) => number): number => +Math.max(...s.map(f)).toFixed(1)
    const mid = (f: (p: Probe) => number): number => +p50(s.map(f)).toFixed(1)
    rows.push({
      entries: size,
      phase,
      runs: s.length,
      'ms p50': Math.round(p50(s.map((p) => p.ms))),
      'block p50': mid((p) => p.maxBlockMs),
      'block worst': worst((p) => p.maxBlockMs),
      'eld worst': worst((p) => p.eldMaxMs),
      'block ex GC worst': worst((p) => p.maxBlockExGcMs),
      'GC pause worst': worst((p) => p.gcMaxMs),
      'block CPU worst': worst((p) => p.maxBlockCpuMs)
    })
  }
}
// The daemon's Solana source on a getProgramAccounts answer of SOLANA_ACCOUNTS accounts (each a
// 32-byte slice, base64), served by a worker thread on loopback so that building and sending the
// ~22 MB answer does not block the loop being measured: the streamed read (fetch, scan each network
// chunk, base58-encode in slices) against reading the whole body and one JSON.parse of it.
const SOLANA_ACCOUNTS = Number(process.env.BENCH_SOLANA_ACCOUNTS ?? 100_000)
if (SOLANA_ACCOUNTS > 0) {
  const programId = bs58.encode(randomBytes(32))
  const server = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads')
    const http = require('node:http')
    const { randomBytes } = require('node:crypto')
    const result = []
    for (let i = 0; i < workerData.n; i++) {
      result.push({ pubkey: randomBytes(33).toString('base64').slice(0, 44), account: { data: [randomBytes(32).toString('base64'), 'base64'], executable: false, lamports: 1000000, owner: workerData.programId, rentEpoch: 0, space: 40 } })
    }
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result }))
    const server = http.createServer((req, res) => {
      req.resume()
      req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }); res.end(body) })
    })
    server.listen(0, '127.0.0.1', () => { parentPort.postMessage({ port: server.address().port, bytes: body.length }) })
  `, { eval: true, workerData: { n: SOLANA_ACCOUNTS, programId } })
  const [{ port, bytes }] = await once(server, 'message') as [{ port: number, bytes: number }]
  const rpcUrl = `http://127.0.0.1:${port}`
  const source = new SolanaRegistrySource({ rpcUrl, programId, accountSize: 40, walletOffset: 8, commitment: 'confirmed' })
  const solanaPhases = { 'solana source: streamed read': [] as Probe[], 'solana answer: whole body + JSON.parse': [] as Probe[] }
  for (let run = 0; run < (runsOverride ?? 5); run++) {
    solanaPhases['solana source: streamed read'].push(await probe(async () => {
      const wallets = await source.fetch(AbortSignal.timeout(120_000))
      if (wallets.length !== SOLANA_ACCOUNTS) throw new Error(`bench: the Solana source read ${wallets.length} wallets, expected ${SOLANA_ACCOUNTS}`)
    }))
    solanaPhases['solana answer: whole body + JSON.parse'].push(await probe(async () => {
      const res = await fetch(rpcUrl, { method: 'POST', body: '{}' })
      JSON.parse(await res.text())
    }))
  }
  await server.terminate()
  for (const [phase, s] of Object.entries(solanaPhases)) {
    const worst = (f: (p: Probe) => number): number => +Math.max(...s.map(f)).toFixed(1)
    const mid = (f: (p: Probe) => number): number => +p50(s.map(f)).toFixed(1)
    rows.push({ entries: SOLANA_ACCOUNTS, phase: `${phase} (${(bytes / 1e6).toFixed(0)} MB)`, runs: s.length, 'ms p50': Math.round(p50(s.map((p) => p.ms))), 'block p50': mid((p) => p.maxBlockMs), 'block worst': worst((p) => p.maxBlockMs), 'eld worst': worst((p) => p.eldMaxMs), 'block ex GC worst': worst((p) => p.maxBlockExGcMs), 'GC pause worst': worst((p) => p.gcMaxMs), 'block CPU worst': worst((p) => p.maxBlockCpuMs) })
  }
  raw.solana = solanaPhases
}

const long = '2'.repeat(5_000_000)
const t0 = performance.now()
try { normalizeWalletAddress(long) } catch {}
const refuseMs = performance.now() - t0

console.table(rows)
console.log(`refusing a 5,000,000-character entry: ${refuseMs.toFixed(2)} ms`)
mkdirSync('bench/results', { recursive: true })
writeFileSync('bench/results/registry.json', JSON.stringify({ rows, raw, refuseLongEntryMs: refuseMs }, null, 2))
