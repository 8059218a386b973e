/*
 * Real-time events between TS nodes and a real Go node (interop/go): exact fields both ways, the
 * GossipSub message id both implementations compute, and frame sizes under Go's 1 MiB read limit
 * (a near-limit event, and an IWANT answer carrying several large messages).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toString } from 'uint8arrays/to-string'
import { fromString } from 'uint8arrays/from-string'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { Message } from '@libp2p/interface'
import { DEFAULT_OPTIONS, type Database, type Event } from '../../src/index.js'
import { goMessageId, GO_MAX_RPC_BYTES } from '../../src/host/gossip-wire.js'
import { encodeEvent } from '../../src/realtime/event-codec.js'
import { newWallet, startNode, TestRegistry, waitFor } from '../../support/cluster.js'
import { GoNode } from '../fixtures/go-node.js'

const DB = 'interop'
const hex = (b: Uint8Array): string => toString(b, 'base16')
const T = (topic: string): string => `${DB}_${topic}`
let go: GoNode
let ts1: Database
let ts2: Database
const received = new Map<string, Array<{ node: string, event: Event }>>()
/** ids TS nodes computed for received messages, by node: GossipSub's own msgId string and the message */
const tsIds: Array<{ node: string, msgId: string, msg: Message }> = []

const payload = {
  nothing: null,
  text: 'héllo ✓ 𝄞 中文 "quoted" \\ <a&b> \u0000\u001f',
  nested: { list: [1, [2, [3, { deep: true }]], -0.5], empty: {}, none: [] },
  ints: [0, -1, 2 ** 31, 2 ** 32 + 1, 2 ** 53 - 1, 2 ** 53, -(2 ** 53)],
  float: 1.25,
  flag: false
}

/** js-libp2p-gossipsub's default id for signed messages (msgIdFnStrictSign): public-key protobuf + seqno */
function jsDefaultId (msg: Message): Uint8Array {
  if (msg.type !== 'signed') throw new Error('unsigned')
  const key = publicKeyToProtobuf(msg.from.publicKey ?? msg.key)
  const out = new Uint8Array(key.length + 8)
  out.set(key)
  new DataView(out.buffer).setBigUint64(key.length, msg.sequenceNumber)
  return out
}

function record (node: string, db: Database, topic: string): void {
  void db.subscribe(topic, (event) => {
    const list = received.get(topic) ?? []
    list.push({ node, event })
    received.set(topic, list)
  })
}

beforeAll(async () => {
  const registry = new TestRegistry()
  const [gw, w1, w2] = [newWallet(), newWallet(), newWallet()]
  registry.add(gw.address, w1.address, w2.address)
  go = await GoNode.start({ wallet: gw, db: DB, authorizedWallets: [...registry.wallets], subscribe: ['ev', 'small'], name: 'go' })
  ts1 = (await startNode({ wallet: w1, registry, databaseName: DB, name: 'ts1', bootstrap: () => [go.bootstrapEntry()] })).db
  ts2 = (await startNode({ wallet: w2, registry, databaseName: DB, name: 'ts2', bootstrap: () => [go.bootstrapEntry()] })).db
  for (const [name, db] of [['ts1', ts1], ['ts2', ts2]] as const) {
    db.libp2p.services.pubsub.addEventListener('gossipsub:message', (evt) => { tsIds.push({ node: name, msgId: evt.detail.msgId, msg: evt.detail.msg }) })
    record(name, db, 'ev')
    record(name, db, 'big')
  }
  record('ts1', ts1, 'small')
  await Promise.all([ts1, ts2].map(async (db) => { await db.waitUntilReady({ signal: AbortSignal.timeout(20_000) }) }))
  await waitFor(() => [ts1, ts2].every((db) => db.libp2p.services.pubsub.getSubscribers(T('ev')).some((p) => p.toString() === go.peerId)), 15_000, 'Go subscribed as seen by TS')
  await waitFor(() => ts1.libp2p.services.pubsub.getSubscribers(T('ev')).some((p) => p.toString() === ts2.peerId), 15_000, 'ts2 subscribed as seen by ts1')
}, 60_000)

afterAll(async () => {
  await Promise.allSettled([ts1?.disconnect(), ts2?.disconnect(), go?.stop()])
})

