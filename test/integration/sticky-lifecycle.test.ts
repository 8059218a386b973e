/*
 * Sticky lifecycle on real nodes: subscription renewal (automatic and explicit), renewal requests
 * refused over the wire (forged, replayed, stale, non-subscriber, malformed), expiry without renewal,
 * and every abuse limit raising its typed error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { bootstrapEntry, startCluster, startNode, waitFor, type Cluster, type Wallet } from '../../support/cluster.js'
import type { Database } from '../../src/index.js'
import { renewalSignedText, type RenewalRequest } from '../../src/sticky/core/renewal.js'
import { RenewalService, RENEWAL_PROTOCOL } from '../../src/sticky/topic/renewal-service.js'
import { silentLogger } from '../../src/logger.js'

async function signedRenewal (wallet: Wallet, topic: string, over: { timestamp?: number, ttlMs?: number, signer?: Wallet } = {}): Promise<RenewalRequest> {
  const key = await generateKeyPairFromSeed('Ed25519', wallet.secretKey.subarray(0, 32))
  const signerKey = await generateKeyPairFromSeed('Ed25519', (over.signer ?? wallet).secretKey.subarray(0, 32))
  const client = peerIdFromPrivateKey(key).toString()
  const timestamp = over.timestamp ?? Date.now()
  const ttlMs = over.ttlMs ?? 60_000
  const sig = Buffer.from(await signerKey.sign(new TextEncoder().encode(renewalSignedText('testdb', topic, client, timestamp, ttlMs)))).toString('base64')
  return { v: 1, topic, client, timestamp, ttlMs, sig }
}

describe('sticky lifecycle on a 5-node cluster', () => {
  let cluster: Cluster
  let nodes: Database[]
  beforeAll(async () => {
    cluster = await startCluster(5, { fullMesh: true })
    nodes = cluster.nodes
  })
  afterAll(async () => { await cluster?.stop() })

  it('auto-renewal keeps a subscription alive past its TTL; without it the subscription expires', async () => {
    const [a, b, , , observer] = nodes
    const renewedA: number[] = []
    const expiredB: unknown[] = []
    const subA = await a!.sticky.subscribe('renew', { onMessage: () => {}, ttlMs: 3_000 })
    const subB = await b!.sticky.subscribe('renew', { onMessage: () => {}, ttlMs: 2_000, autoRenew: false })
    subA.on('renewed', (e: { expiresAt: number }) => { renewedA.push(e.expiresAt) })
    subB.on('expired', (e) => { expiredB.push(e) })
    expect((await observer!.sticky.topicInfo('renew')).subscriberCount).toBe(2)
    await new Promise((resolve) => setTimeout(resolve, 7_000)) // more than twice A's TTL
    expect(renewedA.length).toBeGreaterThanOrEqual(2)
    expect(subA.expiresAt).toBeGreaterThan(Date.now())
    expect(expiredB).toHaveLength(1)
    const info = await observer!.sticky.topicInfo('renew')
    expect(info.subscriberCount).toBe(1) // A renewed; B lapsed
    // an explicit renewal moves the expiry and is visible to everyone
    const { expiresAt } = await subA.renew(120_000)
    expect(expiresAt).toBeGreaterThan(Date.now() + 100_000)
    await subA.unsubscribe()
    await subB.unsubscribe()
    expect((await observer!.sticky.topicInfo('renew')).subscriberCount).toBe(0)
  }, 60_000)

  it('a renewal that is forged, replayed, stale, from a non-subscriber or malformed is refused by the serving node', async () => {
    const [subscriber, serving, outsider] = nodes
    const [wSub, , wOut] = cluster.wallets
    const sub = await subscriber!.sticky.subscribe('guarded', { onMessage: () => {}, ttlMs: 60_000, autoRenew: false })
    const client = new RenewalService(outsider!.libp2p as any, 'testdb', async () => ({ ok: false, error: 'unused' }), silentLogger)
    const to = peerIdFromString(serving!.peerId)
    const send = async (req: RenewalRequest): Promise<unknown> => await client.send(to, req, AbortSignal.timeout(10_000))

    const valid = await signedRenewal(wSub!, 'guarded', { ttlMs: 90_000 })
    expect(await send(valid)).toMatchObject({ ok: true }) // the genuine request, relayed by anyone, is accepted once
    expect(await send(valid)).toEqual({ ok: false, error: 'replayed request' })
    expect(await send(await signedRenewal(wSub!, 'guarded', { signer: wOut }))).toEqual({ ok: false, error: 'bad signature' })
    expect(await send({ ...(await signedRenewal(wSub!, 'guarded')), ttlMs: 86_000_000 })).toEqual({ ok: false, error: 'bad signature' })
    expect(await send(await signedRenewal(wSub!, 'guarded', { timestamp: Date.now() - 6 * 60_000 }))).toEqual({ ok: false, error: 'request is older than 5 minutes' })
    expect(await send(await signedRenewal(wOut!, 'guarded'))).toEqual({ ok: false, error: 'not a subscriber of this topic' })
    // raw garbage on the protocol
    const stream = await outsider!.libp2p.dialProtocol(to, `${RENEWAL_PROTOCOL}/testdb`)
    await stream.sink([new TextEncoder().encode('{"v":1,"topic":')])
    let answer = ''
    for await (const chunk of stream.source) answer += new TextDecoder().decode(chunk.subarray())
    expect(JSON.parse(answer)).toMatchObject({ ok: false, error: expect.stringMatching(/^malformed request/) })
    const stats = serving!.sticky.stats()
    expect(stats.renewalsRejected).toBeGreaterThanOrEqual(5)
    expect(stats.renewalsMalformed).toBeGreaterThanOrEqual(1)
    // the accepted renewal is what everyone sees; the refused ones changed nothing
    const subs = await serving!.sticky.topicInfo('guarded')
    expect(subs.subscriberCount).toBe(1)
    await sub.unsubscribe()
  }, 60_000)

  it('every abuse limit raises its typed error', async () => {
    const limited = await startNode({
      registry: cluster.registry,
      name: 'limited',
      bootstrap: () => [bootstrapEntry(nodes[0]!)],
      extra: { sticky: { pollIntervalMs: 1_000, maxMessageBytes: 1_024, publishRatePerSecond: 0.01, publishBurst: 3, maxTopics: 3, maxSubscribersPerTopic: 2 } }
    })
    cluster.registry.add(limited.wallet.address)
    const db = limited.db
    try {
      await db.waitUntilReady({ signal: AbortSignal.timeout(20_000) })
      await waitFor(() => db.connectedPeers().length >= 3, 20_000, 'limited node connected')
      await expect(db.sticky.publish('t1', 'x'.repeat(2_000))).rejects.toMatchObject({ code: 'ERR_MESSAGE_TOO_LARGE', limit: 1_024 })
      await db.sticky.publish('t1', 1)
      await db.sticky.publish('t2', 2)
      // two subscribers elsewhere fill 'crowd' up to this node's limit of 2 (crowd is this node's third topic)
      const others = await Promise.all([nodes[1]!, nodes[2]!].map(async (n) => await n.sticky.subscribe('crowd', { onMessage: () => {} })))
      await expect(db.sticky.subscribe('crowd', { onMessage: () => {} })).rejects.toMatchObject({ code: 'ERR_TOO_MANY_SUBSCRIBERS', limit: 2 })
      for (const s of others) await s.unsubscribe()
      await expect(db.sticky.publish('t3', 3)).rejects.toMatchObject({ code: 'ERR_TOO_MANY_TOPICS', limit: 3 })
      await db.sticky.publish('t1', 4) // burst of 3 used up now (refused publishes take no token)
      await expect(db.sticky.publish('t1', 5)).rejects.toMatchObject({ code: 'ERR_RATE_LIMITED', retryAfterMs: expect.any(Number) })
      expect(db.sticky.stats().rateLimited).toBe(1)
    } finally {
      await db.disconnect()
    }
  }, 90_000)

  it('a wallet outside the registry cannot write: its publish and subscribe fail with ERR_NOT_AUTHORIZED', async () => {
    // other nodes refusing records such a wallet signs is covered by sticky-bad-input.test.ts
    const [, , , , last] = nodes
    const wallet = cluster.wallets[4]!
    cluster.registry.remove(wallet.address)
    try {
      await expect.poll(async () => await last!.sticky.publish('closed', 1).then(() => 'ok', (e: { code: string }) => e.code), { timeout: 10_000 }).toBe('ERR_NOT_AUTHORIZED')
      await expect(last!.sticky.subscribe('closed', { onMessage: () => {} })).rejects.toMatchObject({ code: 'ERR_NOT_AUTHORIZED' })
    } finally {
      cluster.registry.add(wallet.address)
    }
  }, 30_000)
})
