/*
 * One sticky subscription. History first (all unexpired messages of the current heads, oldest
 * first, or only those added after `lastSeenVersion`), then live messages from GossipSub pushes,
 * with a coordinator poll as the fallback (every `pollIntervalMs`, and at once on a version gap or
 * a gap in a publisher's sequence). A poll that finds nothing new doubles the wait before the next
 * (up to 8x `pollIntervalMs`); a push or a poll that finds something resets it: every subscriber
 * polls the same few replicas, so on a quiet topic fixed-rate polling was most of an idle
 * network's work, growing with its size. Messages are deduplicated by id: each is delivered once.
 */
import { EventEmitter } from 'node:events'
import { compareMessages } from '../core/merge.js'
import { LIMITS, type ChannelState, type Entry } from '../core/records.js'
import type { StateLoader } from './state-loader.js'
import type { StickyStore } from '../replica/store.js'
import type { Logger } from '../../logger.js'

/** A sticky message as delivered to a subscriber. */
export interface StickyMessage {
  messageId: string
  topic: string
  publisher: string
  publisherSequence: number
  addedInVersion: number
  data: unknown
  publishedAt: number
  expiresAt: number
}

/** how often expired ids and pages are pruned */
const PRUNE_INTERVAL_MS = 30_000
/** head ids remembered as read (current ones and recent siblings) */
const MAX_SEEN_HEADS = 64
/** delivered ids kept at most (a topic's live messages; beyond, the oldest are forgotten) */
export const MAX_DELIVERED_IDS = 500_000

export interface SubscriptionDeps {
  store: StickyStore
  loader: StateLoader
  topic: string
  onMessage: (m: StickyMessage) => void | Promise<void>
  logger: Logger
  /** called by unsubscribe() after the local teardown */
  onClose: () => Promise<void>
  /** sends a signed renewal to a serving node; resolves with the new expiry */
  renew: (ttlMs: number) => Promise<{ expiresAt: number }>
}

export interface SubscriptionOptions {
  receiveHistory: boolean
  lastSeenVersion: number | null
  pollIntervalMs: number
  ttlMs: number
  /** when the subscription entry expires (set by subscribe, moved by renew) */
  expiresAt: number
  autoRenew: boolean
  renewAtFraction: number
}

export interface SubscriptionStats { delivered: number, duplicates: number, polls: number, pushes: number, gaps: number, handlerErrors: number, implausiblePushes: number }

/**
 * Events: 'message' is not one (use onMessage); 'renewed' ({ expiresAt }), 'renew-failed' (Error),
 * 'expired' (the subscriber entry lapsed: renew() or subscribe again), 'gap-detected' ({ topic }),
 * 'recovered' ({ topic, from }: a gap closed or the channel is ACTIVE again), 'state' (ChannelState).
 */
export class StickySubscription extends EventEmitter {
  readonly topic: string
  /** when this subscriber's entry in the topic's subscriber collection expires */
  expiresAt: number
  readonly stats: SubscriptionStats = { delivered: 0, duplicates: 0, polls: 0, pushes: 0, gaps: 0, handlerErrors: 0, implausiblePushes: 0 }
  /**
   * Every message added in this version or before has been delivered (or was below the requested
   * floor): resuming after it misses nothing. Only a poll that loaded every current head moves it;
   * a push (one commit's messages) does not, since an earlier commit's push may have been lost.
   */
  lastSeenVersion = 0
  /** highest plausible version seen in pushes (gap detection only) */
  private pushedVersion = 0
  channelState: ChannelState = 'ACTIVE'
  /**
   * Bounded by the topic's live content: ids delivered (or below the history floor) with their
   * message expiry, pages already read with their latest message expiry, and the heads read
   * lately (at most MAX_SEEN_HEADS). Expired entries are pruned (an expired message is never delivered again anyway).
   */
  private readonly delivered = new Map<string, number>()
  private readonly seenHeads = new Set<string>()
  private readonly seenPages = new Map<string, number>()
  private prunedAt = 0
  private readonly maxSeq = new Map<string, number>()
  /**
   * Per publisher: every sequence number from the first one delivered up to `low` has been
   * delivered; `above` holds those delivered beyond a hole. A gap is closed when `above` is empty.
   */
  private readonly runs = new Map<string, { low: number, above: Set<number> }>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private polling: Promise<void> | undefined
  private pollAgain = false
  private closed = false
  private renewTimer: ReturnType<typeof setTimeout> | undefined
  private expiryTimer: ReturnType<typeof setTimeout> | undefined
  private gapOpen = false

