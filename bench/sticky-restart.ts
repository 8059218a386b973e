/*
 * `npm run bench:restart`: how fast a node restarting with a full data dir serves again.
 *   1. node A (data dir, writeQuorum 1) stores a real topic history (10,000 messages: pages, roots,
 *      heads) plus single-message pages of another topic until its data dir holds 100,000 records;
 *   2. A stops; node B (in memory) is running;
 *   3. A starts again on the same data dir and dials B. Timed from the connect() call: connect()
 *      resolved; A answered B's first replica-protocol read of a stored record; B read the whole
 *      10,000-message topic from A (topicInfo counts them, A being its only replica).
 * Also: A's first sweep over 100,000 stored records. Target: serving within 2 s.
 * Prints a table, writes bench/results/sticky-restart.json. Not a test: nothing here asserts.
 */
import '../src/polyfills.js'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Libp2pRecord } from '@libp2p/record'
import { bootstrapEntry, newWallet, startNode, TestRegistry, waitFor } from '../support/cluster.js'
import type { Database } from '../src/index.js'
import { contentId, encodeRecord } from '../src/sticky/core/codec.js'
import { blobKey, headKey } from '../src/sticky/core/keys.js'
import { sendReplicaRequest } from '../src/sticky/replica/replica-protocol.js'
import { recordDatastoreKey } from '../src/host/internals.js'
import { signMessage } from '../src/sticky/core/signing.js'
import { directoryBytes } from '../src/storage/disk-datastore.js'

const RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000)
const HISTORY = 10_000
const DB = 'bench'
const root = mkdtempSync(join(tmpdir(), 'depin-restart-'))
const dir = join(root, 'a')
const registry = new TestRegistry()
const a = newWallet()
const b = newWallet()
registry.add(a.address, b.address)
const sticky = { writeQuorum: 1, sweepIntervalMs: 3_600_000, publishRatePerSecond: 1_000_000, publishBurst: 1_000_000 }

// 1. fill
let node = (await startNode({ wallet: a, registry, databaseName: DB, name: 'a', extra: { dataDir: dir, sticky } })).db
let t = performance.now()
for (let done = 0; done < HISTORY; done += 1000) {
  await Promise.all(Array.from({ length: 1000 }, async (_, i) => await node.sticky.publish('restart', { i: done + i, pad: 'x'.repeat(100) })))
}
const host = (node as any).host
const countRecords = async (): Promise<number> => { let n = 0; for await (const _ of host.sticky.datastore.queryKeys({ prefix: '/dht/record/' })) n++; return n }
const historyRecords = await countRecords()
console.log(`history: ${HISTORY} messages in ${historyRecords} records, ${((performance.now() - t) / 1000).toFixed(1)} s`)
// the rest: one-message pages of a filler topic, written straight to LevelDB in batches (setup only)
t = performance.now()
const level = host.dataDir.store.db
const now = Date.now()
for (let n = historyRecords; n < RECORDS;) {
  const ops = []
  for (let k = 0; k < 1000 && n < RECORDS; k++, n++) {
    const m = await signMessage({ t: 'msg', db: DB, topic: 'filler', publisher: a.address, seq: n, data: { n }, publishedAt: now, expiresAt: now + 86_400_000 }, host.sticky.signer)
    const bytes = encodeRecord({ t: 'page', db: DB, topic: 'filler', entries: [{ m, v: 1 }], expiresAt: now + 90_000_000 })
    const key = blobKey(DB, contentId(bytes))
    ops.push({ type: 'put', key: recordDatastoreKey(key).toString(), value: new Libp2pRecord(key, bytes, new Date()).serialize() })
  }
  await level.batch(ops)
}
const stored = await countRecords()
console.log(`filled to ${stored} records in ${((performance.now() - t) / 1000).toFixed(1)} s`)
await node.disconnect()
const diskBytes = await directoryBytes(dir)

// 2. the peer that will ask
const peer = (await startNode({ wallet: b, registry, databaseName: DB, name: 'b', extra: { sticky } })).db
const headBytesKey = headKey(DB, 'restart')

// 3. restart, timed
const t0 = performance.now()
node = (await startNode({ wallet: a, registry, databaseName: DB, name: 'a-again', bootstrap: () => [bootstrapEntry(peer)], extra: { dataDir: dir, sticky } })).db
const connectMs = performance.now() - t0
await waitFor(() => peer.connectedPeers().length > 0, 10_000, 'a connected to b')
const connectedMs = performance.now() - t0
let firstRecordMs = NaN
for (;;) {
  const [value] = await sendReplicaRequest(peer.libp2p, node.libp2p.peerId, 'get', [{ key: headBytesKey }], AbortSignal.timeout(2_000)).catch(() => [undefined])
  if (value != null) { firstRecordMs = performance.now() - t0; break }
  if (performance.now() - t0 > 30_000) break
}
let historyMs = NaN
let counted = 0
for (;;) {
  counted = (await peer.sticky.topicInfo('restart').catch(() => ({ messageCount: 0 }))).messageCount
  if (counted === HISTORY) { historyMs = performance.now() - t0; break }
  if (performance.now() - t0 > 30_000) break
}
t = performance.now()
const swept = await node.sticky.sweep()
const sweepMs = performance.now() - t
await Promise.all([node.disconnect(), peer.disconnect()])
rmSync(root, { recursive: true, force: true })

const result = {
  date: new Date().toISOString(),
  records: stored,
  dataDirBytes: diskBytes,
  restartMs: { connectResolved: connectMs, connectedToPeer: connectedMs, firstRecordServed: firstRecordMs, wholeTopicRead: historyMs },
  topicMessagesRead: counted,
  sweep: { ms: sweepMs, scanned: swept.scanned },
  target: { servingWithinMs: 2_000 }
}
console.log(`\nrestart with ${stored.toLocaleString('en')} stored records (${(diskBytes / 1e6).toFixed(0)} MB data dir), in-process, loopback`)
console.log('| measure | ms from connect() | target |')
console.log('|---|---|---|')
console.log(`| connect() resolved (data dir open, host listening) | ${connectMs.toFixed(0)} | - |`)
console.log(`| connected to the peer | ${connectedMs.toFixed(0)} | - |`)
console.log(`| first stored record served to the peer (replica protocol) | ${firstRecordMs.toFixed(0)} | < 2000 |`)
console.log(`| peer read the whole ${HISTORY}-message topic from it (${counted}) | ${historyMs.toFixed(0)} | - |`)
console.log(`| first sweep over ${swept.scanned} records (runs ~5 s after start) | ${sweepMs.toFixed(0)} | - |`)
mkdirSync('bench/results', { recursive: true })
writeFileSync('bench/results/sticky-restart.json', JSON.stringify(result, null, 2) + '\n')
console.log('wrote bench/results/sticky-restart.json')
process.exit(0)
