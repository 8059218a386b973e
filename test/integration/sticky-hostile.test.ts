/*
 * An authorized but hostile wallet against a live cluster (issue 14, sticky layer): validly signed
 * records with hostile contents, sent to every node over the replica protocol. The topic's honest
 * history must survive, late joiners must still get it, and writes must go on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, waitFor, type Cluster } from '../../support/cluster.js'
import type { Database, StickyMessage } from '../../src/index.js'
import { headKey, pushTopic } from '../../src/sticky/core/keys.js'
import { sendReplicaRequest } from '../../src/sticky/replica/replica-protocol.js'
import { recordDatastoreKey } from '../../src/host/internals.js'
import { datastoreOf } from '../fixtures/sticky-records.js'
import { Libp2pRecord } from '@libp2p/record'
import { ed25519Signer, signHead, signMessage } from '../../src/sticky/core/signing.js'
import { encodeRecord } from '../../src/sticky/core/codec.js'
import type { HeadRecord } from '../../src/sticky/core/records.js'

describe('sticky: a hostile authorized wallet', () => {
  let cluster: Cluster
  let nodes: Database[]
  beforeAll(async () => {
    cluster = await startCluster(4, { fullMesh: true, extra: { sticky: { pollIntervalMs: 1_000 } } })
    nodes = cluster.nodes
  })
  afterAll(async () => { await cluster?.stop() })

  /** Puts a head set straight to every other node over the replica protocol, as `from`. */
  async function putEverywhere (from: Database, topic: string, heads: HeadRecord[]): Promise<Array<string | null>> {
    const value = new TextEncoder().encode(JSON.stringify({ t: 'heads', heads }))
    const out: Array<string | null> = []
    for (const n of nodes) {
      if (n === from) continue
      const [r] = await sendReplicaRequest(from.libp2p, n.libp2p.peerId, 'put', [{ key: headKey('testdb', topic), value }], AbortSignal.timeout(5_000))
      out.push(r ?? null)
    }
    return out
  }

  it('one signed head claiming the current heads as parents, with none of their content, erases nothing', async () => {
    const [writer, , reader, attackerNode] = nodes
    const attacker = ed25519Signer(cluster.wallets[3]!.address, cluster.wallets[3]!.secretKey)
    const acks = await Promise.all([1, 2, 3].map(async (i) => await writer!.sticky.publish('erase-me', { i })))
    const current = await writer!.sticky.loadCoordinator('erase-me')
    const now = Date.now()
    const eraser = await signHead({
      t: 'head', db: 'testdb', topic: 'erase-me', version: Math.max(...current.map((h) => h.head.version)) + 1, messages: null, subscribers: null,
      messageHistory: [], subscriberHistory: [], previous: null, parents: current.map((h) => h.id), createdAt: now, lastModified: now,
      state: 'ACTIVE', retired: false, expiresAt: now + 3_600_000, writer: attacker.wallet
    }, attacker)
    expect(await putEverywhere(attackerNode!, 'erase-me', [eraser])).toEqual([null, null, null])
    // the attacker controls its own node's storage too
    await datastoreOf(attackerNode!).delete(recordDatastoreKey(headKey('testdb', 'erase-me')))
    const got: StickyMessage[] = []
    const sub = await reader!.sticky.subscribe('erase-me', { onMessage: (m) => { got.push(m) } })
    await waitFor(() => got.length >= 3, 10_000, `history of 3 (got ${got.length})`)
    expect(new Set(got.map((m) => m.messageId))).toEqual(new Set(acks.map((a) => a.messageId)))
    // writes go on and keep everything
    const after = await writer!.sticky.publish('erase-me', { i: 4 })
    await waitFor(() => got.length >= 4, 10_000, 'the next message')
    expect(got.at(-1)!.messageId).toBe(after.messageId)
    expect((await nodes[1]!.sticky.topicInfo('erase-me')).messageCount).toBe(4)
    await sub.unsubscribe()
  }, 60_000)

  it('a push with an absurd version, a foreign message or a far-future message moves nothing and delivers nothing false', async () => {
    const [writer, subscriber, attackerNode] = nodes
    const attacker = ed25519Signer(cluster.wallets[2]!.address, cluster.wallets[2]!.secretKey)
    await writer!.sticky.publish('pushed', 'first')
    const got: StickyMessage[] = []
    const sub = await subscriber!.sticky.subscribe('pushed', { onMessage: (m) => { got.push(m) } })
    await waitFor(() => got.length >= 1, 10_000, 'the first message')
    const name = pushTopic('testdb', 'pushed')
    const own = await attackerNode!.sticky.subscribe('pushed', { onMessage: () => {} }) // so its node takes part in the push topic
    await waitFor(() => attackerNode!.libp2p.services.pubsub.getSubscribers(name).length >= 1, 15_000, 'the subscriber known to the attacker')
    const now = Date.now()
    const far = await signMessage({ t: 'msg', db: 'testdb', topic: 'pushed', publisher: attacker.wallet, seq: 7, data: 'from the future', publishedAt: now + 3_600_000, expiresAt: now + 7_200_000 }, attacker)
    const other = await signMessage({ t: 'msg', db: 'testdb', topic: 'other-topic', publisher: attacker.wallet, seq: 8, data: 'replayed', publishedAt: now, expiresAt: now + 60_000 }, attacker)
    const huge = await signMessage({ t: 'msg', db: 'testdb', topic: 'pushed', publisher: attacker.wallet, seq: 9, data: 'huge version', publishedAt: now, expiresAt: now + 60_000 }, attacker)
    const pubsub = attackerNode!.libp2p.services.pubsub
    for (const body of [
      { v: 1, version: 2 ** 53 - 1, entries: [] },
      { v: 1, version: 2 ** 53 - 1, entries: [{ m: huge, v: 2 ** 53 - 1 }] },
      { v: 1, version: 3, entries: [{ m: far, v: 3 }] },
      { v: 1, version: 3, entries: [{ m: other, v: 3 }] }
    ]) await pubsub.publish(name, encodeRecord(body))
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(sub.lastSeenVersion).toBeLessThan(1_000)
    expect(got.map((m) => m.data)).toEqual(['first'])
    expect(subscriber!.sticky.stats().pushesDropped).toBeGreaterThanOrEqual(2) // the far-future and the foreign message
    expect(sub.stats.implausiblePushes).toBe(2) // the two absurd versions: nothing delivered, a poll instead
    // a resuming subscriber still gets what comes next
    const next = await writer!.sticky.publish('pushed', 'second')
    await waitFor(() => got.some((m) => m.messageId === next.messageId), 10_000, 'the next message')
    // lastSeenVersion follows what was loaded: the next poll (every second here) reaches the new version
    await waitFor(() => sub.lastSeenVersion === next.version, 10_000, `lastSeenVersion ${next.version} (is ${sub.lastSeenVersion})`)
    await sub.unsubscribe()
    await own.unsubscribe()
  }, 60_000)

  it('a head of one topic pointing at another topic\'s pages is refused by replicas and ignored by readers', async () => {
    const [writer, reader, , attackerNode] = nodes
    const attacker = ed25519Signer(cluster.wallets[3]!.address, cluster.wallets[3]!.secretKey)
    await writer!.sticky.publish('topic-a', 'only for topic a')
    const [a] = await writer!.sticky.loadCoordinator('topic-a')
    const now = Date.now()
    const replay = await signHead({
      t: 'head', db: 'testdb', topic: 'topic-b', version: 1, messages: a!.head.messages, subscribers: null,
      messageHistory: [], subscriberHistory: [], previous: null, parents: [], createdAt: now, lastModified: now,
      state: 'ACTIVE', retired: false, expiresAt: now + 3_600_000, writer: attacker.wallet
    }, attacker)
    const answers = await putEverywhere(attackerNode!, 'topic-b', [replay])
    expect(answers.every((r) => typeof r === 'string')).toBe(true)
    // a hostile replica (the attacker's own node) serves it anyway: readers must not take topic a's
    // messages for topic b's
    const own = [await reader!.sticky.publish('topic-b', 'topic b, before')]
    const k = headKey('testdb', 'topic-b')
    await datastoreOf(attackerNode!).put(recordDatastoreKey(k), new Libp2pRecord(k, new TextEncoder().encode(JSON.stringify({ t: 'heads', heads: [replay] })), new Date()).serialize())
    const got: StickyMessage[] = []
    const sub = await reader!.sticky.subscribe('topic-b', { onMessage: (m) => { got.push(m) } })
    own.push(await reader!.sticky.publish('topic-b', 'topic b, after'))
    await waitFor(() => got.length >= 2, 10_000, 'topic b\'s own messages')
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(got.map((m) => m.messageId)).toEqual(own.map((r) => r.messageId))
    await sub.unsubscribe()
  }, 60_000)

  // last: it removes node 3 from the registry
  it('a wallet leaving the registry does not brick its topics: its records are skipped one by one, writes go on', async () => {
    const [a, b, reader, leaving] = nodes
    const first = await a!.sticky.publish('registry-change', 'from a')
    await leaving!.sticky.publish('registry-change', 'from the leaving wallet') // its head is now the current one
    const current = await a!.sticky.loadCoordinator('registry-change')
    expect(current.map((h) => h.head.writer)).toEqual([cluster.wallets[3]!.address])
    cluster.registry.remove(cluster.wallets[3]!.address)
    await waitFor(() => !a!.libp2p.getConnections().some((c) => c.remotePeer.equals(leaving!.libp2p.peerId)), 15_000, 'the removed node disconnected')
    const next = await b!.sticky.publish('registry-change', 'from b')
    expect(next.version).toBeGreaterThan(current[0]!.head.version)
    const got: StickyMessage[] = []
    const sub = await reader!.sticky.subscribe('registry-change', { onMessage: (m) => { got.push(m) } })
    await waitFor(() => got.length >= 2, 10_000, `2 messages (got ${got.length})`)
    // decision (README): a removed wallet's messages are no longer delivered; everything else stays
    expect(got.map((m) => m.messageId).sort()).toEqual([first.messageId, next.messageId].sort())
    expect((await a!.sticky.topicInfo('registry-change')).messageCount).toBe(2)
    await sub.unsubscribe()
  }, 60_000)
})
