/*
 * The write path of one sticky topic on this node. Publishes and subscriber updates queue up and
 * are committed together (a batch flushes after `flushDelayMs` or at `maxBatch` items), so N
 * concurrent publishes cost far fewer than N coordinator writes. A commit:
 *   read the heads from the replicas -> load and merge every head it can (union) -> add the batch
 *   at a version above all heads -> store new pages, root, subscribers, then the signed head ->
 *   read back from the replicas until the batch is present on `quorum` of them (retry with
 *   jittered backoff, bounded by the commit deadline).
 * Heads that cannot be loaded are not listed as parents, so replicas keep them: nothing is dropped.
 */
import { liveSubscribers, mergeHistories, mergeStates, paginate, type TopicState } from '../core/merge.js'
import { encodedSize, entriesExpiry, historyToKeep, isRetired, subscribersExpiry } from '../core/lifecycle.js'
import { LIMITS, type BlobRecord, type Entry, type HeadRecord, type MessageRecord, type RootRecord, type SnapRecord, type SubsRecord, type SubscriberEntry } from '../core/records.js'
import { headId, signHead, signMessage, signRecord, type Signer, type VerifiedSignatures } from '../core/signing.js'
import type { StateLoader, LoadedHead } from './state-loader.js'
import type { PreparedBlob, StickyStore } from '../replica/store.js'
import type { Logger } from '../../logger.js'
import { ChannelFailedError, StickyCommitError, TooManySubscribersError } from '../core/errors.js'
import type { HeadWithId } from '../core/validation.js'
import { sleep } from '../../abort.js'

/** How long the heads seen by a read-back may stand in for a fresh read at the next commit. */
const RECENT_HEADS_MS = 1_000

export interface CommitResult { version: number, headId: string, head: HeadRecord, entries: Entry[] }

export interface Recovered { base: HeadWithId, loaded: LoadedHead, supersede: string[], topVersion: number }

interface PendingMessage { kind: 'msg', data: unknown, ttlMs: number, publishedAt: number, record?: MessageRecord, id?: string, resolve: (r: { messageId: string, version: number, publisherSequence: number }) => void, reject: (e: unknown) => void }
interface PendingSub { kind: 'sub', entry: SubscriberEntry, refused?: Error, resolve: (version: number) => void, reject: (e: unknown) => void }
interface PendingTouch { kind: 'touch', resolve: (version: number) => void, reject: (e: unknown) => void }
type Pending = PendingMessage | PendingSub | PendingTouch

export interface CommitterDeps {
  store: StickyStore
  loader: StateLoader
  signer: Signer
  /** this node's verified-signature cache: messages it signs are entered as checked */
  verified?: VerifiedSignatures
  db: string
  topic: string
  /** replicas that must hold a commit before it is acknowledged */
  quorum: () => Promise<number>
  /**
   * Called when a current head has stayed unloadable for recoveryAfterMs: reads every replica and
   * returns the highest loadable version plus the broken heads it supersedes, or undefined.
   */
  recover: (isBroken: (headId: string) => boolean) => Promise<Recovered | undefined>
  /** walks a snapshot chain (see StickyPubSub.loadFullHistory) */
  history: { walk: (topic: string, snapshotId: string, maxDepth: number) => Promise<{ messageHistory: string[], subscriberHistory: string[] }> }
  onCommitted?: (result: CommitResult, info: { durationMs: number, items: number }) => void
  /** called once the first attempt's head is written, before the read-back (early push) */
  onWritten?: (result: CommitResult) => void
  logger: Logger
}

export interface CommitterOptions {
  /** @default 2 */
  flushDelayMs: number
  /** @default 1000 */
  maxBatch: number
  /** @default 60_000 */
  commitDeadlineMs: number
  /** live subscribers a topic may have: a new one above it is refused. @default 1000 */
  maxSubscribers: number
  /** added to content expiry of collections and heads. @default 3_600_000 */
  gcGraceMs: number
  /** a head unloadable this long is treated as broken and recovery runs. @default 15_000 */
  recoveryAfterMs: number
}

export interface CommitterStats { commits: number, attempts: number, conflicts: number, merges: number, retries: number, messages: number, failures: number, snapshots: number, mergeFailures: number }

