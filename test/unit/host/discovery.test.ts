/*
 * Discovery's rounds with a fake clock: advertising backs off while the network does not change
 * (the same peer ids, however their connections come and go) and returns to its base interval when
 * the network grows by half; lookups back off to 4x while they find nobody; with nobody left to find,
 * lookups stop and advertising waits the full backoff.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Discovery, type DiscoveryDeps, type DiscoveryOptions } from '../../../src/host/discovery.js'
import { silentLogger } from '../../../src/logger.js'

/** A Discovery whose deps do nothing unless overridden; rounds an hour apart unless given. */
function discoveryWith (deps: Partial<DiscoveryDeps>, options: Partial<DiscoveryOptions> = {}): Discovery {
  return new Discovery({
    provide: async () => {},
    findProviders: async function * () {},
    wantsPeer: () => false,
    dial: async () => {},
    connectedPeers: () => new Set(),
    nothingToFind: () => false,
    isReady: () => true,
    logger: silentLogger,
    ...deps
  }, { databaseName: 'db', advertiseIntervalMs: 3_600_000, lookupIntervalMs: 3_600_000, maxDialsPerRound: 5, lowConnections: 100, roundTimeoutMs: 500, ...options })
}

describe('discovery rounds', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('advertising doubles its interval up to 16x while the network does not grow, and starts over when it grows by half', async () => {
    const provides: number[] = []
    let peers = ['a', 'b', 'c']
    const discovery = discoveryWith({
      provide: async () => { provides.push(Date.now()) },
      connectedPeers: () => new Set(peers)
    }, { advertiseIntervalMs: 1_000 })
    const start = Date.now()
    discovery.start()
    // peers leaving and coming back between rounds (a connection closing, a reconnect) is no change
    const wobble = setInterval(() => { peers = peers.length === 3 ? ['a', 'b'] : ['a', 'b', 'c'] }, 700)
    await vi.advanceTimersByTimeAsync(100_000)
    clearInterval(wobble)
    peers = ['a', 'b', 'c']
    const gaps = (from: number): number[] => provides.slice(from + 1).map((t, i) => t - provides[from + i]!)
    // first round at once, then 1 s (the first repeat of an unchanged network doubles: 2 s), 4, 8, 16, 16...
    expect(provides[0]).toBe(start)
    expect(gaps(0).slice(0, 7)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 16_000, 16_000])
    let before = provides.length
    peers = ['a', 'b', 'c', 'd'] // one newcomer in a settled network: no change
    await vi.advanceTimersByTimeAsync(16_000 * 2)
    expect(gaps(before - 1)).toEqual([16_000, 16_000])
    before = provides.length
    peers = ['a', 'b', 'c', 'd', 'e', 'f', 'g'] // the network grew by more than half of what we knew
    await vi.advanceTimersByTimeAsync(16_000) // the round already scheduled
    await vi.advanceTimersByTimeAsync(1_000 + 2_000)
    expect(gaps(before - 1).slice(1, 3)).toEqual([1_000, 2_000])
    discovery.stop()
  })

  it('skips lookups while there is nobody left to find, and looks up again once there is', async () => {
    const lookups: number[] = []
    let nothingToFind = false
    const discovery = discoveryWith({
      findProviders: async function * () { lookups.push(Date.now()) },
      connectedPeers: () => new Set(['a', 'b', 'c']),
      nothingToFind: () => nothingToFind
    }, { lookupIntervalMs: 1_000 })
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

  it('advertises at the full backoff while every registry wallet is connected', async () => {
    const provides: number[] = []
    let nothingToFind = true
    let peers = ['a']
    const discovery = discoveryWith({
      provide: async () => { provides.push(Date.now()) },
      connectedPeers: () => new Set(peers),
      nothingToFind: () => nothingToFind
    }, { advertiseIntervalMs: 1_000 })
    discovery.start()
    await vi.advanceTimersByTimeAsync(40_000)
    // at once, then every 16 s even though a peer connects in between
    peers = ['a', 'b']
    await vi.advanceTimersByTimeAsync(10_000)
    expect(provides.map((t) => t - provides[0]!)).toEqual([0, 16_000, 32_000, 48_000])
    nothingToFind = false // the registry grew and its newcomers connected: back to the base interval
    peers = ['a', 'b', 'c', 'd']
    await vi.advanceTimersByTimeAsync(20_000)
    expect(provides.slice(4).map((t) => t - provides[0]!)).toEqual([64_000, 65_000, 67_000])
    discovery.stop()
  })

  it('stops dialing discovered peers at the peer target, counted in peers rather than connections', async () => {
    const dialed: string[] = []
    const peers = new Set(['a'])
    const discovery = discoveryWith({
      findProviders: async function * () { for (const id of ['x', 'y', 'z']) yield { id, multiaddrs: [] } },
      wantsPeer: (id) => !peers.has(id),
      dial: async (p) => { dialed.push(p.id.toString()); peers.add(p.id.toString()) },
      connectedPeers: () => peers
    }, { lowConnections: 3 })
    expect(await discovery.lookup(new AbortController().signal)).toBe(2)
    expect(dialed).toEqual(['x', 'y'])
  })

  it('lookups double their interval up to 4x while they dial nobody, and start over when they dial someone', async () => {
    const lookups: number[] = []
    let offer: string[] = []
    const peers = new Set<string>()
    const discovery = discoveryWith({
      findProviders: async function * () { lookups.push(Date.now()); for (const id of offer) yield { id, multiaddrs: [] } },
      wantsPeer: (id) => !peers.has(id),
      dial: async (p) => { peers.add(p.id.toString()) },
      connectedPeers: () => peers
    }, { lookupIntervalMs: 1_000 })
    discovery.start()
    await vi.advanceTimersByTimeAsync(20_000)
    const at = (from: number): number[] => lookups.slice(from).map((t) => t - lookups[from]!)
    expect(at(0).slice(0, 6)).toEqual([0, 2_000, 6_000, 10_000, 14_000, 18_000])
    const before = lookups.length
    offer = ['x'] // a provider we are not connected to: dialed, so the next lookup comes after the base interval
    await vi.advanceTimersByTimeAsync(4_000 + 1_000 + 2_000)
    expect(at(before - 1).slice(1, 4)).toEqual([4_000, 5_000, 7_000])
    discovery.stop()
  })
})
