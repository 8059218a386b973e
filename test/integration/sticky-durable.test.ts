/*
 * Durable sticky history on real in-process nodes: the write quorum never shrinks with the network
 * (a lone node and a node with one peer get ERR_NO_QUORUM within the deadline; writeQuorum 1 is the
 * single-node escape hatch), sticky readiness and its events, the dataDir host option and its lock,
 * the sweep returning disk space, the storage quota counting the records on disk after a restart,
 * and a replica restarted with its data dir repairing what it missed without any new write.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bootstrapEntry, freePorts, newWallet, startNode, TestRegistry, waitFor, type Wallet } from '../../support/cluster.js'
import type { Database, StickyMessage } from '../../src/index.js'
import { directoryBytes } from '../../src/storage/disk-datastore.js'
import { datastoreOf, storedRecords } from '../fixtures/sticky-records.js'
import { signRecord, ed25519Signer } from '../../src/sticky/core/signing.js'
import { contentId, encodeRecord } from '../../src/sticky/core/codec.js'
import { blobKey } from '../../src/sticky/core/keys.js'
import { sendReplicaRequest } from '../../src/sticky/replica/replica-protocol.js'

const open: Database[] = []
afterEach(async () => { await Promise.allSettled(open.splice(0).map(async (d) => { await d.disconnect({ flushTimeoutMs: 500 }) })) })
const dataDir = (): string => mkdtempSync(join(tmpdir(), 'depin-durable-'))

async function node (registry: TestRegistry, o: { wallet?: Wallet, name: string, boot?: Database, sticky?: Record<string, unknown>, dir?: string, ports?: { quic: number, tcp: number } }): Promise<Database> {
  const wallet = o.wallet ?? newWallet()
  registry.add(wallet.address)
  const boot = o.boot == null ? undefined : bootstrapEntry(o.boot)
  const { db } = await startNode({
    wallet,
    registry,
    name: o.name,
    bootstrap: () => (boot == null ? [] : [boot]),
    extra: { sticky: { pollIntervalMs: 1_000, ...o.sticky }, ...(o.dir != null ? { dataDir: o.dir } : {}), ...(o.ports != null ? { listenPorts: o.ports } : {}) }
  })
  open.push(db)
  return db
}

/** `from` puts a validly signed message record of about 60 KB (publisher `wallet`) on `to` over the replica protocol; the refusal reason, or null when stored. */
async function putMessage (from: Database, to: Database, wallet: Wallet, seq: number): Promise<string | null> {
  const now = Date.now()
  const record = await signRecord({ t: 'msg', db: 'testdb', topic: 'peer', publisher: wallet.address, seq, data: { payload: 'y'.repeat(60_000) }, publishedAt: now, expiresAt: now + 3_600_000 } as any, ed25519Signer(wallet.address, wallet.secretKey))
  const value = encodeRecord(record)
  const [answer] = await sendReplicaRequest(from.libp2p, to.libp2p.peerId, 'put', [{ key: blobKey('testdb', contentId(value)), value }], AbortSignal.timeout(10_000))
  return answer ?? null
}

describe('sticky write quorum', () => {
  it('a lone node and a node with one peer reject with ERR_NO_QUORUM within the deadline; writeQuorum 1 acknowledges alone', async () => {
    const registry = new TestRegistry()
    const lone = await node(registry, { name: 'lone', sticky: { commitDeadlineMs: 1_500 } })
    expect(lone.sticky.isReady()).toBe(false)
    let started = Date.now()
    await expect(lone.sticky.publish('q', { n: 1 })).rejects.toMatchObject({ code: 'ERR_NO_QUORUM', replicas: 1, quorum: 3 })
    expect(Date.now() - started).toBeLessThan(1_500 + 1_000)

    const peer = await node(registry, { name: 'peer', boot: lone, sticky: { commitDeadlineMs: 1_500 } })
    await waitFor(() => lone.connectedPeers().length === 1 && peer.connectedPeers().length === 1, 10_000, 'two nodes connected')
    started = Date.now()
    await expect(lone.sticky.publish('q', { n: 2 })).rejects.toMatchObject({ code: 'ERR_NO_QUORUM', replicas: 2, quorum: 3 })
    expect(Date.now() - started).toBeLessThan(1_500 + 1_000)
    expect(lone.sticky.isReady()).toBe(false)
    // nothing was acknowledged, so nothing was written: no node holds a record of the topic
    for (const n of [lone, peer]) expect(await storedRecords(n, 'q')).toEqual([])

    const dev = await node(new TestRegistry(), { name: 'dev', sticky: { writeQuorum: 1 } })
    expect(dev.sticky.isReady()).toBe(true)
    const r = await dev.sticky.publish('q', { n: 3 })
    expect(r.version).toBeGreaterThan(0)
  }, 30_000)

  it('a publish waiting for the quorum is acknowledged once a third node arrives; the ready event fires', async () => {
    const registry = new TestRegistry()
    const a = await node(registry, { name: 'a' })
    const b = await node(registry, { name: 'b', boot: a })
    await waitFor(() => a.connectedPeers().length === 1, 10_000, 'a and b connected')
    const ready = new Promise<void>((resolve) => { a.sticky.once('ready', resolve) })
    const pending = a.sticky.publish('waits', { hello: 1 })
    await new Promise((resolve) => setTimeout(resolve, 500))
    await node(registry, { name: 'c', boot: a })
    await ready
    expect(a.sticky.isReady()).toBe(true)
    const r = await pending
    const got: StickyMessage[] = []
    await b.sticky.subscribe('waits', { onMessage: (m) => { got.push(m) } })
    expect(got.map((m) => m.messageId)).toEqual([r.messageId])
  }, 40_000)
})

