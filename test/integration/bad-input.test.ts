/*
 * Malformed network input and misbehaving handlers on real nodes: an authorized peer publishes
 * raw bytes that are not valid events straight through GossipSub; each is dropped, counted by
 * reason, never reaches the handler, and the node keeps delivering good events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, waitFor, waitForSubscribers, type Cluster } from '../../support/cluster.js'
import type { Event } from '../../src/index.js'
import { hasOutboundStream } from '../../src/host/internals.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('bad input and handler failures', () => {
  let cluster: Cluster
  beforeAll(async () => { cluster = await startCluster(2, { extra: { maxMessageBytes: 4096 } }) })
  afterAll(async () => { await cluster?.stop() })

  it('drops malformed inbound events, counts them by reason, and keeps delivering good ones', async () => {
    const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const got: Event[] = []
    await a.subscribe('raw', (e) => { got.push(e) })
    await waitForSubscribers([b], 'testdb_raw', 1)
    await waitFor(() => hasOutboundStream(b.libp2p.services.pubsub, a.peerId) === true, 5_000, 'stream')
    const raw = async (s: string | Uint8Array): Promise<void> => {
      await b.libp2p.services.pubsub.publish('testdb_raw', typeof s === 'string' ? enc(s) : s)
    }
    await raw('not json at all')
    await raw('[1,2,3]')
    await raw('{"from_peer":"x","message":1,"timestamp":1}')
    await raw('{"id":"","message":1,"timestamp":1}')
    await raw('{"id":42,"message":1,"timestamp":1}')
    await raw('{"id":"a","message":1,"timestamp":"noon"}')
    await raw(new Uint8Array([0xff, 0xfe, 0xfd]))
    await raw(enc(JSON.stringify({ id: 'big', from_peer: '', message: 'x'.repeat(5000), timestamp: 1 })))
    const good = await b.publish('raw', { ok: true })
    await waitFor(() => got.length === 1, 5_000, 'the good event')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(got).toEqual([good])
    expect(a.realtimeStats.dropped).toMatchObject({ 'not-json': 2, 'not-object': 1, 'missing-id': 2, 'bad-field-type': 2, oversize: 1 })
  })

  it('delivers the signed author as fromPeerId and drops events whose from_peer names someone else', async () => {
    const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const got: Event[] = []
    await a.subscribe('spoof', (e) => { got.push(e) })
    await waitForSubscribers([b], 'testdb_spoof', 1)
    await waitFor(() => (b.libp2p.services.pubsub as any).streamsOutbound.has(a.peerId), 5_000, 'stream')
    const raw = async (fromPeer: unknown, message: unknown): Promise<void> => {
      await b.libp2p.services.pubsub.publish('testdb_spoof', enc(JSON.stringify({ id: `id-${String(message)}`, from_peer: fromPeer, message, timestamp: 1 })))
    }
    const before = a.realtimeStats.dropped['spoofed-from-peer'] ?? 0
    await raw(a.peerId, 'claims to be a')          // names another (authorized) peer: dropped
    await raw('12D3KooWnotapeer', 'garbage id')      // names nobody: dropped
    await raw('', 'empty')                           // empty: filled from the signed author
    await raw(b.peerId, 'honest')                    // the author itself
    await waitFor(() => got.length === 2, 5_000, 'the two honest events')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(got.map((e) => [e.message, e.fromPeerId])).toEqual([['empty', b.peerId], ['honest', b.peerId]])
    expect(a.realtimeStats.dropped['spoofed-from-peer'] - before).toBe(2)
  })

  it('refuses to publish non-JSON or oversize messages before sending', async () => {
    const b = cluster.nodes[1]!
    await expect(b.publish('raw', undefined)).rejects.toMatchObject({ code: 'ERR_INVALID_MESSAGE' })
    await expect(b.publish('raw', { f: () => 1 })).rejects.toMatchObject({ code: 'ERR_INVALID_MESSAGE' })
    await expect(b.publish('raw', 'x'.repeat(5000))).rejects.toMatchObject({ code: 'ERR_MESSAGE_TOO_LARGE' })
    await expect(b.publish('', 1)).rejects.toMatchObject({ code: 'ERR_INVALID_TOPIC' })
    await expect(b.subscribe('bad\ntopic', () => {})).rejects.toMatchObject({ code: 'ERR_INVALID_TOPIC' })
  })

  it('logs a throwing handler and keeps the subscription alive', async () => {
    const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const seen: unknown[] = []
    await a.subscribe('flaky', (e) => { seen.push(e.message); if (e.message === 1) throw new Error('boom'); })
    await waitForSubscribers([b], 'testdb_flaky', 1)
    await b.publish('flaky', 1)
    await b.publish('flaky', 2)
    await waitFor(() => seen.length === 2, 5_000, 'both events')
    expect(seen).toEqual([1, 2])
    expect(a.realtimeStats.handlerErrors).toBe(1)
  })

  it('subscribing twice is an error; unsubscribe stops delivery; unsubscribing twice is an error', async () => {
    const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const seen: unknown[] = []
    await a.subscribe('once', (e) => { seen.push(e.message) })
    await expect(a.subscribe('once', () => {})).rejects.toMatchObject({ code: 'ERR_ALREADY_SUBSCRIBED' })
    await waitForSubscribers([b], 'testdb_once', 1)
    await b.publish('once', 'first')
    await waitFor(() => seen.length === 1, 5_000, 'first')
    await a.unsubscribe('once')
    await expect(a.unsubscribe('once')).rejects.toMatchObject({ code: 'ERR_NOT_SUBSCRIBED' })
    await waitFor(() => b.libp2p.services.pubsub.getSubscribers('testdb_once').length === 0, 5_000, 'unsubscribe seen')
    await expect(b.publish('once', 'second')).rejects.toMatchObject({ code: 'ERR_NO_SUBSCRIBERS' })
    expect(seen).toEqual(['first'])
  })

  it('publish with no subscriber waits, then fails with ERR_NO_SUBSCRIBERS; a subscriber arriving in time gets it', async () => {
    const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const started = Date.now()
    await expect(b.publish('nobody', 1)).rejects.toMatchObject({ code: 'ERR_NO_SUBSCRIBERS' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_900)
    const seen: unknown[] = []
    const pending = b.publish('later', 'waited')
    setTimeout(() => { void a.subscribe('later', (e) => { seen.push(e.message) }) }, 300)
    await pending
    await waitFor(() => seen.length === 1, 5_000, 'late subscriber')
    expect(seen).toEqual(['waited'])
  })
})
