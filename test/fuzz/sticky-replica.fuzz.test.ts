/*
 * Fuzz: replica protocol requests (puts and gets) to a real node, from an authorized wallet: records
 * of every kind with hostile contents and valid signatures, garbage values, wrong keys and malformed
 * headers. Afterwards: no crash, no unhandled rejection, the honest history is intact, the node's
 * stored bytes stay within its quota and its heap bounded, and it still serves an honest publish.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { lpStream } from 'it-length-prefixed-stream'
import { startCluster, waitFor, type Cluster } from '../../support/cluster.js'
import type { Database, StickyMessage } from '../../src/index.js'
import { blobKey, headKey } from '../../src/sticky/core/keys.js'
import { REPLICA_PROTOCOL, sendReplicaRequest } from '../../src/sticky/replica/replica-protocol.js'
import { ed25519Signer } from '../../src/sticky/core/signing.js'
import { FUZZ_RUNS, FUZZ_SEED, garbage, heapMiB, realize, recordPlan, type FuzzContext } from '../fixtures/sticky-fuzz.js'

const QUOTA = 32 * 1024 * 1024
const TOPIC = 'fuzzed'

describe('fuzz: replica protocol requests', () => {
  let cluster: Cluster
  let nodes: Database[]
  const unhandled: unknown[] = []
  const onUnhandled = (e: unknown): void => { unhandled.push(e) }
  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled)
    cluster = await startCluster(3, { fullMesh: true, extra: { sticky: { pollIntervalMs: 1_000, storageQuotaBytes: QUOTA, storageQuotaPerPeerBytes: QUOTA / 4 } } })
    nodes = cluster.nodes
  })
  afterAll(async () => { process.off('unhandledRejection', onUnhandled); await cluster?.stop() })

  it(`survives ${FUZZ_RUNS} hostile requests with history and service intact`, async () => {
    const [writer, target, attackerNode] = nodes
    const honest = await Promise.all([1, 2, 3, 4, 5].map(async (i) => await writer!.sticky.publish(TOPIC, { honest: i })))
    const ctx: FuzzContext = { db: 'testdb', topic: TOPIC, signer: ed25519Signer(cluster.wallets[2]!.address, cluster.wallets[2]!.secretKey), honestIds: () => [] }
    const current = await writer!.sticky.loadCoordinator(TOPIC)
    ctx.honestIds = () => current.map((h) => h.id)
    const heapBefore = heapMiB()
    const to = target!.libp2p.peerId
    const keyArb = fc.constantFrom('own', 'head', 'random', 'foreign-db', 'malformed')
    const itemArb = fc.record({ plan: recordPlan, raw: fc.option(garbage, { freq: 5 }), key: keyArb })
    let requests = 0
    await fc.assert(fc.asyncProperty(fc.array(itemArb, { minLength: 1, maxLength: 4 }), fc.constantFrom('put', 'get', 'header'), async (specs, op) => {
      requests++
      const items = await Promise.all(specs.map(async (s) => {
        const r = await realize(s.plan, ctx)
        const value = s.raw ?? r.bytes
        const key = s.key === 'head' || (s.key === 'own' && r.kind === 'head') ? headKey('testdb', TOPIC)
          : s.key === 'random' ? blobKey('testdb', 'BBBBBBBBBBBBBBBBBBBBBB')
            : s.key === 'foreign-db' ? blobKey('otherdb', r.id)
              : s.key === 'malformed' ? new TextEncoder().encode('/dps//x')
                : blobKey('testdb', r.id)
        return { key, value }
      }))
      const signal = AbortSignal.timeout(10_000)
      if (op === 'header') {
        const stream = await attackerNode!.libp2p.dialProtocol(to, REPLICA_PROTOCOL, { signal })
        const lp = lpStream(stream)
        await lp.write(items[0]!.value, { signal }).catch(() => {})
        await stream.close().catch(() => { stream.abort(new Error('x')) })
        return
      }
      if (op === 'put') await sendReplicaRequest(attackerNode!.libp2p, to, 'put', items, signal).catch(() => {})
      else await sendReplicaRequest(attackerNode!.libp2p, to, 'get', items.map(({ key }) => ({ key })), signal).catch(() => {})
    }), { numRuns: FUZZ_RUNS, seed: FUZZ_SEED, endOnFailure: true })
    expect(requests).toBe(FUZZ_RUNS)
    // afterwards: the honest history is intact and the node serves an honest publish
    const got: StickyMessage[] = []
    const sub = await target!.sticky.subscribe(TOPIC, { onMessage: (m) => { got.push(m) } })
    const after = await writer!.sticky.publish(TOPIC, { honest: 'after' })
    const expected = [...honest, after].map((a) => a.messageId)
    await waitFor(() => expected.every((id) => got.some((m) => m.messageId === id)), 20_000, 'every honest message')
    await sub.unsubscribe()
    const host = (target as any).host
    expect(host.sticky.datastore.quotaStats.totalBytes).toBeLessThanOrEqual(QUOTA)
    expect(heapMiB() - heapBefore).toBeLessThan(256)
    expect(unhandled).toEqual([])
    console.log(`replica protocol fuzz: ${requests} requests; target stored ${target!.stats().replicaService.stored}, refused ${target!.stats().replicaService.refused} (over quota ${target!.stats().replicaService.overQuota}), malformed ${target!.stats().replicaService.malformed}`)
  }, 30 * 60_000)
})
