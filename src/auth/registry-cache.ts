/*
 * Authorized-wallet cache for one database. The registry callback is slow and remote (an on-chain
 * read), so the gater answers from this cache; it refreshes in the background, and an unknown
 * wallet (a miss) triggers at most one extra registry call, shared by all concurrent misses and
 * rate-limited, so a flood of unknown peers cannot hammer the registry. A registry error or timeout
 * keeps the last good set (unknown peers stay denied). Pure: no libp2p imports.
 */
import { normalizeWalletAddress, type WalletLike } from '../identity.js'
import type { Logger } from '../logger.js'
import { withDeadline } from '../abort.js'

export interface RegistryCacheOptions {
  /** @default 30_000 (see config.ts) */
  refreshIntervalMs: number
  timeoutMs: number
  /** minimum time between two miss-driven registry calls */
  missIntervalMs: number
}

export interface RegistryCacheStats {
  refreshes: number
  errors: number
  missCalls: number
  missesRateLimited: number
  invalidEntries: number
  lastDurationMs: number
  lastSuccessAt: number
}

export type RefreshListener = (wallets: ReadonlySet<string>) => void

export class AuthorizedWalletCache {
  readonly stats: RegistryCacheStats = { refreshes: 0, errors: 0, missCalls: 0, missesRateLimited: 0, invalidEntries: 0, lastDurationMs: 0, lastSuccessAt: 0 }
  private wallets: ReadonlySet<string> = new Set()
  private inflight: Promise<void> | undefined
  private lastMissCallAt = -Infinity
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = true
  private readonly listeners = new Set<RefreshListener>()
  private readonly abort = new AbortController()

  constructor (
    private readonly deps: { fetch: (signal: AbortSignal) => Promise<Iterable<WalletLike>>, logger: Logger, now?: () => number },
    private readonly options: RegistryCacheOptions
  ) {}

  /** Loads the registry once (errors are logged, not thrown) and starts the background refresh. */
  async start (): Promise<void> {
    this.stopped = false
    await this.refresh('initial')
    this.schedule()
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.abort.abort()
    this.listeners.clear()
  }

  has (wallet: string): boolean { return this.wallets.has(wallet) }
  get size (): number { return this.wallets.size }
  snapshot (): ReadonlySet<string> { return this.wallets }

  /** Called after every successful refresh with the new set. */
  onRefresh (listener: RefreshListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /**
   * Answers for a wallet that may not be cached yet: joins an in-flight refresh, or makes one
   * registry call unless one was made within `missIntervalMs`.
   */
  async checkMiss (wallet: string): Promise<boolean> {
    if (this.wallets.has(wallet)) return true
    if (this.stopped) return false
    if (this.inflight == null) {
      const now = this.now()
      if (now - this.lastMissCallAt < this.options.missIntervalMs) {
        this.stats.missesRateLimited++
        return false
      }
      this.lastMissCallAt = now
      this.stats.missCalls++
    }
    await this.refresh('miss')
    return this.wallets.has(wallet)
  }

  /** One registry call, shared with any call already in flight. Never throws. */
  refresh (reason: string): Promise<void> {
    this.inflight ??= this.load(reason).finally(() => { this.inflight = undefined })
    return this.inflight
  }

  private async load (reason: string): Promise<void> {
    const started = this.now()
    try {
      const list = await withDeadline(this.options.timeoutMs, `registry call timed out after ${this.options.timeoutMs} ms`, this.deps.fetch, this.abort.signal)
      const next = new Set<string>()
      for (const entry of list) {
        try {
          next.add(normalizeWalletAddress(entry))
        } catch (err) {
          this.stats.invalidEntries++
          this.deps.logger.debug('registry returned an invalid wallet; skipped', 'error', err)
        }
      }
      if (this.stopped && reason !== 'initial') return
      this.wallets = next
      this.stats.refreshes++
      this.stats.lastSuccessAt = this.now()
      this.stats.lastDurationMs = this.now() - started
      this.deps.logger.debug('registry refreshed', 'reason', reason, 'wallets', next.size, 'ms', this.stats.lastDurationMs)
      for (const listener of this.listeners) {
        try { listener(next) } catch (err) { this.deps.logger.warn('registry refresh listener failed', 'error', err) }
      }
    } catch (err) {
      this.stats.errors++
      this.stats.lastDurationMs = this.now() - started
      this.deps.logger.warn('registry call failed; keeping the last good set', 'reason', reason, 'wallets', this.wallets.size, 'error', err)
    }
  }

  private schedule (): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      void this.refresh('periodic').finally(() => { this.schedule() })
    }, this.options.refreshIntervalMs)
    this.timer.unref?.()
  }

  private now (): number { return (this.deps.now ?? Date.now)() }
}
