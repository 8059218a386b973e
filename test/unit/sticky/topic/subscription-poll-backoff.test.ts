/*
 * A quiet topic is polled less and less often (the wait doubles up to 8x pollIntervalMs), also when
 * its sibling heads are spread over the replicas and each poll hears a different majority of them:
 * a sibling one poll missed is not new to the next (fake clock).
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { StickySubscription } from '../../../../src/sticky/topic/subscription.js'
import { silentLogger } from '../../../../src/logger.js'

const head = (id: string): any => ({ id, head: { version: 7, messages: null, state: 'ACTIVE' } })

describe('sticky subscription polling', () => {
  afterEach(() => { vi.useRealTimers() })

  it('backs off on a quiet topic whose polls each hear two of three sibling heads', async () => {
    vi.useFakeTimers()
    let reads = 0
    // three siblings of one version; replicas answer with two of them, a different pair each time
    const pairs = [[head('a'), head('b')], [head('a'), head('c')], [head('b'), head('c')]]
    const sub = new StickySubscription({
      store: { readHeads: async () => pairs[reads++ % pairs.length], isPublisher: () => true, getBlob: async () => null } as any,
      loader: { currentHeads: (h: unknown) => h, loadPages: async () => [], idOf: (m: any) => m.id } as any,
      topic: 't',
      onMessage: () => {},
      logger: silentLogger,
      onClose: async () => {},
      renew: async () => ({ expiresAt: 0 })
    }, { receiveHistory: true, lastSeenVersion: null, pollIntervalMs: 1_000, ttlMs: 3_600_000, expiresAt: Date.now() + 3_600_000, autoRenew: false, renewAtFraction: 0.8 })
    await sub.start()
    const afterStart = reads
    await vi.advanceTimersByTimeAsync(120_000)
    // after the first polls have heard all three, the wait grows to 8 s: about 120 / 8 polls, not 120 / 1
    expect(reads - afterStart).toBeLessThanOrEqual(20)
    expect(reads - afterStart).toBeGreaterThanOrEqual(12)
    await sub.unsubscribe()
  })
})