  constructor (private readonly deps: SubscriptionDeps, private readonly options: SubscriptionOptions) {
    super()
    if (options.receiveHistory) this.lastSeenVersion = options.lastSeenVersion ?? 0
    this.topic = deps.topic
    this.expiresAt = options.expiresAt
  }

  /**
   * Extends the subscription: a request signed with this node's wallet key goes to a serving node,
   * which commits the new expiry. Rejects with RenewalRejectedError if refused.
   */
  async renew (ttlMs: number = this.options.ttlMs): Promise<{ expiresAt: number }> {
    if (this.closed) throw new Error('subscription is closed')
    const r = await this.deps.renew(ttlMs)
    this.expiresAt = r.expiresAt
    this.emit('renewed', { expiresAt: r.expiresAt })
    this.scheduleRenewal(ttlMs)
    return r
  }

  private scheduleRenewal (ttlMs: number): void {
    clearTimeout(this.renewTimer)
    clearTimeout(this.expiryTimer)
    if (this.closed) return
    const now = Date.now()
    this.expiryTimer = setTimeout(() => {
      if (this.closed || Date.now() < this.expiresAt) return
      this.deps.logger.warn('sticky subscription expired', 'topic', this.topic)
      this.emit('expired', { topic: this.topic, expiresAt: this.expiresAt })
    }, Math.max(0, this.expiresAt - now) + 10)
    this.expiryTimer.unref?.()
    if (!this.options.autoRenew) return
    const at = Math.max(0, this.expiresAt - now - ttlMs * (1 - this.options.renewAtFraction))
    this.renewTimer = setTimeout(() => { void this.autoRenew(ttlMs) }, at)
    this.renewTimer.unref?.()
  }

  private async autoRenew (ttlMs: number): Promise<void> {
    try {
      await this.renew(ttlMs)
    } catch (err) {
      if (this.closed) return
      this.emit('renew-failed', err)
      const left = this.expiresAt - Date.now()
      this.deps.logger.warn('sticky subscription renewal failed; retrying', 'topic', this.topic, 'msLeft', left, 'error', err)
      // retry a few times before expiry, then keep trying (a renewal after expiry is refused, so resubscribe)
      clearTimeout(this.renewTimer)
      this.renewTimer = setTimeout(() => { void this.autoRenew(ttlMs) }, Math.max(1_000, Math.min(30_000, left / 4)))
      this.renewTimer.unref?.()
    }
  }

  /** Loads and delivers the history, then starts polling. */
  async start (): Promise<void> {
    const floor = this.options.receiveHistory ? (this.options.lastSeenVersion ?? 0) : Infinity
    await this.sync(floor)
    this.schedulePoll()
    this.scheduleRenewal(this.options.ttlMs)
  }

  /**
   * Live messages pushed after a commit (already verified by the caller). A push's version is the
   * sender's word: it only decides whether to poll at once (a gap), and never moves
   * lastSeenVersion, which follows versions this subscription actually loaded (sync()).
   */
  receivePush (version: number, entries: Entry[]): void {
    if (this.closed) return
    this.stats.pushes++
    if (this.lastSeenVersion > 0 && version - this.lastSeenVersion > LIMITS.MAX_VERSION_STEP) {
      // no honest writer jumps that far: deliver nothing from it, read the coordinator instead
      this.stats.implausiblePushes++
      this.pollNow('implausible push version')
      return
    }
    // the topic is active: the fallback poll goes back to its base interval
    if (this.quietPolls > 0) { this.quietPolls = 0; this.schedulePoll() }
    this.deliver(entries)
    const known = Math.max(this.lastSeenVersion, this.pushedVersion)
    if (version > known + 1 && this.seenHeads.size > 0) this.pollNow('version gap')
    // a version far above what was loaded is not believed (the poll finds the truth)
    if (version > known && version - this.lastSeenVersion <= LIMITS.MAX_VERSION_STEP) this.pushedVersion = version
    this.prune()
  }

