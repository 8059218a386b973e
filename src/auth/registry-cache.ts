/*
 * Authorized-wallet cache for one database. The registry callback is slow and remote (an on-chain
 * read), so the gater answers from this cache; it refreshes in the background, and an unknown
 * wallet (a miss) triggers at most one extra registry call, shared by all concurrent misses and
 * rate-limited, so a flood of unknown peers cannot hammer the registry. A registry error or timeout
 * keeps the last good set (unknown peers stay denied), and so does an answer that is not a list of
 * wallets (a string, a Map, an object, a list of nothing but invalid entries). A sudden shrink by
 * more than `maxShrinkFraction` of the set (an RPC node that lost its index answers an empty list)
 * is held back until a second read a moment later confirms it; smaller removals apply at once, so
 * revoking a wallet still takes effect within one refresh. A large registry is read in slices that
 * let the event loop run in between (each entry gets an allocation-free base58 check, known entries
 * none), and so is every pass over a whole set; the new set is swapped in whole at the end, so a
 * reader never sees a half-loaded registry. Pure: no libp2p imports.
 */
import { normalizeWalletAddress, type WalletLike } from '../identity.js'
import type { Logger } from '../logger.js'
import { withDeadline } from '../abort.js'
import { Slicer } from '../slicer.js'

export interface RegistryCacheOptions {
  /** the registryRefreshIntervalMs option (its default is in config.ts) */
  refreshIntervalMs: number
  timeoutMs: number
  /** minimum time between two miss-driven registry calls; also the delay of a shrink's confirming read */
  missIntervalMs: number
  /** a refresh removing more than this fraction of the set waits for a confirming second read (1 = never) */
  maxShrinkFraction: number
}

/** More entries than this is not a registry: refused as garbage (an endless iterable would never end). */
export const MAX_REGISTRY_ENTRIES = 2_000_000

export interface RegistryCacheStats {
  refreshes: number
  errors: number
  missCalls: number
  missesRateLimited: number
  invalidEntries: number
  /** refreshes whose large shrink was held back for a confirming read */
  shrinksHeld: number
  lastDurationMs: number
  lastSuccessAt: number
}

export type RefreshListener = (wallets: ReadonlySet<string>) => void

