/*
 * Auto-renewal timing on a fake clock: a subscription renews at renewAtFraction of its TTL, keeps
 * renewing, retries after a failure, and reports 'expired' when the entry lapses without renewal.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { StickySubscription, type SubscriptionOptions } from '../../../../src/sticky/topic/subscription.js'
import { silentLogger } from '../../../../src/logger.js'

function subscription (renew: (ttl: number) => Promise<{ expiresAt: number }>, over: Partial<SubscriptionOptions> = {}): StickySubscription {
  return new StickySubscription({
    store: {} as any,
    loader: {} as any,
    topic: 't',
    onMessage: () => {},
    logger: silentLogger,
    onClose: async () => {},
    renew
  }, { receiveHistory: true, lastSeenVersion: null, pollIntervalMs: 1_000_000, ttlMs: 1_000, expiresAt: Date.now() + 1_000, autoRenew: true, renewAtFraction: 0.8, ...over })
}

describe('subscription auto-renewal (fake clock)', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('renews at 80 % of the TTL, again after each renewal, and never expires while renewals succeed', async () => {
    const calls: number[] = []
    const sub = subscription(async (ttl) => { calls.push(Date.now()); return { expiresAt: Date.now() + ttl } })
    const expired: unknown[] = []
    sub.on('expired', (e) => { expired.push(e) })
    const start = Date.now()
    ;(sub as any).scheduleRenewal(1_000)
    await vi.advanceTimersByTimeAsync(790)
    expect(calls).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(20)
    expect(calls).toEqual([start + 800])
    await vi.advanceTimersByTimeAsync(800)
    expect(calls).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(calls.length).toBeGreaterThanOrEqual(13)
    expect(expired).toEqual([])
    await sub.unsubscribe()
    const n = calls.length
    await vi.advanceTimersByTimeAsync(10_000)
    expect(calls).toHaveLength(n) // stops when unsubscribed
  })

  it('with autoRenew off the entry expires and says so', async () => {
    const sub = subscription(async () => { throw new Error('unused') }, { autoRenew: false })
    const expired: unknown[] = []
    sub.on('expired', (e) => { expired.push(e) })
    ;(sub as any).scheduleRenewal(1_000)
    await vi.advanceTimersByTimeAsync(1_005)
    expect(expired).toEqual([])
    await vi.advanceTimersByTimeAsync(10)
    expect(expired).toHaveLength(1)
  })

  it('a failed renewal is retried and reported; success afterwards keeps the subscription alive', async () => {
    let fail = true
    const sub = subscription(async (ttl) => {
      if (fail) throw new Error('no serving node')
      return { expiresAt: Date.now() + ttl }
    }, { ttlMs: 100_000, expiresAt: Date.now() + 100_000 })
    const failures: unknown[] = []
    const renewed: unknown[] = []
    sub.on('renew-failed', (e) => { failures.push(e) })
    sub.on('renewed', (e) => { renewed.push(e) })
    ;(sub as any).scheduleRenewal(100_000)
    await vi.advanceTimersByTimeAsync(80_000)
    expect(failures).toHaveLength(1)
    fail = false
    await vi.advanceTimersByTimeAsync(5_000) // retry after max(1 s, min(30 s, 20 s left / 4))
    expect(renewed).toHaveLength(1)
    expect(sub.expiresAt).toBeGreaterThan(Date.now() + 90_000)
    await sub.unsubscribe()
  })
})

describe('subscription gap tracking', () => {
  it('reports a gap in a publisher\'s sequence and "recovered" once the missing messages arrive', () => {
    const sub = new StickySubscription({
      store: { readHeads: async () => { throw new Error('offline') } } as any,
      loader: { idOf: (m: { publisher: string, seq: number }) => `${m.publisher}-${m.seq}` } as any,
      topic: 't',
      onMessage: () => {},
      logger: silentLogger,
      onClose: async () => {},
      renew: async () => ({ expiresAt: 0 })
    }, { receiveHistory: true, lastSeenVersion: null, pollIntervalMs: 1_000_000, ttlMs: 1_000, expiresAt: 0, autoRenew: false, renewAtFraction: 0.8 })
    const events: string[] = []
    sub.on('gap-detected', () => { events.push('gap') })
    sub.on('recovered', (e: { from: string }) => { events.push(`recovered:${e.from}`) })
    const entry = (publisher: string, seq: number): any => ({ m: { publisher, seq, topic: 't', data: seq, publishedAt: seq, expiresAt: Date.now() + 60_000 }, v: 1 })
    ;(sub as any).deliver([entry('A', 5), entry('A', 6), entry('B', 1)])
    expect(events).toEqual([])
    ;(sub as any).deliver([entry('A', 9)]) // 7 and 8 missing
    expect(events).toEqual(['gap'])
    ;(sub as any).deliver([entry('A', 8)])
    expect(events).toEqual(['gap'])
    ;(sub as any).deliver([entry('A', 7), entry('A', 3)]) // the hole closes; an older message changes nothing
    expect(events).toEqual(['gap', 'recovered:gap'])
    expect(sub.stats.gaps).toBe(1)
    expect(sub.stats.delivered).toBe(7)
  })
})
