/*
 * Forged, unsigned, oversize and malformed sticky records sent straight to other nodes, over
 * kad-dht PUT_VALUE and over the replica protocol: every node refuses to store them (its validator
 * rejects them), and a subscriber never sees their messages. Also: records for a database a node
 * does not serve, and malformed replica-protocol requests (dropped, counted, the node carries on).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Keypair } from '@solana/web3.js'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { startCluster, waitFor, type Cluster } from '../../support/cluster.js'
import { lpStream } from 'it-length-prefixed-stream'
import { MAX_ITEMS, MAX_KEY_BYTES, REPLICA_PROTOCOL, sendReplicaRequest } from '../../src/sticky/replica/replica-protocol.js'
import type { Database } from '../../src/index.js'
import { contentId, encodeRecord } from '../../src/sticky/core/codec.js'
import { blobKey, headKey } from '../../src/sticky/core/keys.js'
import { kadRequests } from '../fixtures/kad-requests.js'
import { signHead, signMessage, type Signer } from '../../src/sticky/core/signing.js'
import type { StickyMessage } from '../../src/sticky/topic/subscription.js'

async function signerFor (secretKey: Uint8Array): Promise<Signer> {
  const key = await generateKeyPairFromSeed('Ed25519', secretKey.subarray(0, 32))
  return { wallet: Keypair.fromSecretKey(secretKey).publicKey.toBase58(), sign: (d) => key.sign(d) }
}

/** Records every node must refuse, plus one valid page (`valid`) they reference. */
async function badRecords (me: Signer): Promise<{ topic: string, badBlobs: Array<[string, Uint8Array, string]>, badHeads: Array<[string, Uint8Array]>, valid: Uint8Array }> {
  const outsider = await signerFor(Keypair.generate().secretKey) // not in the registry
  const topic = 'guarded'
  const good = await signMessage({ t: 'msg', db: 'testdb', topic, publisher: me.wallet, seq: 1, data: 'real', publishedAt: Date.now(), expiresAt: Date.now() + 60_000 }, me)

  const page = (entries: unknown[]): Uint8Array => encodeRecord({ t: 'page', db: 'testdb', topic, entries, expiresAt: Date.now() + 3_600_000 })
  const badBlobs: Array<[string, Uint8Array, string]> = []
  const forged = page([{ m: { ...good, data: 'tampered' }, v: 1 }])
  badBlobs.push(['forged message', forged, contentId(forged)])
  const unsigned = page([{ m: { ...good, sig: '' }, v: 1 }])
  badBlobs.push(['unsigned message', unsigned, contentId(unsigned)])
  const byOutsider = page([{ m: await signMessage({ ...good, publisher: outsider.wallet }, outsider), v: 1 }])
  badBlobs.push(['unauthorized publisher', byOutsider, contentId(byOutsider)])
  const valid = page([{ m: good, v: 1 }])
  badBlobs.push(['wrong content id', valid, 'AAAAAAAAAAAAAAAAAAAAAA'])
  const malformed = new TextEncoder().encode('{"t":"page","entries":')
  badBlobs.push(['malformed JSON', malformed, contentId(malformed)])
  const oversize = encodeRecord({ t: 'root', db: 'testdb', topic, pages: [], count: 0, expiresAt: Date.now() + 3_600_000, pad: 'x'.repeat(700 * 1024) })
  badBlobs.push(['oversize', oversize, contentId(oversize)])

  const head = async (signer: Signer, patch: Record<string, unknown> = {}): Promise<unknown> =>
    await signHead({ t: 'head', db: 'testdb', topic, version: 99, messages: contentId(valid), subscribers: null, messageHistory: [], subscriberHistory: [], previous: null, parents: [], createdAt: 1, lastModified: 1, state: 'ACTIVE', writer: signer.wallet, ...patch } as any, signer)
  const headSet = (...heads: unknown[]): Uint8Array => new TextEncoder().encode(JSON.stringify({ t: 'heads', heads }))
  const realHead = await head(me)
  const badHeads: Array<[string, Uint8Array]> = [
    ['forged head', headSet({ ...(realHead as object), version: 100 })],
    ['unsigned head', headSet({ ...(realHead as object), sig: '' })],
    ['head by unauthorized writer', headSet(await head(outsider))],
    ['malformed head set', new TextEncoder().encode('{"t":"heads","heads":[{"t":"head"}]}')],
    ['oversize head set', headSet(...Array.from({ length: 40 }, () => realHead))]
  ]

  return { topic, badBlobs, badHeads, valid }
}