export class AuthorizedWalletCache {
  readonly stats: RegistryCacheStats = { refreshes: 0, errors: 0, missCalls: 0, missesRateLimited: 0, invalidEntries: 0, shrinksHeld: 0, lastDurationMs: 0, lastSuccessAt: 0 }
  private wallets: ReadonlySet<string> = new Set()
  private inflight: Promise<void> | undefined
  private lastMissCallAt = -Infinity
  private timer: ReturnType<typeof setTimeout> | undefined
  private confirmTimer: ReturnType<typeof setTimeout> | undefined
  /** wallets a large shrink would remove, waiting for a second read to confirm (still absent) */
  private heldRemovals: Set<string> | undefined
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
    clearTimeout(this.confirmTimer)
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
      const { next, kept } = await this.readList(list)
      if (this.stopped && reason !== 'initial') return
      const current = this.wallets
      // every pass over a whole set below runs in slices too: a 1,000,000-wallet set copied in one
      // turn blocked the loop for hundreds of ms. The new set is swapped in at the end, complete.
      const slicer = new Slicer()
      // held-back removals that this read confirms (those wallets are still absent) apply now
      const held = this.heldRemovals
      this.heldRemovals = undefined
      let confirmed = 0
      if (held != null) {
        confirmed = await slicer.count(held, (w) => !next.has(w))
        this.deps.logger.warn(confirmed > 0 ? 'registry shrink confirmed by a second read' : 'registry shrink not confirmed; removals dropped',
          'confirmed', confirmed, 'held', held.size)
      }
      // `base` is the current set minus the confirmed removals. It is built only when this read is a
      // new large shrink: the confirmed wallets are in the current set and absent from this read, so
      // what this read removes from `base` is what it removes from the current set less those.
      const baseSize = current.size - confirmed
      const removed = current.size - kept - confirmed
      let wallets: ReadonlySet<string> = next
      const holdBack = removed > 0 && removed > baseSize * this.options.maxShrinkFraction
      if (holdBack) {
        // held back: additions apply, removals wait for a second read
        const base = confirmed === 0 ? current : await slicer.collect(current, (w) => held?.has(w) !== true || next.has(w))
        this.heldRemovals = await slicer.collect(base, (w) => !next.has(w))
        this.stats.shrinksHeld++
        this.deps.logger.warn('registry shrank suddenly; holding the removals back until a second read confirms them',
          'reason', reason, 'wallets', base.size, 'removed', removed, 'maxShrinkFraction', this.options.maxShrinkFraction)
        const added = await slicer.collect(next, (w) => !base.has(w))
        wallets = added.size > 0 ? await slicer.union(base, added) : base
      }
      if (this.stopped && reason !== 'initial') return
      this.wallets = wallets
      if (holdBack) this.scheduleConfirmation()
      this.stats.refreshes++
      this.stats.lastSuccessAt = this.now()
      this.stats.lastDurationMs = this.now() - started
      this.deps.logger.debug('registry refreshed', 'reason', reason, 'wallets', this.wallets.size, 'ms', this.stats.lastDurationMs)
      if (this.wallets === current) return
      for (const listener of this.listeners) {
        try { listener(this.wallets) } catch (err) { this.deps.logger.warn('registry refresh listener failed', 'error', err) }
      }
    } catch (err) {
      this.stats.errors++
      this.stats.lastDurationMs = this.now() - started
      this.deps.logger.warn('registry call failed; keeping the last good set', 'reason', reason, 'wallets', this.wallets.size, 'error', err)
    }
  }

  /**
   * Normalizes the registry's answer in slices (yielding to the event loop between them). Entries
   * already in the current set are canonical and skip base58 decoding. Throws on an answer that is
   * not a list of wallets. `kept` counts current wallets present in the answer.
   */
  private async readList (list: unknown): Promise<{ next: Set<string>, kept: number }> {
    if (list == null || typeof list !== 'object' || typeof (list as Iterable<unknown>)[Symbol.iterator] !== 'function' ||
      list instanceof Map || ArrayBuffer.isView(list)) {
      throw new TypeError(`registry answered ${describe(list)}, not a list of wallets`)
    }
    const current = this.wallets
    const next = new Set<string>()
    let kept = 0
    let seen = 0
    let invalid = 0
    const slicer = new Slicer()
    for (const entry of list as Iterable<unknown>) {
      if (++seen > MAX_REGISTRY_ENTRIES) throw new RangeError(`registry answered more than ${MAX_REGISTRY_ENTRIES} entries`)
      if (slicer.due()) await slicer.yield()
      let wallet: string
      if (typeof entry === 'string' && current.has(entry)) {
        wallet = entry
      } else {
        try {
          wallet = normalizeWalletAddress(entry as WalletLike)
        } catch (err) {
          invalid++
          if (invalid <= 10) this.deps.logger.debug('registry returned an invalid wallet; skipped', 'error', err)
          continue
        }
      }
      if (next.has(wallet)) continue
      next.add(wallet)
      if (current.has(wallet)) kept++
    }
    this.stats.invalidEntries += invalid
    if (next.size === 0 && invalid > 0) throw new TypeError(`registry answered ${invalid} entries and none is a wallet address`)
    return { next, kept }
  }

  /** The second read that confirms (or drops) a held-back shrink. */
  private scheduleConfirmation (): void {
    clearTimeout(this.confirmTimer)
    if (this.stopped) return
    this.confirmTimer = setTimeout(() => { void this.refresh('confirm shrink') }, this.options.missIntervalMs)
    this.confirmTimer.unref?.()
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

function describe (value: unknown): string {
  if (value == null) return String(value)
  if (typeof value === 'string') return `a string (${value.length} characters)`
  if (typeof value !== 'object') return `a ${typeof value}`
  return `a ${(value as object).constructor?.name ?? 'object'}`
}