export class TopicCommitter {
  readonly stats: CommitterStats = { commits: 0, attempts: 0, conflicts: 0, merges: 0, retries: 0, messages: 0, failures: 0, snapshots: 0, mergeFailures: 0 }
  private queue: Pending[] = []
  private running: Promise<void> | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private seq: number | undefined
  /** heads seen by the last read-back, reused by the next commit if fresh (see commit()) */
  private recent: { heads: HeadWithId[], at: number } | undefined

  constructor (private readonly deps: CommitterDeps, private readonly options: CommitterOptions) {}

  /** when each currently unloadable head id was first seen failing */
  private readonly unloadableSince = new Map<string, number>()
  /** a recovery to start the next attempt from (set by prime()) */
  private primed: Recovered | undefined
  /** when something was last queued */
  lastUsed = Date.now()

  get pending (): number { return this.queue.length }
  /** nothing queued or being committed */
  get idle (): boolean { return this.queue.length === 0 && this.running == null && this.timer == null }

  async publish (data: unknown, ttlMs: number): Promise<{ messageId: string, version: number, publisherSequence: number }> {
    return await new Promise((resolve, reject) => {
      this.enqueue({ kind: 'msg', data, ttlMs, publishedAt: Date.now(), resolve, reject })
    })
  }

  async updateSubscriber (entry: SubscriberEntry): Promise<number> {
    return await new Promise((resolve, reject) => { this.enqueue({ kind: 'sub', entry, resolve, reject }) })
  }

  /** The next attempt starts from a recovered version instead of reading the replicas. */
  prime (recovered: Recovered): void { this.primed = recovered }

  /** Writes a new version with no change (used to commit a recovery). */
  async touch (): Promise<number> {
    return await new Promise((resolve, reject) => { this.enqueue({ kind: 'touch', resolve, reject }) })
  }

  /** Resolves when everything queued so far is committed (or failed). */
  async flush (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    while (this.queue.length > 0 || this.running != null) {
      if (this.running == null) this.start()
      await this.running
    }
  }

  private enqueue (p: Pending): void {
    this.lastUsed = Date.now()
    this.queue.push(p)
    if (this.running != null) return
    if (this.queue.length >= this.options.maxBatch) { clearTimeout(this.timer); this.timer = undefined; this.start(); return }
    this.timer ??= setTimeout(() => { this.timer = undefined; this.start() }, this.options.flushDelayMs)
  }

