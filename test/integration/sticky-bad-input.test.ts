/*
 * Forged, unsigned, oversize and malformed sticky records sent straight to other nodes over
 * kad-dht PUT_VALUE: every node refuses to store them (its validator rejects them), and a
 * subscriber never sees their messages. Also: records for a database a node does not serve.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Keypair } from '@solana/web3.js'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { startCluster, type Cluster } from '../fixtures/cluster.js'
import type { Database } from '../../src/index.js'
import { contentId, encodeRecord } from '../../src/sticky/codec.js'
import { blobKey, headKey } from '../../src/sticky/keys.js'
import { kadReplicaNetwork } from '../../src/sticky/replica-network.js'
import { signHead, signMessage, type Signer } from '../../src/sticky/signing.js'
import type { StickyMessage } from '../../src/sticky/subscription.js'

async function signerFor (secretKey: Uint8Array): Promise<Signer> {
  const key = await generateKeyPairFromSeed('Ed25519', secretKey.subarray(0, 32))
  return { wallet: Keypair.fromSecretKey(secretKey).publicKey.toBase58(), sign: (d) => key.sign(d) }
}

describe('sticky records: bad input from the network', () => {
  let cluster: Cluster
  beforeAll(async () => { cluster = await startCluster(4, { fullMesh: true }) })
  afterAll(async () => { await cluster?.stop() })

  it('every node refuses forged, unsigned, oversize, malformed, unauthorized and foreign records; none reaches onMessage', async () => {
    const [attacker, ...others] = cluster.nodes as Database[]
    const net = kadReplicaNetwork(attacker!.libp2p.services.dht, attacker!.peerId, () => true)
    const me = await signerFor(cluster.wallets[0]!.secretKey)
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
})