describe('sticky records: bad input from the network', () => {
  let cluster: Cluster
  beforeAll(async () => { cluster = await startCluster(4, { fullMesh: true }) })
  afterAll(async () => { await cluster?.stop() })

  it('every node refuses forged, unsigned, oversize, malformed, unauthorized and foreign records; none reaches onMessage', async () => {
    const [attacker, ...others] = cluster.nodes as Database[]
    const net = kadRequests(attacker!.libp2p.services.dht)
    const { topic, badBlobs, badHeads, valid } = await badRecords(await signerFor(cluster.wallets[0]!.secretKey))

    for (const peer of others) {
      const pid = peer!.libp2p.peerId
      for (const [what, bytes, id] of badBlobs) {
        await net.put(pid, blobKey('testdb', id), bytes).catch(() => {})
        expect(await net.get(pid, blobKey('testdb', id)).catch(() => undefined), what).toBeUndefined()
      }
      for (const [what, bytes] of badHeads) {
        await net.put(pid, headKey('testdb', topic), bytes).catch(() => {})
        expect(await net.get(pid, headKey('testdb', topic)).catch(() => undefined), what).toBeUndefined()
      }
      // a database the node does not serve
      await net.put(pid, blobKey('otherdb', contentId(valid)), valid).catch(() => {})
      expect(await net.get(pid, blobKey('otherdb', contentId(valid))).catch(() => undefined)).toBeUndefined()
    }

    // the topic still works, and a subscriber sees only the real message
    const got: StickyMessage[] = []
    const r = await attacker!.sticky.publish(topic, 'legit')
    await others[0]!.sticky.subscribe(topic, { onMessage: (m) => { got.push(m) } })
    expect(got.map((m) => m.data)).toEqual(['legit'])
    expect(got[0]!.messageId).toBe(r.messageId)
  })

  it('the replica protocol refuses every bad record in a batch with a reason, stores the valid one, and counts them', async () => {
    const [attacker, ...others] = cluster.nodes as Database[]
    const { topic, badBlobs, badHeads, valid } = await badRecords(await signerFor(cluster.wallets[0]!.secretKey))
    const fitting = badBlobs.filter(([what]) => what !== 'oversize')
    const items = [
      ...fitting.map(([, value, id]) => ({ key: blobKey('testdb', id), value })),
      ...badHeads.filter(([what]) => what !== 'oversize head set').map(([, value]) => ({ key: headKey('testdb', topic), value })),
      { key: blobKey('otherdb', contentId(valid)), value: valid }, // a database the node does not serve
      { key: blobKey('testdb', contentId(valid)), value: valid } // the one valid record
    ]
    for (const node of others) {
      const pid = node!.libp2p.peerId
      const before = node!.stats().replicaService
      const results = await sendReplicaRequest(attacker!.libp2p, pid, 'put', items, AbortSignal.timeout(5_000))
      expect(results.slice(0, -1).every((r) => typeof r === 'string' && r.length > 0), JSON.stringify(results)).toBe(true)
      expect(results.at(-1)).toBeNull()
      expect(node!.stats().replicaService.refused - before.refused).toBe(items.length - 1)
      expect(node!.stats().replicaService.stored - before.stored).toBe(1)
      const stored = await sendReplicaRequest(attacker!.libp2p, pid, 'get', items.map(({ key }) => ({ key })), AbortSignal.timeout(5_000))
      expect(stored.slice(0, fitting.length).every((v) => v == null)).toBe(true)
      expect(stored.at(-2)).toBeUndefined() // foreign database: neither stored nor served
      expect(Buffer.from(stored.at(-1)!)).toEqual(Buffer.from(valid))
      // an oversize record does not fit a frame: the request fails, the node is unaffected
      const [, oversize, oversizeId] = badBlobs.find(([what]) => what === 'oversize')!
      await expect(sendReplicaRequest(attacker!.libp2p, pid, 'put', [{ key: blobKey('testdb', oversizeId), value: oversize }], AbortSignal.timeout(5_000))).rejects.toThrow()
      expect(await sendReplicaRequest(attacker!.libp2p, pid, 'get', [{ key: blobKey('testdb', oversizeId) }], AbortSignal.timeout(5_000))).toEqual([undefined])
    }
  })

  it('the replica protocol drops malformed requests (bad header, unknown op, item counts out of range, over-long keys, truncated, garbage) and keeps serving', async () => {
    const [attacker, victim] = cluster.nodes as Database[]
    const pid = victim!.libp2p.peerId
    const send = async (frames: Uint8Array[]): Promise<void> => {
      const stream = await attacker!.libp2p.dialProtocol(pid, REPLICA_PROTOCOL)
      const lp = lpStream(stream)
      await lp.writeV(frames).catch(() => {})
      await stream.closeWrite().catch(() => {})
      // the victim answers nothing useful: it resets the stream
      await lp.read({ signal: AbortSignal.timeout(3_000) }).then(() => { throw new Error('a malformed request got an answer') }, () => {})
      stream.abort(new Error('done'))
    }
    const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
    const before = victim!.stats().replicaService.malformed
    await send([new TextEncoder().encode('not json')])
    await send([json({ op: 'delete', n: 1 }), json('x')])
    await send([json({ op: 'get', n: 0 })])
    await send([json({ op: 'get', n: MAX_ITEMS + 1 })])
    await send([json({ op: 'put', n: 1.5 })])
    await send([json(null)])
    // key frames longer than any sticky key (a get keeps its keys until it answers)
    await send([json({ op: 'get', n: 2 }), blobKey('testdb', 'x'), new Uint8Array(MAX_KEY_BYTES + 1)])
    await send([json({ op: 'put', n: 1 }), new Uint8Array(MAX_KEY_BYTES + 1), json('x')])
    expect(victim!.stats().replicaService.malformed - before).toBe(8)
    await send([json({ op: 'put', n: 2 }), blobKey('testdb', 'x')]) // truncated: the stream ends early
    await send([new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]) // a broken length prefix

    // still serving: a real sticky write through that node works, and so does a plain request
    const got: string[] = []
    await cluster.nodes[2]!.sticky.subscribe('after-garbage', { onMessage: (m) => { got.push(m.data as string) } })
    await victim!.sticky.publish('after-garbage', 'fine')
    await waitFor(() => got.length === 1, 10_000, 'delivery after garbage')
    expect(got).toEqual(['fine'])
    expect(await sendReplicaRequest(attacker!.libp2p, pid, 'get', [{ key: new TextEncoder().encode('/pk/not-sticky') }], AbortSignal.timeout(5_000))).toEqual([undefined])
  })
})