  private start (): void {
    if (this.running != null) return
    this.running = (async () => {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch)
        const started = Date.now()
        try {
          const result = await this.commit(batch)
          for (const p of batch) {
            if (p.kind === 'msg') p.resolve({ messageId: p.id!, version: result.version, publisherSequence: p.record!.seq })
            else if (p.kind === 'sub' && p.refused != null) p.reject(p.refused)
            else p.resolve(result.version)
          }
          this.deps.onCommitted?.(result, { durationMs: Date.now() - started, items: batch.length })
        } catch (err) {
          this.stats.failures++
          for (const p of batch) p.reject(err)
        }
      }
    })().finally(() => { this.running = undefined })
  }

  private async commit (batch: Pending[]): Promise<CommitResult> {
    const deadline = Date.now() + this.options.commitDeadlineMs
    const { store, loader, logger } = this.deps
    for (let attempt = 1; ; attempt++) {
      this.stats.attempts++
      const now = Date.now()
      // Reusing the heads our own last read-back saw is safe even if they are stale: a head we do not
      // list as a parent stays on the replicas as a sibling and is merged by the next write.
      const fresh = attempt === 1 && this.recent != null && Date.now() - this.recent.at < RECENT_HEADS_MS
      let heads = fresh ? this.recent!.heads : await loader.currentHeads(await store.readHeads(this.deps.topic))
      this.recent = undefined
      let loaded = (await Promise.all(heads.map(async (h) => await loader.load(h)))).filter((x): x is LoadedHead => x != null)
      // A head that cannot be loaded is usually still arriving: wait for it while nothing loads.
      // One that stays unloadable for recoveryAfterMs is broken: recovery looks for the highest
      // loadable version on every replica and the new head supersedes the broken ones.
      const loadedIds = new Set(loaded.map((l) => l.id))
      for (const id of loadedIds) this.unloadableSince.delete(id)
      const failing = heads.filter((h) => !loadedIds.has(h.id))
      for (const h of failing) if (!this.unloadableSince.has(h.id)) this.unloadableSince.set(h.id, now)
      if (failing.length > 0) this.stats.mergeFailures++
      const isBroken = (id: string): boolean => now - (this.unloadableSince.get(id) ?? now) >= this.options.recoveryAfterMs
      let recovered = this.primed
      this.primed = undefined
      if (recovered == null && failing.some((h) => isBroken(h.id))) {
        recovered = await this.deps.recover(isBroken)
        if (recovered == null && loaded.length === 0 && failing.every((h) => isBroken(h.id))) {
          throw new ChannelFailedError(this.deps.topic, 'no coordinator version whose collections load on any replica')
        }
      }
      const supersede = recovered?.supersede ?? []
      const versionFloor = recovered?.topVersion ?? 0
      if (recovered != null) {
        const base = recovered
        heads = [base.base, ...heads.filter((h) => loadedIds.has(h.id) && h.id !== base.base.id)]
        loaded = [base.loaded, ...loaded.filter((l) => l.id !== base.base.id)]
        for (const id of supersede) this.unloadableSince.delete(id)
      } else if (loaded.length === 0 && heads.length > 0) {
        if (Date.now() > deadline) throw new StickyCommitError(this.deps.topic, attempt)
        await sleep(Math.min(1_000, 100 * attempt))
        continue
      }
      if (loaded.length < heads.length) logger.warn('some coordinator heads could not be loaded; keeping them as siblings', 'heads', heads.length, 'loaded', loaded.length)
      if (heads.length > 1) { this.stats.merges++; if (attempt === 1) this.stats.conflicts++ }
      await this.signMessages(batch, loaded)
      const topVersion = Math.max(versionFloor, ...heads.map((h) => h.head.version))
      const merged = mergeStates(loaded.map((l) => l.state), now, topVersion + 1)
      const entries = new Map(merged.entries)
      const added: Entry[] = []
      const subs = new Map(merged.subs)
      for (const p of batch) {
        if (p.kind === 'msg') {
          const existing = entries.get(p.id!)
          const e = existing ?? { m: p.record!, v: merged.version }
          entries.set(p.id!, e)
          added.push(e)
        } else if (p.kind === 'sub') {
          const current = subs.get(p.entry.client)
          const joining = p.entry.expiresAt > now && (current == null || current.expiresAt <= now)
          p.refused = joining && liveSubscribers(subs, now).length >= this.options.maxSubscribers
            ? new TooManySubscribersError(this.deps.topic, this.options.maxSubscribers)
            : undefined
          if (p.refused == null) subs.set(p.entry.client, p.entry)
        }
      }
      const base = [...loaded].sort((a, b) => b.head.version - a.head.version)[0]
      const pages = paginate(entries, base?.pages ?? [], loader.idOf, now)
      const grace = this.options.gcGraceMs
      await store.ensureReplicated(this.deps.topic, [...pages.map((p) => p.id), ...loaded.flatMap((l) => [l.head.subscribers])].filter((id): id is string => id != null))
      // every new record of this version is built here and stored together with the head (putCommit)
      const blobs: PreparedBlob[] = []
      const prepare = (record: BlobRecord): string => { const b = store.prepareBlob(this.deps.topic, record); blobs.push(b); return b.id }
      // roots, subscriber collections and snapshots are signed by this writer, like its head
      const sign = async <T extends RootRecord | SubsRecord | SnapRecord>(record: Omit<T, 'sig' | 'writer'>): Promise<T> => await signRecord<T>({ ...record, writer: this.deps.signer.wallet } as unknown as Omit<T, 'sig'>, this.deps.signer)
      const pageIds = pages.map((page) => page.id ?? prepare({ t: 'page', db: this.deps.db, topic: this.deps.topic, entries: page.entries, expiresAt: entriesExpiry(page.entries, grace, 0) }))
      const subList = [...subs.values()].sort((a, b) => (a.client < b.client ? -1 : 1))
      const rootExpiry = entriesExpiry(pages.flatMap((p) => p.entries), grace, now)
      const subsExpiry = subscribersExpiry(subList, grace, now)
      const rootId = prepare(await sign<RootRecord>({ t: 'root', db: this.deps.db, topic: this.deps.topic, pages: pageIds, count: entries.size, expiresAt: rootExpiry }))
      const subsId = subs.size > 0 ? prepare(await sign<SubsRecord>({ t: 'subs', db: this.deps.db, topic: this.deps.topic, subs: subList, expiresAt: subsExpiry })) : null
      const histories = await this.compactHistories(loaded, merged, rootId, subsId, now, async (snap) => prepare(await sign<SnapRecord>(snap)))
      const head = await signHead({
        t: 'head',
        db: this.deps.db,
        topic: this.deps.topic,
        version: merged.version,
        messages: rootId,
        subscribers: subsId,
        ...histories,
        // a recovery head also supersedes the unloadable heads it replaces, so replicas drop them
        parents: [...new Set([...loaded.map((l) => l.id), ...supersede])].sort().slice(-LIMITS.MAX_PARENTS),
        createdAt: merged.createdAt || now,
        lastModified: now,
        state: 'ACTIVE',
        retired: isRetired(entries.values(), subs.values(), now),
        expiresAt: Math.max(rootExpiry, subsExpiry),
        writer: this.deps.signer.wallet
      }, this.deps.signer)
      const id = headId(head)
      await store.putCommit(this.deps.topic, blobs, head)
      const newBlobIds = blobs.filter((b) => b.fresh).map((b) => b.id)
      if (attempt === 1) this.deps.onWritten?.({ version: merged.version, headId: id, head, entries: added })
      const batchIds = batch.filter((p): p is PendingMessage => p.kind === 'msg').map((p) => p.id!)
      if (await this.confirmed(id, batchIds, newBlobIds)) {
        this.stats.commits++
        this.stats.messages += batchIds.length
        return { version: merged.version, headId: id, head, entries: added }
      }
      this.stats.retries++
      if (Date.now() > deadline) throw new StickyCommitError(this.deps.topic, attempt)
      const backoff = Math.min(1_000, 20 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random())
      logger.debug('commit not confirmed yet; retrying', 'topic', this.deps.topic, 'attempt', attempt, 'backoffMs', Math.round(backoff))
      await sleep(backoff)
    }
  }

  /**
   * The head's histories with the new collection ids appended, and its snapshot link. Keeps the
   * head under HEAD_TARGET_BYTES: when it would grow past it (or a history reaches HISTORY_MAX), the
   * older entries go into a snapshot linked to the previous one. When the merged heads link
   * different snapshots, their chains are walked and joined into one snapshot, so no history is lost.
   */
  private async compactHistories (loaded: LoadedHead[], merged: TopicState, rootId: string, subsId: string | null, now: number, prepare: (snap: Omit<SnapRecord, 'sig' | 'writer'>) => Promise<string>): Promise<Pick<HeadRecord, 'messageHistory' | 'subscriberHistory' | 'previous'>> {
    let messageHistory = appendHistory(merged.messageHistory, rootId, Infinity)
    let subscriberHistory = subsId == null ? [...merged.subscriberHistory] : appendHistory(merged.subscriberHistory, subsId, Infinity)
    let previous = merged.previous
    const links = [...new Set(loaded.map((l) => l.head.previous).filter((x): x is string => x != null))]
    let older: { messageHistory: string[], subscriberHistory: string[] } = { messageHistory: [], subscriberHistory: [] }
    if (links.length > 1) {
      // concurrent snapshots: join their chains (bounded depth) into one
      const chains = await Promise.all(links.map(async (id) => await this.deps.history.walk(this.deps.topic, id, 10)))
      older = { messageHistory: mergeHistories(chains.map((c) => c.messageHistory), Infinity), subscriberHistory: mergeHistories(chains.map((c) => c.subscriberHistory), Infinity) }
      previous = null
    }
    const estimate = (keep: number): number => encodedSize({ messageHistory: messageHistory.slice(-keep || messageHistory.length), subscriberHistory: subscriberHistory.slice(-keep || subscriberHistory.length) }) + HEAD_OVERHEAD_BYTES + this.deps.topic.length
    const keep = historyToKeep({ messageHistory, subscriberHistory }, (k) => estimate(k === 0 ? 1 : k))
    if (keep == null && links.length <= 1) return { messageHistory, subscriberHistory, previous }
    const k = keep ?? LIMITS.HISTORY_KEEP
    const split = (list: string[]): [string[], string[]] => [list.slice(0, Math.max(0, list.length - k)), list.slice(Math.max(0, list.length - k))]
    const [oldMessages, keptMessages] = split(messageHistory)
    const [oldSubs, keptSubs] = split(subscriberHistory)
    messageHistory = keptMessages
    subscriberHistory = keptSubs
    const snap = {
      t: 'snap' as const,
      db: this.deps.db,
      topic: this.deps.topic,
      messageHistory: [...older.messageHistory, ...oldMessages],
      subscriberHistory: [...older.subscriberHistory, ...oldSubs],
      previous,
      createdAt: now,
      expiresAt: now + LIMITS.SNAPSHOT_TTL_MS
    }
    const snapId = await prepare(snap)
    this.stats.snapshots++
    return { messageHistory, subscriberHistory, previous: snapId }
  }

  /** Signs the batch's messages once (first attempt), continuing this node's sequence for the topic. */
  private async signMessages (batch: Pending[], loaded: LoadedHead[]): Promise<void> {
    if (this.seq == null) {
      let max = 0
      for (const l of loaded) for (const e of l.state.entries.values()) if (e.m.publisher === this.deps.signer.wallet && e.m.seq > max) max = e.m.seq
      this.seq = max
    }
    for (const p of batch) {
      if (p.kind !== 'msg' || p.record != null) continue
      p.record = await signMessage({
        t: 'msg', db: this.deps.db, topic: this.deps.topic, publisher: this.deps.signer.wallet, seq: ++this.seq, data: p.data, publishedAt: p.publishedAt, expiresAt: p.publishedAt + p.ttlMs
      }, this.deps.signer, this.deps.verified)
      p.id = this.deps.loader.idOf(p.record)
    }
  }

  /** The batch is on `quorum` replicas (in our head or any head whose content includes it) and new blobs are readable elsewhere. */
  private async confirmed (ourHead: string, batchIds: string[], newBlobIds: string[]): Promise<boolean> {
    const { store, loader } = this.deps
    const quorum = await this.deps.quorum()
    const [replicas, blobsOk] = await Promise.all([
      store.readHeads(this.deps.topic, undefined, quorum - 1),
      quorum > 1 ? store.confirmBlobs(this.deps.topic, newBlobIds) : Promise.resolve(true)
    ])
    if (!blobsOk) {
      this.deps.logger.debug('commit read-back: a new record could not be read back from another replica yet')
      await store.replicas(this.deps.topic, true).catch(() => {})
      return false
    }
    this.recent = { heads: await loader.currentHeads(replicas), at: Date.now() }
    let holding = 0
    for (const r of replicas) {
      // a head listing ours as a parent is only a claim: it counts once it is loaded and holds the batch
      if (r.heads.some((h) => h.id === ourHead)) { holding++; continue }
      for (const h of r.heads) {
        const l = await loader.load(h)
        if (l != null && batchIds.every((id) => l.state.entries.has(id))) { holding++; break }
      }
    }
    if (holding >= quorum) return true
    this.deps.logger.debug('commit read-back below quorum', 'holding', holding, 'quorum', quorum, 'replicasAnswered', replicas.length)
    await store.replicas(this.deps.topic, true).catch(() => {}) // maybe a replica left: look again before retrying
    return false
  }
}

function appendHistory (history: readonly string[], id: string, max = LIMITS.HISTORY_MAX): string[] {
  const out = history.filter((h) => h !== id)
  out.push(id)
  return out.slice(-max)
}

/** Head fields other than the histories, encoded (ids, signature, writer, times): an upper estimate. */
const HEAD_OVERHEAD_BYTES = 520