describe('Go interop: events', () => {
  it('a TS event reaches Go with exact fields (null, unicode, nested, integers up to 2^53)', async () => {
    const sent = await ts1.publish('ev', payload)
    const line = await go.waitFor((l) => l.type === 'event' && l.event.id === sent.id, 10_000, 'the TS event on Go')
    expect(line.event).toEqual({ id: sent.id, from_peer: ts1.peerId, message: payload, timestamp: sent.timestamp })
    expect(line.source).toBe(ts1.peerId)
  })

  it('a Go event reaches TS with exact fields and fromPeerId = the Go sender', async () => {
    const sent = await go.publish('ev', payload)
    await waitFor(() => (received.get('ev') ?? []).filter((r) => r.event.id === sent.id).length === 2, 10_000, 'the Go event on both TS nodes')
    for (const r of received.get('ev')!.filter((x) => x.event.id === sent.id)) {
      expect(r.event).toEqual({ id: sent.id, fromPeerId: go.peerId, message: payload, timestamp: sent.timestamp })
    }
  })

  it('the GossipSub message id is the same on Go and TS, both directions (and differs from js-gossipsub\'s default)', async () => {
    // Go publishes: the id Go computed for its own message vs the ids the TS nodes computed
    const fromGo = await go.publish('ev', { n: 1 })
    const onTs = (): typeof tsIds => tsIds.filter((t) => new TextDecoder().decode(t.msg.data).includes(fromGo.id))
    await waitFor(() => onTs().length === 2, 10_000, 'both TS nodes got the Go message')
    const id = hex(goMessageId(onTs()[0]!.msg))
    const goLocal = await go.waitFor((l) => l.type === 'delivered' && l.local === true && l.msgId === id, 5_000, 'the id Go computed for its message')
    expect(goLocal.topic).toBe(T('ev'))
    for (const t of onTs()) {
      expect(hex(fromString(t.msgId, 'base64'))).toBe(goLocal.msgId) // the id GossipSub itself used
      expect(hex(jsDefaultId(t.msg))).not.toBe(goLocal.msgId) // js default: public-key protobuf + seqno
    }
    // TS publishes: the id ts2 computed (GossipSub's msgId of the received message) vs Go's
    const fromTs = await ts1.publish('ev', { n: 2 })
    const onGo = await go.waitFor((l) => l.type === 'event' && l.event.id === fromTs.id, 10_000, 'the TS message on Go')
    await waitFor(() => tsIds.some((t) => t.node === 'ts2' && new TextDecoder().decode(t.msg.data).includes(fromTs.id)), 10_000, 'ts2 got it')
    const onTs2 = tsIds.find((t) => t.node === 'ts2' && new TextDecoder().decode(t.msg.data).includes(fromTs.id))!
    expect(hex(fromString(onTs2.msgId, 'base64'))).toBe(onGo.msgId)
    expect(onGo.msgId).toBe(hex(goMessageId(onTs2.msg)))
    expect(onGo.msgId.length).toBe((38 + 8) * 2) // peer id bytes (identity multihash of an Ed25519 key) + seqno
  })

  it('a TS event just under the size limit, then small events: all reach Go in frames of at most 1 MiB', async () => {
    const limit = DEFAULT_OPTIONS.maxMessageBytes
    expect(limit).toBeLessThan(GO_MAX_RPC_BYTES)
    const probe = { id: '00000000-0000-4000-8000-000000000000', fromPeerId: ts1.peerId, message: '', timestamp: Math.floor(Date.now() / 1000) }
    const overhead = encodeEvent(probe, limit).length
    const big = 'x'.repeat(limit - overhead - 8)
    // one byte more than the limit is refused before anything is sent
    await expect(ts1.publish('small', 'x'.repeat(limit - overhead + 1))).rejects.toMatchObject({ code: 'ERR_MESSAGE_TOO_LARGE' })
    const first = await ts1.publish('small', big)
    const smalls = []
    for (let i = 0; i < 5; i++) smalls.push(await ts1.publish('small', { i }))
    for (const e of [first, ...smalls]) await go.waitFor((l) => l.type === 'event' && l.event.id === e.id, 15_000, `event ${e.id} on Go`)
    const bigLine = go.events('small').find((l) => l.event.id === first.id)!
    expect(bigLine.bytes).toBeGreaterThan(limit - 64)
    expect(bigLine.bytes).toBeLessThanOrEqual(limit)
    const stats = await go.stats()
    expect(stats.maxFrame).toBeGreaterThan(limit)
    expect(stats.maxFrame).toBeLessThanOrEqual(GO_MAX_RPC_BYTES)
  })

  it('an IWANT answer with several large messages is split into frames Go accepts', async () => {
    // three ~600 KB messages published while the Go node is not subscribed to the topic: it has not seen them
    const sent: Event[] = []
    for (let i = 0; i < 3; i++) sent.push(await ts1.publish('big', { i, pad: 'y'.repeat(600_000) }))
    await waitFor(() => sent.every((e) => tsIds.some((t) => t.node === 'ts2' && new TextDecoder().decode(t.msg.data.subarray(0, 200)).includes(e.id))), 10_000, 'ts2 got the big messages')
    const ids = sent.map((e) => fromString(tsIds.find((t) => t.node === 'ts2' && new TextDecoder().decode(t.msg.data.subarray(0, 200)).includes(e.id))!.msgId, 'base64'))
    await go.request({ cmd: 'subscribe', topic: 'big' })
    await waitFor(() => ts1.libp2p.services.pubsub.getSubscribers(T('big')).some((p) => p.toString() === go.peerId), 5_000, 'Go subscribed to big')
    // gossip (IHAVE) of the three ids, as ts1's heartbeat would send to a peer outside its mesh:
    // the Go node asks for all three in one IWANT, and js-gossipsub answers an IWANT in one RPC
    const gs = ts1.libp2p.services.pubsub as unknown as { sendRpc: (id: string, rpc: unknown) => boolean }
    expect(gs.sendRpc(go.peerId, { subscriptions: [], messages: [], control: { ihave: [{ topicID: T('big'), messageIDs: ids }], iwant: [], graft: [], prune: [], idontwant: [] } })).toBe(true)
    for (const e of sent) await go.waitFor((l) => l.type === 'event' && l.event.id === e.id, 10_000, `big message ${e.id} on Go`)
    const stats = await go.stats()
    expect(stats.iwantIds).toBeGreaterThanOrEqual(0)
    expect(stats.maxFrame).toBeLessThanOrEqual(GO_MAX_RPC_BYTES)
    // and the stream still works afterwards
    const after = await ts1.publish('big', { after: true })
    await go.waitFor((l) => l.type === 'event' && l.event.id === after.id, 10_000, 'a later message on Go')
  })
})
