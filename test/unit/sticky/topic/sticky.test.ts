/*
 * The db.sticky facade on a single node with no replicas (writeQuorum 1): a bad `ttlMs` in
 * publish() is refused with a ConfigError naming the field, for that call only; a publish queued
 * beside it in the same batch window still commits. A wallet the registry cache does not list yet
 * is asked about before a publish is refused.
 */
import { describe, expect, it } from 'vitest'
import { LIMITS } from '../../../../src/sticky/core/records.js'
import { ConfigError } from '../../../../src/errors.js'
import type { StickyPubSub } from '../../../../src/sticky/topic/sticky.js'
import { loneSticky } from '../../../fixtures/lone-sticky.js'

function loneNode (): StickyPubSub {
  const sticky = loneSticky(undefined, { writeQuorum: 1, flushDelayMs: 20 })
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

describe('db.sticky.publish authorization', () => {
  it('asks the registry about its own wallet before refusing (added after the last refresh); refuses when the registry says no', async () => {
    // the cache learns the wallet only once the registry is asked (registry-cache.ts checkMiss refreshes it)
    let listed = false
    let asked = 0
    const added = loneSticky(undefined, { writeQuorum: 1, flushDelayMs: 20 }, {
      policy: { servesDatabase: () => true, isAuthorized: () => listed },
      mayWriteChecked: async () => { asked++; listed = true; return true }
    })
    added.peersChanged()
    await expect(added.publish('jobs', { n: 1 })).resolves.toMatchObject({ version: 1 })
    expect(asked).toBe(1)
    await added.close()

    const absent = loneSticky(undefined, { writeQuorum: 1, flushDelayMs: 20 }, {
      policy: { servesDatabase: () => true, isAuthorized: () => false },
      mayWriteChecked: async () => false
    })
    await expect(absent.publish('jobs', { n: 1 })).rejects.toMatchObject({ code: 'ERR_NOT_AUTHORIZED' })
    await absent.close()
  })
})
