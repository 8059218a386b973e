/*
 * `npm run bench:soak`: steady sticky load for SOAK_MINUTES (default 30) on a 4-node loopback
 * cluster in one process, sampling the heap every SOAK_SAMPLE_S seconds after a forced GC (run with
 * --expose-gc, as the npm script does). The load churns through everything that used to grow
 * without bound: a rotating set of topics (replica sets, stored-id sets, committers), short-TTL
 * messages (subscription delivered ids and pages, the record cache), renewals (rate-limit and
 * replay maps) and a periodic sweep. Writes bench/results/soak.json. Not a test: nothing asserts.
 *
 * The heap fills up for a known time before it can be flat: stored records live for their TTL plus
 * the grace period plus up to one sweep interval (subscriptions 120 + 30 + 30 s, messages 60 + 30 +
 * 30 s), and the verified-signature cache keeps two 5-minute generations. So the growth is reported
 * after SOAK_WARMUP_MIN (default 10): the least-squares slope of the heap samples from then on and
 * the first and last third of them (MiB per 10 minutes). Coordinator snapshots are the exception:
 * they live one hour after creation (LIMITS.SNAPSHOT_TTL_MS) and a topic under this load cuts one
 * every few commits, so they accumulate for 60 minutes plus one sweep before they level off; the
 * `snapshots` column counts them (all nodes) apart from the other records. Each sample also shows
 * the sticky records each node holds (as of its last sweep) and the bytes outside the heap (record
 * values are Uint8Arrays, whose bytes are not in heapUsed). SOAK_SNAPSHOT_MIN=12,28 writes heap
 * snapshots at those minutes.
 */
import '../src/polyfills.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { writeHeapSnapshot } from 'node:v8'
import { startCluster } from '../support/cluster.js'
import { DEFAULT_OPTIONS, type ConnectOptions, type Database, type StickySubscription } from '../src/index.js'

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30)
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_S ?? 30)
const RATE = Number(process.env.SOAK_RATE ?? 20) // publishes per second, all nodes together
const TOPICS = Number(process.env.SOAK_TOPICS ?? 20) // live topics at a time; one rotates out every minute
const WARMUP_MIN = Number(process.env.SOAK_WARMUP_MIN ?? 10)
// heap snapshots to diff (Chrome DevTools, Memory tab), written at the first sample at or after each of these minutes
const SNAPSHOT_MIN = (process.env.SOAK_SNAPSHOT_MIN ?? '').split(',').filter((x) => x !== '').map(Number)
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
let tick = 0
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

interface Sample { minute: number, heapMiB: number, arrayBuffersMiB: number, rssMiB: number, published: number, inFlight: number, delivered: number, records: number, recordsPerNode: string, snapshots: number, byKind: Record<string, number> }
const samples: Sample[] = []
const mib = (bytes: number): number => Number((bytes / 2 ** 20).toFixed(1))
const sample = (): void => {
  gc?.()
  const m = process.memoryUsage()
  const stored = nodes.map((n) => n.stats().stored)
  const perNode = stored.map((byKind) => Object.values(byKind).reduce((sum, k) => sum + k.records, 0))
  const byKind: Record<string, number> = {}
  for (const kinds of stored) for (const [kind, k] of Object.entries(kinds)) byKind[kind] = (byKind[kind] ?? 0) + k.records
  const s: Sample = {
    minute: Number(((Date.now() - started) / 60_000).toFixed(1)),
    heapMiB: mib(m.heapUsed),
    arrayBuffersMiB: mib(m.arrayBuffers),
    rssMiB: mib(m.rss),
    published,
    inFlight: tick - published - failed,
    delivered,
    records: perNode.reduce((a, b) => a + b, 0),
    recordsPerNode: perNode.join('/'),
    snapshots: byKind.snap ?? 0,
    byKind
  }
  samples.push(s)
  if (SNAPSHOT_MIN.length > 0 && s.minute >= SNAPSHOT_MIN[0]!) {
    mkdirSync('bench/results', { recursive: true })
    console.log(`heap snapshot ${writeHeapSnapshot(`bench/results/soak-${SNAPSHOT_MIN.shift()!}min.heapsnapshot`)}`)
  }
  console.log(`t=${s.minute} min heap=${s.heapMiB} MiB arrayBuffers=${s.arrayBuffersMiB} MiB rss=${s.rssMiB} MiB published=${published} failed=${failed} in flight=${s.inFlight} delivered=${delivered} records=${s.recordsPerNode} (all nodes by kind: ${JSON.stringify(byKind)})`)
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

const steady = samples.filter((x) => x.minute >= WARMUP_MIN)
const avg = (xs: Sample[]): number => xs.reduce((n, x) => n + x.heapMiB, 0) / xs.length
const mid = (xs: Sample[]): number => (xs[0]!.minute + xs.at(-1)!.minute) / 2
let slopePer10Min = NaN
let thirdsPer10Min = NaN
let thirds = ''
if (steady.length >= 3) {
  const mx = steady.reduce((n, x) => n + x.minute, 0) / steady.length
  const my = avg(steady)
  slopePer10Min = 10 * steady.reduce((n, x) => n + (x.minute - mx) * (x.heapMiB - my), 0) / steady.reduce((n, x) => n + (x.minute - mx) ** 2, 0)
  const third = Math.max(1, Math.floor(steady.length / 3))
  const first = steady.slice(0, third)
  const last = steady.slice(-third)
  thirdsPer10Min = ((avg(last) - avg(first)) / (mid(last) - mid(first))) * 10
  thirds = `first third ${avg(first).toFixed(1)} MiB, last third ${avg(last).toFixed(1)} MiB (${thirdsPer10Min.toFixed(2)} MiB per 10 min)`
}
console.table(samples.map(({ byKind: _, ...row }) => row))
console.log(`heap after the ${WARMUP_MIN}-minute warm-up (${steady.length} samples, ${steady[0]?.minute ?? '-'}-${steady.at(-1)?.minute ?? '-'} min): min ${Math.min(...steady.map((x) => x.heapMiB))} MiB, max ${Math.max(...steady.map((x) => x.heapMiB))} MiB, slope ${slopePer10Min.toFixed(2)} MiB per 10 min; ${thirds}`)
console.log(`attempted ${tick}, published ${published}, failed ${failed}, delivered ${delivered}`)
mkdirSync('bench/results', { recursive: true })
writeFileSync('bench/results/soak.json', JSON.stringify({ minutes: MINUTES, rate: RATE, topics: TOPICS, warmupMinutes: WARMUP_MIN, samples, slopePer10Min, thirdsPer10Min, attempted: tick, published, failed, delivered }, null, 2))
for (const s of subs.values()) await s.unsubscribe().catch(() => {})
await cluster.stop()
process.exit(0)