describe('dataDir', () => {
  it('is a host option: another value for the same wallet is a ConfigError; a directory in use is ERR_DATA_DIR_LOCKED', async () => {
    const registry = new TestRegistry()
    const wallet = newWallet()
    const dir = dataDir()
    await node(registry, { wallet, name: 'h', dir, sticky: { writeQuorum: 1 } })
    await expect(startNode({ wallet, registry, databaseName: 'other', extra: { dataDir: dataDir() } })).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG', field: 'dataDir' })
    await expect(startNode({ wallet, registry, databaseName: 'other' })).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG', field: 'dataDir' })
    const same = await startNode({ wallet, registry, databaseName: 'other', extra: { dataDir: dir } }) // the same dir: shares the host
    open.push(same.db)
    await expect(startNode({ registry, name: 'intruder', extra: { dataDir: dir } })).rejects.toMatchObject({ code: 'ERR_DATA_DIR_LOCKED', dir })
  }, 30_000)

  it('a data dir written, then expired records: after a sweep the bytes on disk go down', async () => {
    const registry = new TestRegistry()
    const wallet = newWallet()
    const dir = dataDir()
    const sticky = { writeQuorum: 1, gcGraceMs: 0, sweepIntervalMs: 3_600_000 }
    let db = await node(registry, { wallet, name: 'sweep', dir, sticky })
    const payload = 'x'.repeat(2_000)
    const expiry = Date.now() + 3_000
    await Promise.all(Array.from({ length: 300 }, async (_, i) => await db.sticky.publish('short', { i, payload }, { ttlMs: 3_000 })))
    await db.sticky.publish('kept', { keep: true }, { ttlMs: 3_600_000 })
    await db.sticky.sweep() // nothing expired yet: fills the stored figures
    expect(db.stats().stored.page?.bytes ?? 0).toBeGreaterThan(300 * 2_000)
    await db.disconnect()
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiry - Date.now()) + 300))
    db = await node(registry, { wallet, name: 'sweep-again', dir, sticky })
    const before = await directoryBytes(dir)
    expect(before).toBeGreaterThan(300 * 2_000)
    const swept = await db.sticky.sweep()
    expect(swept.deleted).toBeGreaterThan(0)
    const after = await directoryBytes(dir)
    expect(after).toBeLessThan(before / 2)
    expect(db.stats().stored.page?.bytes ?? 0).toBeLessThan(10_000)
    expect((await storedRecords(db, 'kept')).length).toBeGreaterThan(0)
    expect(await db.dataDirBytes()).toBe(after)
  }, 30_000)

  it("a restarted node's storage quota counts the records on its disk: a peer's put beyond the quota is still refused", async () => {
    const registry = new TestRegistry()
    const wallet = newWallet()
    const dir = dataDir()
    const quota = 1024 * 1024
    const sticky = { writeQuorum: 1, storageQuotaBytes: quota, storageQuotaPerPeerBytes: quota }
    let db = await node(registry, { wallet, name: 'quota', dir, sticky })
    // this node's own writes are counted (never refused): fill to within 40 KB of the quota
    for (let i = 0; datastoreOf(db).quotaStats.totalBytes < quota - 40_000; i++) await db.sticky.publish('fill', { i, payload: 'x'.repeat(30_000) })
    const filled = datastoreOf(db).quotaStats.totalBytes
    await db.disconnect()
    db = await node(registry, { wallet, name: 'quota-restarted', dir, sticky })
    await waitFor(() => datastoreOf(db).quotaStats.totalBytes >= filled, 10_000, 'the records on disk counted')
    expect(datastoreOf(db).quotaStats.totalBytes).toBe(filled)
    // a peer puts a valid, signed 60 KB message record over the replica protocol
    const peerWallet = newWallet()
    const peer = await node(registry, { wallet: peerWallet, name: 'quota-peer', boot: db, sticky: { writeQuorum: 1 } })
    await waitFor(() => db.connectedPeers().length === 1, 10_000, 'the peer connected')
    expect(await putMessage(peer, db, peerWallet, 1)).toMatch(/storage quota exceeded: this node holds/)
    expect(db.stats().replicaService.overQuota).toBe(1)
    expect(datastoreOf(db).quotaStats.totalBytes).toBe(filled)
  }, 60_000)

  it("a peer's share of the storage quota survives the node's restart", async () => {
    const registry = new TestRegistry()
    const wallet = newWallet()
    const dir = dataDir()
    const sticky = { writeQuorum: 1, storageQuotaBytes: 4 * 1024 * 1024, storageQuotaPerPeerBytes: 1024 * 1024 }
    let db = await node(registry, { wallet, name: 'share', dir, sticky })
    const peerWallet = newWallet()
    let peer = await node(registry, { wallet: peerWallet, name: 'share-peer', boot: db, sticky: { writeQuorum: 1 } })
    await waitFor(() => db.connectedPeers().length === 1, 10_000, 'the peer connected')
    // the peer fills its 1 MiB share with 60 KB records until one is refused
    let seq = 0
    let refusal: string | null = null
    while (refusal == null && seq < 30) refusal = await putMessage(peer, db, peerWallet, ++seq)
    expect(refusal).toMatch(/this peer's records take/)
    const filled = datastoreOf(db).quotaStats.totalBytes
    await Promise.all([db, peer].map(async (d) => { await d.disconnect(); open.splice(open.indexOf(d), 1) }))
    db = await node(registry, { wallet, name: 'share-restarted', dir, sticky })
    await waitFor(() => datastoreOf(db).quotaStats.totalBytes >= filled, 10_000, 'the records on disk counted')
    expect(datastoreOf(db).quotaStats.totalBytes).toBe(filled)
    peer = await node(registry, { wallet: peerWallet, name: 'share-peer-again', boot: db, sticky: { writeQuorum: 1 } })
    const other = newWallet()
    const third = await node(registry, { wallet: other, name: 'share-third', boot: db, sticky: { writeQuorum: 1 } })
    await waitFor(() => db.connectedPeers().length === 2, 10_000, 'both peers connected')
    // the same peer is still at its share after the restart; another peer is not (the total has room)
    expect(await putMessage(peer, db, peerWallet, ++seq)).toMatch(/this peer's records take/)
    expect(await putMessage(third, db, other, 1)).toBeNull()
  }, 60_000)

  it('a replica restarted with its data dir repairs what it missed while down, without a new write', async () => {
    const registry = new TestRegistry()
    const dirs = [dataDir(), dataDir(), dataDir(), dataDir()]
    const wallets = dirs.map(() => newWallet())
    const ports = await freePorts()
    const a = await node(registry, { wallet: wallets[0], name: 'r0', dir: dirs[0] })
    const [b, c] = await Promise.all([1, 2].map(async (i) => await node(registry, { wallet: wallets[i], name: `r${i}`, dir: dirs[i], boot: a })))
    let d = await node(registry, { wallet: wallets[3], name: 'r3', dir: dirs[3], boot: a, ports })
    await waitFor(() => [a, b, c, d].every((n) => n!.sticky.isReady() && n!.connectedPeers().length === 3), 20_000, 'four nodes meshed')
    const first = await Promise.all(Array.from({ length: 20 }, async (_, i) => await a!.sticky.publish('missed', { i })))
    await d.disconnect()
    open.splice(open.indexOf(d), 1)
    const second = await Promise.all(Array.from({ length: 20 }, async (_, i) => await a!.sticky.publish('missed', { i: 20 + i })))
    d = await node(registry, { wallet: wallets[3], name: 'r3-again', dir: dirs[3], boot: a, ports })
    // What it missed reaches its disk without a new write: through its own restart-repair pass or
    // through the other replicas' repair of a returning member, whichever runs first (both race, so
    // the pass's own counter is not the criterion); the pass starts 0.75-2.25 s after sticky-ready.
    await waitFor(() => d.sticky.isReady(), 20_000, 'the restarted node is sticky-ready')
    await new Promise((resolve) => setTimeout(resolve, 6_000))
    // alone now: what it serves comes from its own disk
    await Promise.all([a, b, c].map(async (n) => { await n!.disconnect({ flushTimeoutMs: 500 }) }))
    await waitFor(() => d.connectedPeers().length === 0, 10_000, 'd alone')
    const info = await d.sticky.topicInfo('missed')
    expect(info.messageCount).toBe(40)
    // its own older head may still sit beside the current one as a sibling (a replica drops a head
    // only when it can check locally that the newer one includes it); together they hold all 40
    const all = await d.sticky.loadCoordinator('missed')
    expect(all.length).toBeGreaterThan(0)
    const seen = new Set<number>()
    for (const h of all) {
      for (const e of await d.sticky.loadMessageCollection('missed', h.head.messages!) ?? []) seen.add((e.m.data as { i: number }).i)
    }
    expect(seen.size).toBe(40)
    expect([...first, ...second]).toHaveLength(40)
  }, 90_000)
})
