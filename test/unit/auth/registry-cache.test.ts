import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Keypair } from '@solana/web3.js'
import { AuthorizedWalletCache } from '../../../src/auth/registry-cache.js'
import { silentLogger } from '../../../src/logger.js'
import { normalizeWalletAddress } from '../../../src/identity.js'
import { randomBytes } from 'node:crypto'
import bs58 from 'bs58'

const addr = (): string => Keypair.generate().publicKey.toBase58()

function setup (opts: Partial<{ refreshIntervalMs: number, timeoutMs: number, missIntervalMs: number, maxShrinkFraction: number }> = {}) {
  const state = { wallets: [] as unknown[], calls: 0, fail: false, delayMs: 0, hang: false, raw: undefined as unknown }
  const cache = new AuthorizedWalletCache({
    logger: silentLogger,
    fetch: async () => {
      state.calls++
      if (state.hang) return await new Promise<never>(() => {})
      if (state.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.delayMs))
      if (state.fail) throw new Error('rpc down')
      return (state.raw !== undefined ? state.raw : [...state.wallets]) as string[]
    }
  }, { refreshIntervalMs: 30_000, timeoutMs: 10_000, missIntervalMs: 2_000, maxShrinkFraction: 0.5, ...opts })
  return { cache, state }
}

describe('authorized wallet cache', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('loads at start and refreshes in the background on the interval', async () => {
    const { cache, state } = setup()
    const a = addr(); const b = addr()
    state.wallets = [a]
    await cache.start()
    expect(cache.has(a)).toBe(true)
    state.wallets = [a, b]
    await vi.advanceTimersByTimeAsync(29_999)
    expect(cache.has(b)).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(cache.has(b)).toBe(true)
    expect(state.calls).toBe(2)
    cache.stop()
  })

  it('accepts PublicKey objects and skips invalid entries', async () => {
    const { cache, state } = setup()
    const kp = Keypair.generate()
    state.wallets = [kp.publicKey, 'not-a-wallet', 12, addr()]
    await cache.start()
    expect(cache.has(kp.publicKey.toBase58())).toBe(true)
    expect(cache.size).toBe(2)
    expect(cache.stats.invalidEntries).toBe(2)
    cache.stop()
  })

  it('answers a miss with one registry call shared by concurrent misses', async () => {
    const { cache, state } = setup()
    await cache.start()
    const late = addr()
    state.wallets = [late]
    state.delayMs = 100
    const answers = Promise.all([cache.checkMiss(late), cache.checkMiss(late), cache.checkMiss(addr()), cache.checkMiss(late)])
    await vi.advanceTimersByTimeAsync(100)
    expect(await answers).toEqual([true, true, false, true])
    expect(state.calls).toBe(2) // start + one coalesced miss call
    cache.stop()
  })

  it('rate-limits miss-driven registry calls so a flood of unknown peers cannot hammer the registry', async () => {
    const { cache, state } = setup({ missIntervalMs: 2_000 })
    await cache.start()
    for (let i = 0; i < 50; i++) expect(await cache.checkMiss(addr())).toBe(false)
    expect(state.calls).toBe(2)
    expect(cache.stats.missesRateLimited).toBe(49)
    await vi.advanceTimersByTimeAsync(2_000)
    await cache.checkMiss(addr())
    expect(state.calls).toBe(3)
    cache.stop()
  })

  it('keeps the last good set when the registry errors, and denies unknown wallets', async () => {
    const { cache, state } = setup()
    const a = addr()
    state.wallets = [a]
    await cache.start()
    state.fail = true
    await vi.advanceTimersByTimeAsync(30_000)
    expect(cache.stats.errors).toBe(1)
    expect(cache.has(a)).toBe(true)
    expect(await cache.checkMiss(addr())).toBe(false)
    cache.stop()
  })

  it('times out a hanging registry call, keeping the last good set', async () => {
    const { cache, state } = setup({ timeoutMs: 1_000 })
    const a = addr()
    state.wallets = [a]
    await cache.start()
    state.hang = true
    const miss = cache.checkMiss(addr())
    await vi.advanceTimersByTimeAsync(1_000)
    expect(await miss).toBe(false)
    expect(cache.stats.errors).toBe(1)
    expect(cache.has(a)).toBe(true)
    cache.stop()
  })

  it('tells listeners about each refresh so revoked wallets can be disconnected', async () => {
    const { cache, state } = setup()
    const a = addr(); const b = addr()
    state.wallets = [a, b]
    await cache.start()
    const seen: Array<ReadonlySet<string>> = []
    cache.onRefresh((set) => seen.push(set))
    state.wallets = [a]
    await vi.advanceTimersByTimeAsync(30_000)
    expect(seen).toHaveLength(1)
    expect(seen[0]!.has(b)).toBe(false)
    expect(cache.has(b)).toBe(false)
    cache.stop()
  })

  it('stops refreshing after stop()', async () => {
    const { cache, state } = setup()
    await cache.start()
    cache.stop()
    await vi.advanceTimersByTimeAsync(120_000)
    expect(state.calls).toBe(1)
    expect(await cache.checkMiss(addr())).toBe(false)
  })

  it.each([
    ['a string', 'not a list'], ['a Map', new Map([['k', 'v']])], ['null', null], ['a number', 42], ['an object', { wallets: [] }],
    ['a typed array', new Uint8Array(32)], ['a list of nothing but invalid entries', ['x', 1, {}]]
  ])('treats %s from the registry as an error and keeps the last good set', async (_what, garbage) => {
    const { cache, state } = setup()
    const a = addr()
    state.wallets = [a]
    await cache.start()
    state.raw = garbage
    await vi.advanceTimersByTimeAsync(30_000)
    expect(cache.has(a)).toBe(true)
    expect(cache.stats.errors).toBe(1)
    cache.stop()
  })

  it('holds back a shrink of more than half the set until a second read confirms it; smaller removals apply at once', async () => {
    const { cache, state } = setup({ missIntervalMs: 2_000 })
    const all = Array.from({ length: 10 }, addr)
    state.wallets = all
    await cache.start()
    const seen: number[] = []
    cache.onRefresh((set) => seen.push(set.size))
    // 4 of 10 removed: under the threshold, applied at once
    state.wallets = all.slice(4)
    await vi.advanceTimersByTimeAsync(30_000)
    expect(cache.size).toBe(6)
    expect(cache.has(all[0]!)).toBe(false)
    // the registry answers an empty list (an RPC node that lost its index): held back
    state.wallets = []
    await vi.advanceTimersByTimeAsync(30_000)
    expect(cache.size).toBe(6)
    expect(cache.stats.shrinksHeld).toBe(1)
    // a second read a moment later that says the same confirms it
    const callsBefore = state.calls
    await vi.advanceTimersByTimeAsync(2_000)
    expect(state.calls).toBe(callsBefore + 1)
    expect(cache.size).toBe(0)
    expect(seen).toEqual([6, 0])
    cache.stop()
  })

  it('drops a held-back shrink when the second read shows the set back', async () => {
    const { cache, state } = setup({ missIntervalMs: 2_000 })
    const all = Array.from({ length: 10 }, addr)
    const extra = addr()
    state.wallets = all
    await cache.start()
    state.wallets = [all[0]!, extra]
    await vi.advanceTimersByTimeAsync(30_000)
    expect(cache.size).toBe(11) // additions apply at once, the removals wait
    expect(cache.has(extra)).toBe(true)
    state.wallets = [...all, extra]
    await vi.advanceTimersByTimeAsync(2_000)
    expect(cache.size).toBe(11)
    // the next unrelated big shrink is held back again (the earlier one does not count as confirmation)
    state.wallets = [extra]
    await vi.advanceTimersByTimeAsync(28_000)
    expect(cache.size).toBe(11)
    expect(cache.stats.shrinksHeld).toBe(2)
    cache.stop()
  })

  it('a second read confirms only the removals it agrees with; a further big shrink is held again', async () => {
    const { cache, state } = setup({ missIntervalMs: 2_000 })
    const honest = [addr(), addr()]
    const extra = Array.from({ length: 10 }, addr)
    state.wallets = honest
    await cache.start()
    state.wallets = [...honest, ...extra]        // grows: applied
    await vi.advanceTimersByTimeAsync(30_000)
    state.wallets = honest                       // 10 of 12 removed: held
    await vi.advanceTimersByTimeAsync(30_000)
    expect(cache.size).toBe(12)
    state.wallets = []                           // confirms the 10, but removing the last 2 is a new big shrink
    await vi.advanceTimersByTimeAsync(2_000)
    expect(cache.size).toBe(2)
    expect(honest.every((w) => cache.has(w))).toBe(true)
    expect(cache.stats.shrinksHeld).toBe(2)
    cache.stop()
  })

  it('lets maxShrinkFraction 1 apply every shrink at once', async () => {
    const { cache, state } = setup({ maxShrinkFraction: 1 })
    state.wallets = [addr(), addr()]
    await cache.start()
    state.wallets = []
    await vi.advanceTimersByTimeAsync(30_000)
    expect(cache.size).toBe(0)
    cache.stop()
  })
})

