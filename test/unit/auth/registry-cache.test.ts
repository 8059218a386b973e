import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Keypair } from '@solana/web3.js'
import { AuthorizedWalletCache } from '../../../src/auth/registry-cache.js'
import { silentLogger } from '../../../src/logger.js'

const addr = (): string => Keypair.generate().publicKey.toBase58()

function setup (opts: Partial<{ refreshIntervalMs: number, timeoutMs: number, missIntervalMs: number }> = {}) {
  const state = { wallets: [] as unknown[], calls: 0, fail: false, delayMs: 0, hang: false }
  const cache = new AuthorizedWalletCache({
    logger: silentLogger,
    fetch: async () => {
      state.calls++
      if (state.hang) return await new Promise<never>(() => {})
      if (state.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.delayMs))
      if (state.fail) throw new Error('rpc down')
      return [...state.wallets] as string[]
    }
  }, { refreshIntervalMs: 30_000, timeoutMs: 10_000, missIntervalMs: 2_000, ...opts })
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
})
