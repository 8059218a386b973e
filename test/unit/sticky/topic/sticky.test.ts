/*
 * The db.sticky facade on a single node with no replicas (writeQuorum 1): a bad `ttlMs` in
 * publish() is refused with a ConfigError naming the field, for that call only; a publish queued
 * beside it in the same batch window still commits.
 */
import { describe, expect, it } from 'vitest'
import { MemoryDatastore } from 'datastore-core'
import { Keypair } from '@solana/web3.js'
import { createStickyPubSub } from '../../../../src/sticky/topic/create-sticky.js'
import { STICKY_DEFAULTS } from '../../../../src/sticky/options.js'
import { MergingDatastore } from '../../../../src/sticky/replica/merging-datastore.js'
import { ComponentLogger, silentLogger } from '../../../../src/logger.js'
import { ed25519Signer } from '../../../../src/sticky/core/signing.js'
import { LIMITS } from '../../../../src/sticky/core/records.js'
import { ConfigError } from '../../../../src/errors.js'
import type { StickyPubSub } from '../../../../src/sticky/topic/sticky.js'

function loneNode (): StickyPubSub {
  const kp = Keypair.generate()
  // no replica-capable peer anywhere: commits are held by this node alone
  const noPeers = { closestPeers: async () => [], put: async () => {}, get: async () => undefined, isConnected: () => false, knownPeers: () => [] }
  const sticky = createStickyPubSub({
    db: 'testdb',
    net: noPeers,
    datastore: new MergingDatastore(new MemoryDatastore()),
    pubsub: { getSubscribers: () => [], publish: async () => {} } as any,
    router: {} as any,
    signer: ed25519Signer(kp.publicKey.toBase58(), kp.secretKey),
    selfPeerId: 'self',
    policy: { servesDatabase: () => true, isAuthorized: () => true },
    replicaPeers: () => 0,
    renewalNet: { unhandle: async () => {} } as any,
    logger: new ComponentLogger(silentLogger)
  }, { ...STICKY_DEFAULTS, writeQuorum: 1, flushDelayMs: 20 })
  sticky.peersChanged()
  return sticky
}

describe('db.sticky.publish ttlMs', () => {
  it.each([0, -5, 1.5, Number.NaN, '60000', LIMITS.MAX_TTL_MS + 1])('refuses ttlMs %j with a ConfigError naming ttlMs; a publish beside it commits', async (ttlMs) => {
    const sticky = loneNode()
    const good = sticky.publish('jobs', { n: 1 }, { ttlMs: 60_000 })
    const bad = sticky.publish('jobs', { n: 2 }, { ttlMs: ttlMs as number })
    await expect(bad).rejects.toBeInstanceOf(ConfigError)
    await expect(bad).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG', field: 'ttlMs' })
    await expect(good).resolves.toMatchObject({ version: 1, publisherSequence: 1 })
    await sticky.close()
  })
})
