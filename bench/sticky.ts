/*
 * `npm run bench:sticky`: sticky topics on one loopback cluster (10 nodes, one process), one run:
 *   - sequential publish throughput (one publisher, each publish awaited)
 *   - 10 publishers x 100 concurrent: delivered count (early subscriber), throughput, coordinator
 *     writes per message
 *   - late-joiner history time for 1,000 and 10,000 messages
 *   - publish -> onMessage latency p50/p99 for a live subscriber on another node
 *   - baseline in the same run: raw GossipSub, 9 publishers x 100 concurrent to one subscriber
 * With `--data-dir` the suite runs on both storages in the same run, on a fresh cluster each time:
 * records in memory, and every node with its own data dir (LevelDB, synchronous writes), alternating
 * (BENCH_ROUNDS rounds of each, default 2); both columns are printed side by side: the cost of durability.
 * Prints a table, writes bench/results/sticky.json. Not a test: nothing here asserts.
 */
import '../src/polyfills.js'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCluster, waitFor } from '../support/cluster.js'
import { DEFAULT_OPTIONS, STICKY_DEFAULTS, type ConnectOptions, type Database } from '../src/index.js'

const NODES = 10
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 200)
const HISTORY_BIG = Number(process.env.BENCH_HISTORY ?? 10_000)
const LATENCY_MSGS = Number(process.env.BENCH_LATENCY_MSGS ?? 200)

// Production cadence for background work (discovery, registry refresh, sticky polling): the test
// fixture's fast timings make ten nodes in one process spend most of a core on discovery lookups
// (event-loop utilisation ~0.7 with nothing published, ~0.1 with these).
const production: Partial<ConnectOptions> = {
  discoveryAdvertiseIntervalMs: DEFAULT_OPTIONS.discoveryAdvertiseIntervalMs,
  discoveryLookupIntervalMs: DEFAULT_OPTIONS.discoveryLookupIntervalMs,
  registryRefreshIntervalMs: DEFAULT_OPTIONS.registryRefreshIntervalMs,
  sticky: { pollIntervalMs: STICKY_DEFAULTS.pollIntervalMs }
}
const DISK = process.argv.includes('--data-dir')
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN }

