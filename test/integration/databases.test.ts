/*
 * Several databases on one host: one libp2p node per wallet, per-database authorization in both
 * directions, and the host's lifetime following its last database.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { bootstrapEntry, newWallet, startNode, TestRegistry, waitFor, waitForSubscribers } from '../../support/cluster.js'
import type { Database, Event } from '../../src/index.js'

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

describe('databases sharing a host', () => {
  const open: Database[] = []
  afterEach(async () => { await Promise.allSettled(open.splice(0).map(async (d) => { await d.disconnect() })) })

  it('a node authorized only for database A never receives database B events, and cannot inject them', async () => {
    const h = newWallet(); const p = newWallet(); const q = newWallet()
    const regA = new TestRegistry(); regA.add(h.address, p.address, q.address)
    const regB = new TestRegistry(); regB.add(h.address, q.address)
    const regBasSeenByP = new TestRegistry(); regBasSeenByP.add(h.address, p.address, q.address)

    const hA = await startNode({ wallet: h, registry: regA, databaseName: 'A', name: 'H/A' }); open.push(hA.db)
    const hB = await startNode({ wallet: h, registry: regB, databaseName: 'B', name: 'H/B' }); open.push(hB.db)
    expect(hB.db.libp2p).toBe(hA.db.libp2p) // one host, one set of ports
    const entry = (): ReturnType<typeof bootstrapEntry>[] => [bootstrapEntry(hA.db)]
    const pA = await startNode({ wallet: p, registry: regA, databaseName: 'A', name: 'P/A', bootstrap: entry }); open.push(pA.db)
    const pB = await startNode({ wallet: p, registry: regBasSeenByP, databaseName: 'B', name: 'P/B', bootstrap: entry }); open.push(pB.db)
    const qB = await startNode({ wallet: q, registry: regB, databaseName: 'B', name: 'Q/B', bootstrap: entry }); open.push(qB.db)
    await Promise.all([pA.db, qB.db, hA.db, hB.db].map(async (d) => { await d.waitUntilReady({ signal: AbortSignal.timeout(10_000) }) }))
    expect(hB.db.connectedPeers().map((x) => x.wallet)).toEqual([q.address])
    expect(hA.db.connectedPeers().map((x) => x.wallet).sort()).toEqual([p.address, q.address].sort())

    const got = { hA: [] as Event[], hB: [] as Event[], pA: [] as Event[], pB: [] as Event[], qB: [] as Event[] }
    await hA.db.subscribe('news', (e) => { got.hA.push(e) })
    await hB.db.subscribe('news', (e) => { got.hB.push(e) })
    await pA.db.subscribe('news', (e) => { got.pA.push(e) })
    await pB.db.subscribe('news', (e) => { got.pB.push(e) })
    await qB.db.subscribe('news', (e) => { got.qB.push(e) })
    await waitForSubscribers([hA.db], 'A_news', 1)
    await waitForSubscribers([hB.db, pB.db], 'B_news', 1)
    // H does not record P's subscription to B's topic, so it never sends B's events to P
    expect(hB.db.libp2p.services.pubsub.getSubscribers('B_news').map(String)).toEqual([q.address].map((w) => qB.db.peerId))

    for (let i = 0; i < 10; i++) await hB.db.publish('news', { b: i })
    for (let i = 0; i < 10; i++) await hA.db.publish('news', { a: i })
    await pB.db.publish('news', { injected: true }) // P sees H subscribed to B_news and tries anyway
    await waitFor(() => got.qB.length === 10 && got.pA.length === 10, 10_000, 'legit deliveries')
    await sleep(500)
    expect(got.pB).toEqual([])
    expect(got.hB).toEqual([])
    expect(got.qB.map((e) => e.message)).toEqual(Array.from({ length: 10 }, (_, i) => ({ b: i })))
    expect(hB.db.realtimeStats.dropped.unauthorized).toBeGreaterThanOrEqual(1)
  })

  it('the host outlives its first database and stops with the last one', async () => {
    const h = newWallet(); const p = newWallet()
    const regA = new TestRegistry(); regA.add(h.address, p.address)
    const regB = new TestRegistry(); regB.add(h.address)
    const hA = await startNode({ wallet: h, registry: regA, databaseName: 'A' })
    const hB = await startNode({ wallet: h, registry: regB, databaseName: 'B' })
    const pA = await startNode({ wallet: p, registry: regA, databaseName: 'A', bootstrap: () => [bootstrapEntry(hA.db)] }); open.push(pA.db)
    await pA.db.waitUntilReady({ signal: AbortSignal.timeout(10_000) })
    const node = hA.db.libp2p
    await hA.db.disconnect()
    expect(node.status).toBe('started')
    // P was only authorized through database A: the host drops it once A is gone
    await waitFor(() => node.getConnections().length === 0, 5_000, 'P disconnected')
    await hB.db.disconnect()
    expect(node.status).toBe('stopped')
  })

  it('refuses two databases whose topic names map to the same GossipSub topic', async () => {
    const h = newWallet()
    const reg = new TestRegistry(); reg.add(h.address)
    const one = await startNode({ wallet: h, registry: reg, databaseName: 'a_b' }); open.push(one.db)
    const two = await startNode({ wallet: h, registry: reg, databaseName: 'a' }); open.push(two.db)
    await one.db.subscribe('c', () => {})
    await expect(two.db.subscribe('b_c', () => {})).rejects.toMatchObject({ code: 'ERR_TOPIC_COLLISION' })
    await expect(two.db.publish('b_c', 1)).rejects.toMatchObject({ code: 'ERR_TOPIC_COLLISION' })
  })
})