describe('authorized wallet cache: hostile sizes', () => {
  it('refuses an absurdly long entry without quadratic base58 decoding', () => {
    const started = performance.now()
    expect(() => normalizeWalletAddress('2'.repeat(5_000_000))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_WALLET', message: expect.stringMatching(/too long/) }))
    // 5 MB of base58 decoded quadratically is hours of work; refused by length it is a few ms
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it('reads a 100,000-entry registry in slices, letting the event loop run in between', async () => {
    const wallets = Array.from({ length: 100_000 }, () => bs58.encode(randomBytes(32)))
    const cache = new AuthorizedWalletCache({ logger: silentLogger, fetch: async () => wallets },
      { refreshIntervalMs: 60_000, timeoutMs: 60_000, missIntervalMs: 2_000, maxShrinkFraction: 0.5 })
    let ticks = 0
    let last = performance.now()
    let maxGap = 0
    const probe = setInterval(() => { const now = performance.now(); maxGap = Math.max(maxGap, now - last); last = now; ticks++ }, 1)
    const started = performance.now()
    await cache.start()
    const took = performance.now() - started
    clearInterval(probe)
    cache.stop()
    expect(cache.size).toBe(100_000)
    // structural, not a speed assertion: the work was cut into slices and timers ran between them
    expect(ticks).toBeGreaterThanOrEqual(10)
    console.log(`100k registry: refresh ${took.toFixed(0)} ms, ${ticks} timer ticks in between, longest event-loop block ${maxGap.toFixed(1)} ms`)
  })

  it('swaps sets atomically: a reader between two slices sees the old set or the new one, never part of one (load, held shrink, confirmed shrink)', async () => {
    const n = 30_000
    const wallets = Array.from({ length: n }, () => bs58.encode(randomBytes(32)))
    let answer: string[] = wallets.slice(0, n / 3)
    const cache = new AuthorizedWalletCache({ logger: silentLogger, fetch: async () => answer },
      { refreshIntervalMs: 3_600_000, timeoutMs: 60_000, missIntervalMs: 3_600_000, maxShrinkFraction: 0.5 })
    await cache.start()
    // reads the cache at every turn of the event loop while `work` runs; returns the sizes seen and the turns
    const watch = async (work: () => Promise<void>): Promise<{ sizes: Set<number>, turns: number }> => {
      const sizes = new Set<number>()
      let turns = 0
      let running = true
      const look = (): void => {
        if (!running) return
        turns++
        sizes.add(cache.size)
        // membership agrees with the size: the last wallet of the grown list is in exactly the grown sets
        expect(cache.has(wallets[n - 1]!)).toBe(cache.size >= n)
        setImmediate(look)
      }
      setImmediate(look)
      await work()
      running = false
      sizes.add(cache.size)
      return { sizes, turns }
    }
    // grows from 10,000 to 30,000: every entry is new, so all are decoded over many slices
    answer = wallets
    const load = await watch(async () => { await cache.refresh('grow') })
    expect(load.turns).toBeGreaterThan(3)
    const sorted = (sizes: Set<number>): number[] => [...sizes].sort((a, b) => a - b)
    expect(sorted(load.sizes)).toEqual([n / 3, n])
    expect(wallets.every((w) => cache.has(w))).toBe(true)
    // shrinks to 3,000 plus 1,000 new: held back (additions apply, removals wait)
    const fresh = Array.from({ length: 1_000 }, () => bs58.encode(randomBytes(32)))
    answer = [...wallets.slice(0, 3_000), ...fresh]
    const held = await watch(async () => { await cache.refresh('shrink') })
    expect(cache.stats.shrinksHeld).toBe(1)
    expect(sorted(held.sizes)).toEqual([n, n + 1_000])
    // the confirming read applies the removals
    const confirmed = await watch(async () => { await cache.refresh('confirm shrink') })
    expect(sorted(confirmed.sizes)).toEqual([4_000, n + 1_000])
    expect(answer.every((w) => cache.has(w))).toBe(true)
    expect(cache.has(wallets[3_000]!)).toBe(false)
    cache.stop()
  })
})
