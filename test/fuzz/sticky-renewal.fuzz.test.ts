/*
 * Fuzz: subscription renewal requests to a real serving node from an authorized peer: every field at
 * its edges (versions, topics, client ids, timestamps around the skew window, TTLs, signatures, valid
 * ones included for the attacker's own requests), in a real client's name too. Afterwards: no crash,
 * no unhandled rejection, heap bounded, the real client's renewal is still accepted and an honest
 * publish still delivered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { startCluster, waitFor, type Cluster } from '../../support/cluster.js'
import type { Database, StickyMessage } from '../../src/index.js'
import { RenewalService } from '../../src/sticky/topic/renewal-service.js'
import { renewalSignedText } from '../../src/sticky/core/renewal.js'
import { silentLogger } from '../../src/logger.js'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { CrashWatch } from './harness.js'
import { edgeNumber, edgeString, edgeValue, FUZZ_RUNS, FUZZ_SEED, heapMiB } from '../fixtures/sticky-fuzz.js'

const TOPIC = 'fuzz-renewed'

describe('fuzz: renewal requests', () => {
  let cluster: Cluster
  let nodes: Database[]
  const watch = new CrashWatch()
  beforeAll(async () => {
    watch.start()
    cluster = await startCluster(3, { fullMesh: true })
    nodes = cluster.nodes
  })
  afterAll(async () => { watch.stop(); await cluster?.stop() })

  it(`survives ${FUZZ_RUNS} hostile renewal requests; the real client still renews`, async () => {
    const [client, serving, attackerNode] = nodes
    const got: StickyMessage[] = []
    // the subscriptions must outlast a 10,000-input run (minutes), or the final renewal is rightly refused
    const sub = await client!.sticky.subscribe(TOPIC, { onMessage: (m) => { got.push(m) }, ttlMs: 6 * 3_600_000, autoRenew: false })
    await attackerNode!.sticky.subscribe(TOPIC, { onMessage: () => {}, ttlMs: 6 * 3_600_000, autoRenew: false })
    const attackerKey = await generateKeyPairFromSeed('Ed25519', cluster.wallets[2]!.secretKey.subarray(0, 32))
    const sender = new RenewalService(attackerNode!.libp2p as any, 'testdb', async () => ({ ok: false, error: 'unused' }), silentLogger)
    const heapBefore = heapMiB()
    const arb = fc.record({
      v: fc.oneof({ arbitrary: fc.constant(1), weight: 6 }, { arbitrary: edgeValue, weight: 1 }),
      topic: fc.oneof({ arbitrary: fc.constant(TOPIC), weight: 3 }, { arbitrary: edgeString, weight: 1 }),
      client: fc.constantFrom('attacker', 'client', 'junk'),
      timestamp: fc.oneof({ arbitrary: fc.constantFrom(-59_000, 59_000, 61_000, -301_000, 0).map((d) => Date.now() + d), weight: 4 }, { arbitrary: edgeNumber, weight: 1 }),
      ttlMs: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 2 * 86_400_000 }), weight: 4 }, { arbitrary: edgeNumber, weight: 1 }),
      sig: fc.constantFrom('valid', 'random', 'empty', 'long'),
      extra: fc.option(fc.tuple(fc.constantFrom('x', '__proto__'), edgeValue))
    })
    let sent = 0
    await fc.assert(fc.asyncProperty(arb, async (r) => {
      const clientId = r.client === 'attacker' ? attackerNode!.peerId : r.client === 'client' ? client!.peerId : 'not-a-peer-id'
      let sig = r.sig === 'random' ? Buffer.alloc(64, 7).toString('base64') : r.sig === 'empty' ? '' : r.sig === 'long' ? 'A'.repeat(5_000) : ''
      if (r.sig === 'valid') {
        try { sig = Buffer.from(await attackerKey.sign(new TextEncoder().encode(renewalSignedText('testdb', String(r.topic), clientId, r.timestamp, r.ttlMs)))).toString('base64') } catch {}
      }
      const req: Record<string, unknown> = { v: r.v, topic: r.topic, client: clientId, timestamp: r.timestamp, ttlMs: r.ttlMs, sig }
      if (r.extra != null) req[r.extra[0]] = r.extra[1]
      sent++
      await sender.send(serving!.libp2p.peerId, req as any, AbortSignal.timeout(15_000)).catch(() => {})
    }), { numRuns: FUZZ_RUNS, seed: FUZZ_SEED, endOnFailure: true })
    expect(sent).toBe(FUZZ_RUNS)
    const { expiresAt } = await sub.renew(120_000)
    expect(expiresAt).toBeGreaterThan(Date.now() + 100_000)
    const after = await attackerNode!.sticky.publish(TOPIC, 'honest after the fuzz')
    await waitFor(() => got.some((m) => m.messageId === after.messageId), 15_000, 'the honest publish')
    expect(heapMiB() - heapBefore).toBeLessThan(256)
    expect(watch.problems).toEqual([])
    console.log(`renewal fuzz: ${sent} requests; serving node rejected ${serving!.sticky.stats().renewalsRejected}, malformed ${serving!.sticky.stats().renewalsMalformed}`)
    await sub.unsubscribe()
  }, 30 * 60_000)
})
