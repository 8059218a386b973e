/*
 * `npm run bench:soak`: steady sticky load for SOAK_MINUTES (default 30) on a 4-node loopback
 * cluster in one process, sampling the heap every SOAK_SAMPLE_S seconds after a forced GC (run with
 * --expose-gc, as the npm script does). The load churns through everything that used to grow
 * without bound: a rotating set of topics (replica sets, stored-id sets, committers), short-TTL
 * messages (subscription delivered ids and pages, the record cache), renewals (rate-limit and
 * replay maps) and a periodic sweep. The heap must stay flat: the table shows the samples and the
 * growth between the first and last third of the run (MiB per 10 minutes). Writes
 * bench/results/soak.json. Not a test: nothing asserts.
 */
import '../src/polyfills.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { startCluster } from '../support/cluster.js'
import { DEFAULT_OPTIONS, type ConnectOptions, type Database, type StickySubscription } from '../src/index.js'

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30)
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_S ?? 30)
const RATE = Number(process.env.SOAK_RATE ?? 20) // publishes per second, all nodes together
const TOPICS = Number(process.env.SOAK_TOPICS ?? 20) // live topics at a time; one rotates out every minute
const gc = (globalThis as { gc?: () => void }).gc
if (gc == null) console.warn('run with node --expose-gc for meaningful heap samples')

const production: Partial<ConnectOptions> = {
  discoveryAdvertiseIntervalMs: DEFAULT_OPTIONS.discoveryAdvertiseIntervalMs,
  discoveryLookupIntervalMs: DEFAULT_OPTIONS.discoveryLookupIntervalMs,
  registryRefreshIntervalMs: DEFAULT_OPTIONS.registryRefreshIntervalMs,
  sticky: { sweepIntervalMs: 30_000, gcGraceMs: 30_000, defaultSubscriptionTtlMs: 120_000 }
}
const cluster = await startCluster(4, { fullMesh: true, databaseName: 'soak', extra: production })
const nodes = cluster.nodes as Database[]
await new Promise((resolve) => setTimeout(resolve, 5_000))

let generation = 0
let published = 0
let failed = 0
let delivered = 0
const subs = new Map<string, StickySubscription>()
const topicName = (i: number): string => `soak-${i}`
async function openTopic (i: number): Promise<void> {
  const node = nodes[i % nodes.length]!
  subs.set(topicName(i), await node.sticky.subscribe(topicName(i), { onMessage: () => { delivered++ }, ttlMs: 120_000 }))
}
for (let i = 0; i < TOPICS; i++) await openTopic(i)

const samples: Array<{ minute: number, heapMiB: number, rssMiB: number, published: number, delivered: number }> = []
const sample = (): void => {
  gc?.()
  const m = process.memoryUsage()
  const s = { minute: Number(((Date.now() - started) / 60_000).toFixed(1)), heapMiB: Number((m.heapUsed / 2 ** 20).toFixed(1)), rssMiB: Number((m.rss / 2 ** 20).toFixed(1)), published, delivered }
  samples.push(s)
  console.log(`t=${s.minute} min heap=${s.heapMiB} MiB rss=${s.rssMiB} MiB published=${published} failed=${failed} delivered=${delivered}`)
}
const started = Date.now()
sample()
const sampler = setInterval(sample, SAMPLE_S * 1000)
const rotate = setInterval(() => {
  // one topic leaves (unsubscribed, its messages expire), a new one arrives
  const old = generation++
  const sub = subs.get(topicName(old))
  subs.delete(topicName(old))
  void sub?.unsubscribe().catch(() => {})
  void openTopic(old + TOPICS).catch(() => {})
}, 60_000)

let tick = 0
while (Date.now() - started < MINUTES * 60_000) {
  const i = generation + (tick % TOPICS)
  const node = nodes[tick % nodes.length]!
  tick++
  node.sticky.publish(topicName(i), { tick, pad: 'x'.repeat(200) }, { ttlMs: 60_000 }).then(() => { published++ }, () => { failed++ })
  await new Promise((resolve) => setTimeout(resolve, 1000 / RATE))
}
clearInterval(sampler)
clearInterval(rotate)
sample()

const third = Math.max(1, Math.floor(samples.length / 3))
const avg = (xs: typeof samples): number => xs.reduce((n, s) => n + s.heapMiB, 0) / xs.length
const first = samples.slice(1, 1 + third)
const last = samples.slice(-third)
const span = (last.at(-1)!.minute + last[0]!.minute) / 2 - (first.at(-1)!.minute + first[0]!.minute) / 2
const growthPer10Min = span > 0 ? ((avg(last) - avg(first)) / span) * 10 : NaN
console.table(samples)
console.log(`heap: first third avg ${avg(first).toFixed(1)} MiB, last third avg ${avg(last).toFixed(1)} MiB, growth ${growthPer10Min.toFixed(2)} MiB per 10 min; published ${published}, failed ${failed}, delivered ${delivered}`)
mkdirSync('bench/results', { recursive: true })
writeFileSync('bench/results/soak.json', JSON.stringify({ minutes: MINUTES, rate: RATE, topics: TOPICS, samples, growthPer10Min, published, failed, delivered }, null, 2))
for (const s of subs.values()) await s.unsubscribe().catch(() => {})
await cluster.stop()
process.exit(0)
