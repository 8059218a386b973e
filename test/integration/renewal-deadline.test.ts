/*
 * A renewal stream that never finishes its request (a slow-loris on the renewal protocol) is cut off
 * after the serving deadline instead of holding the stream and its handler forever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { startCluster, type Cluster } from '../../support/cluster.js'
import { RenewalService, RENEWAL_PROTOCOL } from '../../src/sticky/topic/renewal-service.js'
import { silentLogger } from '../../src/logger.js'

describe('renewal stream deadline', () => {
  let cluster: Cluster
  beforeAll(async () => { cluster = await startCluster(2) })
  afterAll(async () => { await cluster?.stop() })

  it('resets a renewal stream whose request never ends', async () => {
    const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const service = new RenewalService(a.libp2p as any, 'slowloris', async () => ({ ok: false, error: 'unused' }), silentLogger, 500)
    await service.start()
    try {
      const stream = await b.libp2p.dialProtocol(peerIdFromString(a.peerId), `${RENEWAL_PROTOCOL}/slowloris`)
      void stream.sink((async function * () { yield new TextEncoder().encode('{"v":1,'); await new Promise(() => {}) })())
      const ended = (async () => { try { for await (const _ of stream.source) { /* nothing */ } } catch {} return 'closed' })()
      const outcome = await Promise.race([ended, new Promise((resolve) => setTimeout(() => { resolve('still open') }, 5_000))])
      expect(outcome).toBe('closed')
      expect(service.malformed + service.timedOut).toBeGreaterThanOrEqual(1)
      stream.abort(new Error('test done'))
    } finally {
      await service.stop()
    }
  })
})
