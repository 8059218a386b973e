/*
 * Discovery's rounds with a fake clock: advertising backs off while the network does not change
 * and returns to its base interval when a new peer connects.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Discovery } from '../../../src/host/discovery.js'
import { silentLogger } from '../../../src/logger.js'

describe('discovery rounds', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('advertising doubles its interval up to 16x while no peer connects, and starts over when one does', async () => {
    const provides: number[] = []
    let connections = 3
    const discovery = new Discovery({
      provide: async () => { provides.push(Date.now()) },
      findProviders: async function * () {},
      wantsPeer: () => false,
      dial: async () => {},
      connectionCount: () => connections,
      nothingToFind: () => false,
      isReady: () => true,
      logger: silentLogger
    }, { databaseName: 'db', advertiseIntervalMs: 1_000, lookupIntervalMs: 60_000_000, maxDialsPerRound: 5, lowConnections: 100, roundTimeoutMs: 500 })
    const start = Date.now()
    discovery.start()
    await vi.advanceTimersByTimeAsync(100_000)
    const gaps = (from: number): number[] => provides.slice(from + 1).map((t, i) => t - provides[from + i]!)
    // first round at once, then 1 s (the first repeat of an unchanged network doubles: 2 s), 4, 8, 16, 16...
    expect(provides[0]).toBe(start)
    expect(gaps(0).slice(0, 7)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 16_000, 16_000])
    const before = provides.length
    connections = 4 // a new peer
    await vi.advanceTimersByTimeAsync(16_000) // the round already scheduled
    await vi.advanceTimersByTimeAsync(1_000 + 2_000)
    expect(gaps(before - 1).slice(1, 3)).toEqual([1_000, 2_000])
    discovery.stop()
  })

  it('skips lookups while there is nobody left to find, and looks up again once there is', async () => {
    const lookups: number[] = []
    let nothingToFind = false
    const discovery = new Discovery({
      provide: async () => {},
      findProviders: async function * () { lookups.push(Date.now()) },
      wantsPeer: () => false,
      dial: async () => {},
      connectionCount: () => 3,
      nothingToFind: () => nothingToFind,
      isReady: () => true,
      logger: silentLogger
    }, { databaseName: 'db', advertiseIntervalMs: 60_000_000, lookupIntervalMs: 1_000, maxDialsPerRound: 5, lowConnections: 100, roundTimeoutMs: 500 })
    discovery.start()
    await vi.advanceTimersByTimeAsync(10)
    expect(lookups).toHaveLength(1)
    nothingToFind = true
    await vi.advanceTimersByTimeAsync(20_000)
    expect(lookups).toHaveLength(1)
    expect(discovery.rounds.skipped).toBeGreaterThanOrEqual(10)
    nothingToFind = false // a wallet joined the registry (or a peer left)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(lookups).toHaveLength(2)
    discovery.stop()
  })
})
