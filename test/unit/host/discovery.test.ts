/*
 * Discovery's rounds with a fake clock: the first advertisement waits for the start-up burst of
 * peers to settle; later ones go out when the network grew by half (the same peer ids, however their
 * connections come and go, is no change) or after 16 intervals; lookups back off to 16x while they
 * find nobody; with nobody left to find, lookups stop and growth does not advertise.
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

  it('advertises again only when the peers seen grew by half (looked at every interval) or after 16 intervals', async () => {
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
    // the first round once no new peer came for a third of the interval (the wobble brings back a
    // known peer, no new one), then every 16 intervals
    expect(provides[0]! - start).toBeGreaterThanOrEqual(333)
    expect(provides[0]! - start).toBeLessThan(1_000)
    expect(gaps(0)).toEqual([16_000, 16_000, 16_000, 16_000, 16_000, 16_000])
    let before = provides.length
    const last = provides.at(-1)!
    peers = ['a', 'b', 'c', 'd'] // one newcomer in a settled network: no change
    await vi.advanceTimersByTimeAsync(last + 16_000 * 2 - Date.now())
    expect(gaps(before - 1)).toEqual([16_000, 16_000])
    before = provides.length
    peers = ['a', 'b', 'c', 'd', 'e', 'f', 'g'] // the network grew by more than half of what we knew
    await vi.advanceTimersByTimeAsync(1_000)
    expect(provides).toHaveLength(before + 1)
    expect(provides.at(-1)! - provides.at(-2)!).toBeLessThanOrEqual(1_000)
    await vi.advanceTimersByTimeAsync(15_000) // then unchanged again: the next after 16 intervals
    expect(provides).toHaveLength(before + 1)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(gaps(before)).toEqual([16_000])
    discovery.stop()
  })

  it('sends the first advertisement once the start-up burst of peers is over', async () => {
    const provides: Array<{ at: number, peers: number }> = []
    const peers = new Set(['a'])
    let nothingToFind = false
    /** a Discovery advertising every 30 s that records each provide with the peers connected then */
    const recording = (): Discovery => discoveryWith({
      provide: async () => { provides.push({ at: Date.now(), peers: peers.size }) },
      connectedPeers: () => peers,
      nothingToFind: () => nothingToFind
    }, { advertiseIntervalMs: 30_000 })
    const discovery = recording()
    const start = Date.now()
    discovery.start()
    // a new peer every 3 s for 15 s: nothing goes out while they come; 10 s after the last one, it does
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(3_000)
      peers.add(`p${i}`)
    }
    expect(provides).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(12_000)
    expect(provides).toHaveLength(1)
    expect(provides[0]!.peers).toBe(6)
    expect(provides[0]!.at - start).toBeGreaterThanOrEqual(25_000)
    expect(provides[0]!.at - start).toBeLessThanOrEqual(26_000)
    discovery.stop()

    // peers that keep coming: the first advertisement goes out one interval after readiness at the latest
    provides.length = 0
    let n = 0
    const busy = discoveryWith({
      provide: async () => { provides.push({ at: Date.now(), peers: n }) },
      connectedPeers: () => new Set(Array.from({ length: n }, (_, i) => `q${i}`))
    }, { advertiseIntervalMs: 30_000 })
    const busyStart = Date.now()
    const grow = setInterval(() => { n++ }, 2_000)
    busy.start()
    await vi.advanceTimersByTimeAsync(32_000)
    clearInterval(grow)
    expect(provides).toHaveLength(1)
    expect(provides[0]!.at - busyStart).toBeGreaterThanOrEqual(30_000)
    expect(provides[0]!.at - busyStart).toBeLessThanOrEqual(31_000)
    busy.stop()

    // nobody left to find: at once
    provides.length = 0
    nothingToFind = true
    const done = recording()
    const doneStart = Date.now()
    done.start()
    await vi.advanceTimersByTimeAsync(10)
    expect(provides.map((p) => p.at - doneStart)).toEqual([0])
    done.stop()
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
    // at once, then every 16 s even though the peers doubled in between
    peers = ['a', 'b']
    await vi.advanceTimersByTimeAsync(10_000)
    expect(provides.map((t) => t - provides[0]!)).toEqual([0, 16_000, 32_000, 48_000])
    nothingToFind = false // the registry grew and its newcomers connected: the growth counts at the next look
    peers = ['a', 'b', 'c', 'd']
    await vi.advanceTimersByTimeAsync(20_000)
    expect(provides.slice(4).map((t) => t - provides[0]!)).toEqual([51_000, 67_000])
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

  it('lookups double their interval up to 16x while they dial nobody, and start over when they dial someone', async () => {
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
    await vi.advanceTimersByTimeAsync(80_000)
    const at = (from: number): number[] => lookups.slice(from).map((t) => t - lookups[from]!)
    expect(at(0)).toEqual([0, 2_000, 6_000, 14_000, 30_000, 46_000, 62_000, 78_000])
    const before = lookups.length
    offer = ['x'] // a provider we are not connected to: dialed, so the next lookup comes after the base interval
    await vi.advanceTimersByTimeAsync(16_000 + 1_000 + 2_000)
    expect(at(before - 1).slice(1, 4)).toEqual([16_000, 17_000, 19_000])
    discovery.stop()
  })
})