  /** Re-reads the coordinator now (e.g. a push that carried only ids). */
  pollNow (reason: string): void {
    if (this.closed) return
    this.deps.logger.debug('sticky poll', 'topic', this.topic, 'reason', reason)
    if (this.polling != null) { this.pollAgain = true; return }
    this.polling = this.sync(0).catch((err) => { this.deps.logger.debug('sticky poll failed', 'topic', this.topic, 'error', err) })
      .finally(() => {
        this.polling = undefined
        if (this.pollAgain) { this.pollAgain = false; this.pollNow('queued') }
      })
  }

  /** Stops delivery and leaves the topic's subscriber collection (bounded; the entry expires anyway). */
  async unsubscribe (): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    clearTimeout(this.renewTimer)
    clearTimeout(this.expiryTimer)
    await this.polling
    await this.deps.onClose()
    this.removeAllListeners()
  }

  /** interval polls in a row that found no new head (backoff exponent, capped at 3) */
  private quietPolls = 0

  private schedulePoll (): void {
    if (this.closed) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.pollNow('interval')
      this.schedulePoll()
    }, this.options.pollIntervalMs * 2 ** Math.min(this.quietPolls, 3))
    this.timer.unref?.()
  }

  /** Reads the current heads and delivers every not-yet-delivered entry with v > floor. */
  private async sync (floor: number): Promise<void> {
    this.stats.polls++
    const { store, loader } = this.deps
    const heads = await loader.currentHeads(await store.readHeads(this.topic))
    const fresh = heads.filter((h) => !this.seenHeads.has(h.id))
    this.quietPolls = fresh.length > 0 ? 0 : this.quietPolls + 1
    // sibling heads share most pages: collect the unseen page ids of all of them, load each once
    const roots = await Promise.all(fresh.map(async (h) => h.head.messages == null ? null : await store.getBlob(this.topic, h.head.messages)))
    const pageIds = new Set<string>()
    const complete: typeof fresh = []
    fresh.forEach((h, i) => {
      const root = roots[i]
      if (h.head.messages == null) { complete.push(h); return }
      if (root?.t !== 'root') return // not loadable yet: the next poll tries again
      for (const p of root.pages) if (!this.seenPages.has(p)) pageIds.add(p)
      complete.push(h)
    })
    const pages = await loader.loadPages(this.topic, [...pageIds])
    if (pages == null) return // a page is missing on every replica asked: retry on the next poll
    const entries: Entry[] = []
    for (const p of pages) {
      for (const e of p.entries) {
        // below the floor: known to the caller already (or history not wanted): never deliver
        if (!store.isPublisher(e.m.publisher)) continue // left the registry: skipped (see StateLoader.load)
        if (e.v > floor) entries.push(e)
        else this.delivered.set(this.deps.loader.idOf(e.m), e.m.expiresAt)
      }
      this.seenPages.set(p.id!, Math.max(0, ...p.entries.map((e) => e.m.expiresAt)))
    }
    for (const h of complete) {
      this.seenHeads.add(h.id)
      if (h.head.state !== this.channelState) this.setChannelState(h.head.state)
    }
    // Heads read lately are remembered, not only the current ones: sibling heads (left by
    // concurrent writers until the next write merges them) are spread over the replicas, and each
    // poll hears a majority of them. Forgetting the siblings one poll missed made the next poll
    // find them "new" again and restart its backoff (30 idle subscribers of one topic polled every
    // 5-15 s instead of 40).
    for (const h of heads) if (this.seenHeads.delete(h.id)) this.seenHeads.add(h.id) // least recently heard first
    for (const id of this.seenHeads) {
      if (this.seenHeads.size <= MAX_SEEN_HEADS) break
      this.seenHeads.delete(id) // oldest first
    }
    this.prune()
    this.deliver(entries)
    // only versions whose content was loaded, and only when every current head was: a head still
    // unloadable may hold messages of lower versions than `top`, so nothing is resumable past it yet
    const top = Math.max(0, ...heads.filter((h) => this.seenHeads.has(h.id)).map((h) => h.head.version))
    if (complete.length === fresh.length && top > this.lastSeenVersion) this.lastSeenVersion = top
  }

  private deliver (entries: Entry[]): void {
    const now = Date.now()
    const fresh: Entry[] = []
    for (const e of entries) {
      const id = this.deps.loader.idOf(e.m)
      if (this.delivered.has(id)) { this.stats.duplicates++; continue }
      if (e.m.expiresAt <= now) continue
      this.delivered.set(id, e.m.expiresAt)
      fresh.push(e)
    }
    if (fresh.length === 0) return
    fresh.sort((a, b) => compareMessages(a.m, b.m))
    let gap = false
    for (const e of fresh) {
      const prev = this.maxSeq.get(e.m.publisher) ?? 0
      if (prev > 0 && e.m.seq > prev + 1) gap = true
      if (e.m.seq > prev) this.maxSeq.set(e.m.publisher, e.m.seq)
      this.trackSequence(e.m.publisher, e.m.seq)
      this.stats.delivered++
      const message: StickyMessage = {
        messageId: this.deps.loader.idOf(e.m),
        topic: e.m.topic,
        publisher: e.m.publisher,
        publisherSequence: e.m.seq,
        addedInVersion: e.v,
        data: e.m.data,
        publishedAt: e.m.publishedAt,
        expiresAt: e.m.expiresAt
      }
      try {
        const r = this.deps.onMessage(message)
        if (r != null && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch((err: unknown) => { this.handlerFailed(err) })
      } catch (err) {
        this.handlerFailed(err)
      }
    }
    if (gap) { this.stats.gaps++; this.gapOpen = true; this.emit('gap-detected', { topic: this.topic }); this.pollNow('sequence gap') }
    else if (this.gapOpen && this.sequencesContiguous()) { this.gapOpen = false; this.emit('recovered', { topic: this.topic, from: 'gap' }) }
  }

  /** Drops expired delivered ids and read pages (at most every PRUNE_INTERVAL_MS), then caps the ids kept. */
  private prune (now = Date.now()): void {
    if (now - this.prunedAt < PRUNE_INTERVAL_MS && this.delivered.size <= MAX_DELIVERED_IDS) return
    this.prunedAt = now
    for (const [id, expiresAt] of this.delivered) if (expiresAt <= now) this.delivered.delete(id)
    for (const [id, expiresAt] of this.seenPages) if (expiresAt <= now) this.seenPages.delete(id)
    // pushes of valid but never committed messages could still grow it: the oldest ids go first
    // (at worst such a message is delivered a second time)
    for (const [id] of this.delivered) { if (this.delivered.size <= MAX_DELIVERED_IDS) break; this.delivered.delete(id) }
  }

  /** Memory this subscription holds (ids, pages, heads remembered). */
  get memory (): { deliveredIds: number, seenPages: number, seenHeads: number } {
    return { deliveredIds: this.delivered.size, seenPages: this.seenPages.size, seenHeads: this.seenHeads.size }
  }

  /** Channel state as seen in the coordinator, or set by the owner (RECOVERING/FAILED during recovery). */
  setChannelState (state: ChannelState): void {
    if (state === this.channelState) return
    const from = this.channelState
    this.channelState = state
    this.emit('state', state)
    if (state === 'ACTIVE' && from !== 'ACTIVE') this.emit('recovered', { topic: this.topic, from })
  }

  private trackSequence (publisher: string, seq: number): void {
    const run = this.runs.get(publisher)
    if (run == null) { this.runs.set(publisher, { low: seq, above: new Set() }); return }
    if (seq <= run.low) return // an earlier message arriving late (history below the first seen): no hole after it
    if (seq !== run.low + 1) { run.above.add(seq); return }
    run.low = seq
    while (run.above.delete(run.low + 1)) run.low++
  }

  /** no publisher has a hole between its first delivered sequence number and its highest */
  private sequencesContiguous (): boolean {
    for (const run of this.runs.values()) if (run.above.size > 0) return false
    return true
  }

  private handlerFailed (err: unknown): void {
    this.stats.handlerErrors++
    this.deps.logger.warn('sticky onMessage threw; subscription continues', 'topic', this.topic, 'error', err)
  }
}
