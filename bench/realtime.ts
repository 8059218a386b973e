/*
 * `npm run bench:realtime`: publish -> handler latency (p50/p99) and sustained throughput through
 * the public API, against raw GossipSub on the same 5-node loopback cluster in the same run
 * (alternating rounds, so drift on a shared machine hits both alike). Prints a table and writes
 * bench/results/realtime.json. Not a test: nothing here asserts.
 */
import '../src/polyfills.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { startCluster, waitFor, waitForSubscribers } from '../support/cluster.js'

const LATENCY_MSGS = Number(process.env.BENCH_LATENCY_MSGS ?? 300)
const BURST_MSGS = Number(process.env.BENCH_BURST_MSGS ?? 2000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const RAW_TOPIC = 'bench-raw-gossipsub'
const payload = { text: 'x'.repeat(200) } // ~256 B event

const cluster = await startCluster(5, { transport: 'quic', fullMesh: true, databaseName: 'bench' })
const [pub, ...receivers] = cluster.nodes as [typeof cluster.nodes[0], ...typeof cluster.nodes]

// both paths deliver into the same kind of sink: (message key) -> receive time per receiver
type Sink = Map<string, number[]>
let apiSink: Sink = new Map()
let rawSink: Sink = new Map()
const mark = (sink: Sink, key: string): void => { const t = performance.now(); const a = sink.get(key); if (a == null) sink.set(key, [t]); else a.push(t) }

for (const r of receivers) {
  await r.subscribe('api', (e) => { mark(apiSink, (e.message as { k: string }).k) })
  const ps = r.libp2p.services.pubsub
  ps.subscribe(RAW_TOPIC)
  ps.addEventListener('message', (evt) => {
    if (evt.detail.topic !== RAW_TOPIC) return
    mark(rawSink, JSON.parse(new TextDecoder().decode(evt.detail.data)).message.k)
  })
}
await waitForSubscribers([pub], 'bench_api', 4)
await waitForSubscribers([pub], RAW_TOPIC, 4)
await new Promise((resolve) => setTimeout(resolve, 2_000)) // mesh formed on a heartbeat

const enc = new TextEncoder()
const rawPublish = async (k: string): Promise<void> => {
  await pub.libp2p.services.pubsub.publish(RAW_TOPIC, enc.encode(JSON.stringify({ id: crypto.randomUUID(), from_peer: pub.peerId, message: { ...payload, k }, timestamp: Math.floor(Date.now() / 1000) })))
}
const apiPublish = async (k: string): Promise<void> => { await pub.publish('api', { ...payload, k }) }

async function latency (kind: 'api' | 'raw', round: number): Promise<number[]> {
  const sink = kind === 'api' ? (apiSink = new Map()) : (rawSink = new Map())
  const publish = kind === 'api' ? apiPublish : rawPublish
  const out: number[] = []
  for (let i = 0; i < LATENCY_MSGS; i++) {
    const k = `${kind}-lat-${round}-${i}`
    const t0 = performance.now()
    await publish(k)
    await waitForCount(sink, k, 4)
    for (const t of sink.get(k)!) out.push(t - t0)
  }
  return out
}

async function throughput (kind: 'api' | 'raw', round: number): Promise<number> {
  const sink = kind === 'api' ? (apiSink = new Map()) : (rawSink = new Map())
  const publish = kind === 'api' ? apiPublish : rawPublish
  const t0 = performance.now()
  for (let i = 0; i < BURST_MSGS; i++) await publish(`${kind}-tp-${round}-${i}`)
  await waitFor(() => [...sink.values()].reduce((n, a) => n + a.length, 0) >= BURST_MSGS * 4, 120_000, `${kind} burst`)
  const last = Math.max(...[...sink.values()].flat())
  return BURST_MSGS / ((last - t0) / 1000)
}

async function waitForCount (sink: Sink, key: string, n: number): Promise<void> {
  while ((sink.get(key)?.length ?? 0) < n) await new Promise((resolve) => setImmediate(resolve))
}

const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]! }
const lat = { api: [] as number[], raw: [] as number[] }
const tp = { api: [] as number[], raw: [] as number[] }
for (let round = 0; round < ROUNDS; round++) {
  lat.raw.push(...await latency('raw', round)); lat.api.push(...await latency('api', round))
  tp.raw.push(await throughput('raw', round)); tp.api.push(await throughput('api', round))
}
await cluster.stop()

const median = (xs: number[]): number => pct(xs, 0.5)
const result = {
  date: new Date().toISOString(),
  cluster: { nodes: 5, transport: 'quic', receiversPerMessage: 4, payloadBytes: 256 },
  latencyMs: {
    api: { p50: pct(lat.api, 0.5), p99: pct(lat.api, 0.99), samples: lat.api.length },
    raw: { p50: pct(lat.raw, 0.5), p99: pct(lat.raw, 0.99), samples: lat.raw.length }
  },
  throughputMsgsPerSec: { api: median(tp.api), raw: median(tp.raw), rounds: { api: tp.api, raw: tp.raw } },
  ratios: {
    p50: pct(lat.api, 0.5) / pct(lat.raw, 0.5),
    p99: pct(lat.api, 0.99) / pct(lat.raw, 0.99),
    throughput: median(tp.api) / median(tp.raw)
  },
  targets: { p50RatioMax: 1.15, throughputRatioMin: 0.85 }
}
const f = (n: number): string => n.toFixed(2)
console.log('\nreal-time benchmark (5 nodes, QUIC, loopback; latency = publish -> handler on each of 4 receivers)')
console.log('| path | p50 ms | p99 ms | throughput msg/s |')
console.log('|---|---|---|---|')
console.log(`| raw gossipsub | ${f(result.latencyMs.raw.p50)} | ${f(result.latencyMs.raw.p99)} | ${result.throughputMsgsPerSec.raw.toFixed(0)} |`)
console.log(`| depin-p2p API | ${f(result.latencyMs.api.p50)} | ${f(result.latencyMs.api.p99)} | ${result.throughputMsgsPerSec.api.toFixed(0)} |`)
console.log(`| ratio (target) | ${f(result.ratios.p50)} (<= 1.15) | ${f(result.ratios.p99)} | ${f(result.ratios.throughput)} (>= 0.85) |`)
mkdirSync('bench/results', { recursive: true })
writeFileSync('bench/results/realtime.json', JSON.stringify(result, null, 2) + '\n')
console.log('wrote bench/results/realtime.json')
process.exit(0)