async function suite (storage: 'memory' | 'disk'): Promise<any> {
  const root = storage === 'disk' ? mkdtempSync(join(tmpdir(), 'depin-bench-')) : undefined
  const cluster = await startCluster(NODES, { fullMesh: true, databaseName: 'bench', extra: production, extraFor: (i) => (root == null ? {} : { dataDir: join(root, `n${i}`) }) })
  console.log(`\n--- storage: ${storage}${root != null ? ` (${root})` : ''}`)
  const nodes = cluster.nodes as Database[]
  const [a, b] = nodes as [Database, Database]
  await new Promise((resolve) => setTimeout(resolve, 5_000)) // let discovery and DHT maintenance settle
  const commits = (): number => nodes.reduce((n, d) => n + (d.sticky.stats().commits ?? 0), 0)

  // 0. same-run baseline: raw GossipSub on this cluster, 9 publishers (all but the subscriber) x 100 concurrent, until one
  //    subscriber (b) has all 1000 (no persistence, no acknowledgement: the machine's messaging ceiling)
  const RAW_TOPIC = 'bench-raw-gossipsub'
  let rawReceived = 0
  let rawLastAt = 0
  b.libp2p.services.pubsub.addEventListener('message', (evt) => { if (evt.detail.topic === RAW_TOPIC) { rawReceived++; rawLastAt = performance.now() } })
  for (const n of nodes) n.libp2p.services.pubsub.subscribe(RAW_TOPIC)
  await waitFor(() => nodes.every((n) => n === b || n.libp2p.services.pubsub.getSubscribers(RAW_TOPIC).length > 0), 30_000, 'raw subscribers').catch(() => {})
  await new Promise((resolve) => setTimeout(resolve, 2_000)) // mesh (GRAFT) settles
  let t = performance.now()
  await Promise.all(nodes.filter((n) => n !== b).map(async (n, k) => {
    await Promise.all(Array.from({ length: 100 }, async (_, i) => { await n.libp2p.services.pubsub.publish(RAW_TOPIC, new TextEncoder().encode(JSON.stringify({ k, i }))).catch(() => {}) }))
  }))
  await waitFor(() => rawReceived >= 900, 30_000, 'raw baseline').catch(() => {})
  // GossipSub does not retransmit: a message it dropped never comes, so time to the last one received
  const rawPerSec = rawReceived / ((rawLastAt - t) / 1000)
  console.log(`raw gossipsub baseline: ${rawReceived}/900 received, ${rawPerSec.toFixed(0)} msg/s`)

  // 1. sequential throughput
  t = performance.now()
  for (let i = 0; i < SEQUENTIAL; i++) await a.sticky.publish('seq', { i })
  const sequentialPerSec = SEQUENTIAL / ((performance.now() - t) / 1000)
  console.log(`sequential: ${sequentialPerSec.toFixed(1)} msg/s`)

  // 2. 10 publishers x 100 concurrent, early subscriber
  const early: string[] = []
  await b.sticky.subscribe('conc', { onMessage: (m) => { early.push(m.messageId) } })
  const commitsBefore = commits()
  t = performance.now()
  const acks = (await Promise.all(nodes.map(async (n, k) => await Promise.all(Array.from({ length: 100 }, async (_, i) => await n.sticky.publish('conc', { k, i })))))).flat()
  const concMs = performance.now() - t
  await waitFor(() => early.length >= 1000, 60_000, 'early subscriber').catch(() => {})
  const deliveredMs = performance.now() - t
  const concurrent = {
    acknowledged: acks.length,
    delivered: new Set(early).size,
    duplicates: early.length - new Set(early).size,
    msgsPerSec: 1000 / (concMs / 1000),
    /** the raw baseline's measure: until one subscriber has them all */
    deliveredMsgsPerSec: 1000 / (deliveredMs / 1000),
    coordinatorWritesPerMessage: (commits() - commitsBefore) / 1000
  }
  console.log('concurrent:', JSON.stringify(concurrent))

  // 3. late joiner history: 1,000 (the concurrent topic) and HISTORY_BIG messages
  async function lateJoin (node: Database, topic: string, expected: number): Promise<{ ms: number, received: number }> {
    let received = 0
    const started = performance.now()
    const sub = await node.sticky.subscribe(topic, { onMessage: () => { received++ } })
    const ms = performance.now() - started
    await sub.unsubscribe()
    if (received !== expected) console.warn(`late joiner on ${topic} got ${received}/${expected}`)
    return { ms, received }
  }
  const history1k = await lateJoin(nodes[3]!, 'conc', 1000)
  for (let done = 0; done < HISTORY_BIG; done += 1000) {
    await Promise.all(Array.from({ length: 1000 }, async (_, i) => await nodes[(done / 1000) % NODES]!.sticky.publish('big', { i: done + i, pad: 'x'.repeat(100) })))
  }
  const history10k = await lateJoin(nodes[4]!, 'big', HISTORY_BIG)
  console.log(`history: 1k ${history1k.ms.toFixed(0)} ms, ${HISTORY_BIG} ${history10k.ms.toFixed(0)} ms`)

  // 4. live latency: publisher a, subscriber on node 5
  const sent = new Map<number, number>()
  const lat: number[] = []
  await nodes[5]!.sticky.subscribe('live', { onMessage: (m) => { const s = sent.get((m.data as { i: number }).i); if (s != null) lat.push(performance.now() - s) } })
  for (let i = 0; i < LATENCY_MSGS; i++) {
    sent.set(i, performance.now())
    await a.sticky.publish('live', { i })
    await waitFor(() => lat.length > i, 10_000, 'live delivery').catch(() => {})
  }
  // proof the disk column is disk-backed: what the ten data dirs hold (undefined in memory)
  const sizes = await Promise.all(nodes.map(async (d) => await d.dataDirBytes()))
  const dataDirBytes = sizes.every((x) => x == null) ? undefined : sizes.reduce<number>((n, x) => n + (x ?? 0), 0)
  if (dataDirBytes != null) console.log(`data dirs: ${(dataDirBytes / 1e6).toFixed(1)} MB on disk in all`)
  await cluster.stop()
  if (root != null) rmSync(root, { recursive: true, force: true })

  return {
    storage,
    dataDirBytes,
    date: new Date().toISOString(),
    cluster: { nodes: NODES, transport: 'quic+tcp', process: 'single', cores: 2, timings: 'production defaults' },
    sequentialPublishPerSec: sequentialPerSec,
    concurrent10x100: concurrent,
    rawGossipsubBaseline: { publishers: NODES - 1, messages: 900, received: rawReceived, msgsPerSec: rawPerSec },
    lateJoinerHistory: { small: { messages: 1000, ...history1k }, big: { messages: HISTORY_BIG, ...history10k } },
    liveLatencyMs: { p50: pct(lat, 0.5), p99: pct(lat, 0.99), samples: lat.length },
    targets: { delivered: '1000/1000', concurrentMsgsPerSec: 500, history10kMs: 3000, liveP50Ms: 50 }
  }
}

// With --data-dir, the storages alternate (memory, disk, disk, memory, ...: BENCH_ROUNDS each, default 2):
// on a shared machine load drifts over the minutes a suite takes, and the first suite of a process also
// pays for warming up; alternating makes both hit each storage alike. Cells give the median over rounds
// (and the range).
const ROUNDS = DISK ? Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2)) : 1
const STORAGES: Array<'memory' | 'disk'> = DISK ? ['memory', 'disk'] : ['memory']
const runs: any[] = []
for (let round = 0; round < ROUNDS; round++) {
  for (const storage of round % 2 === 0 ? STORAGES : [...STORAGES].reverse()) {
    console.log(`\n=== round ${round + 1}/${ROUNDS}`)
    runs.push(await suite(storage))
  }
}
const byStorage = STORAGES.map((storage) => runs.filter((r) => r.storage === storage))
const result = DISK ? { rounds: ROUNDS, memory: byStorage[0], disk: byStorage[1] } : runs[0]
const median = (xs: number[]): number => { const s = [...xs].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2 }
/** one cell per storage: the median over its rounds, and the range when there were several */
const cell = (get: (r: any) => number, digits: number, unit = ''): string => byStorage.map((rs) => {
  const xs = rs.map(get)
  const f = (x: number): string => x.toFixed(digits)
  return `${f(median(xs))}${unit}${xs.length > 1 ? ` (${f(Math.min(...xs))}-${f(Math.max(...xs))})` : ''}`
}).join(' | ')
const cols = (f: (rs: any[]) => string): string => byStorage.map(f).join(' | ')
console.log(`\nsticky benchmark (10 nodes in one process, loopback)${DISK ? `: records in memory vs on disk (data dir), same run, ${ROUNDS} alternating rounds each, median (range)` : ''}`)
console.log(`| measure | ${cols((rs) => rs[0].storage)} | target |`)
console.log(`|---|${cols(() => '---')}|---|`)
console.log(`| sequential publish | ${cell((r) => r.sequentialPublishPerSec, 1, ' msg/s')} | - |`)
console.log(`| 10 x 100 concurrent: delivered | ${cols((rs) => rs.map((r) => `${r.concurrent10x100.delivered}/1000 (dup ${r.concurrent10x100.duplicates})`).join(', '))} | 1000/1000 |`)
console.log(`| 10 x 100 concurrent: throughput (all acknowledged) | ${cell((r) => r.concurrent10x100.msgsPerSec, 0, ' msg/s')} | >= 500 |`)
console.log(`| 10 x 100 concurrent: throughput (all delivered to the early subscriber) | ${cell((r) => r.concurrent10x100.deliveredMsgsPerSec, 0, ' msg/s')} | - |`)
console.log(`| same-run baseline: raw GossipSub, ${NODES - 1} x 100 concurrent to one subscriber | ${cell((r) => r.rawGossipsubBaseline.msgsPerSec, 0, ' msg/s')} | - |`)
console.log(`| sticky / raw GossipSub throughput (both: until one subscriber has all) | ${cell((r) => r.concurrent10x100.deliveredMsgsPerSec / r.rawGossipsubBaseline.msgsPerSec, 2)} | - |`)
console.log(`| coordinator writes per message | ${cell((r) => r.concurrent10x100.coordinatorWritesPerMessage, 3)} | << 1 |`)
console.log(`| late joiner, 1,000 messages | ${cell((r) => r.lateJoinerHistory.small.ms, 0, ' ms')} | - |`)
console.log(`| late joiner, ${HISTORY_BIG} messages | ${cell((r) => r.lateJoinerHistory.big.ms, 0, ' ms')} | < 3000 |`)
console.log(`| live publish -> onMessage p50 | ${cell((r) => r.liveLatencyMs.p50, 1, ' ms')} | < 50 |`)
console.log(`| live publish -> onMessage p99 | ${cell((r) => r.liveLatencyMs.p99, 1, ' ms')} | - |`)
mkdirSync('bench/results', { recursive: true })
writeFileSync('bench/results/sticky.json', JSON.stringify(result, null, 2) + '\n')
console.log('wrote bench/results/sticky.json')
process.exit(0)
