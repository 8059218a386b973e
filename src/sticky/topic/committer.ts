/*
 * The write path of one sticky topic on this node. Publishes and subscriber updates queue up and
 * are committed together (a batch flushes after `flushDelayMs` or at `maxBatch` items), so N
 * concurrent publishes cost far fewer than N coordinator writes. A commit:
 *   read the heads from the replicas -> load and merge every head it can (union) -> add the batch
 *   at a version above all heads -> store new pages, root, subscribers, then the signed head ->
 *   read back from the replicas until the batch is present on `quorum` of them (retry with
 *   jittered backoff, bounded by the commit deadline).
 * Heads that cannot be loaded are not listed as parents, so replicas keep them: nothing is dropped.
 * What a commit writes is decided by the pure functions in core/commit-plan.ts; this file does the
 * queueing, the network around them and recovery of unloadable heads.
 */
import { planMerge, planRecords, snapshotLinks, type BatchItem } from '../core/commit-plan.js'
import type { Entry, HeadRecord, MessageRecord, RootRecord, SnapRecord, SubsRecord, SubscriberEntry } from '../core/records.js'
import { headId, signHead, signMessage, signRecord, type Signer, type VerifiedSignatures } from '../core/signing.js'
import type { StateLoader, LoadedHead } from './state-loader.js'
import type { PreparedBlob, StickyStore } from '../replica/store.js'
import type { Logger } from '../../logger.js'
import { ChannelFailedError, NoQuorumError, NotAuthorizedError, StickyCommitError } from '../core/errors.js'
import type { HeadWithId } from '../core/validation.js'
import type { HistoryLists } from './history.js'
import { sleep } from '../../abort.js'

/** While a topic has too few replicas for the quorum, look for them again this often. */
const QUORUM_POLL_MS = 250

/** How long the heads seen by a read-back may stand in for a fresh read at the next commit. */
const RECENT_HEADS_MS = 1_000

export interface CommitResult { version: number, headId: string, head: HeadRecord, entries: Entry[] }

export interface Recovered { base: HeadWithId, loaded: LoadedHead, supersede: string[], topVersion: number }

interface PendingMessage { kind: 'msg', data: unknown, ttlMs: number, publishedAt: number, record?: MessageRecord, id?: string, resolve: (r: { messageId: string, version: number, publisherSequence: number }) => void, reject: (e: unknown) => void }
interface PendingSub { kind: 'sub', entry: SubscriberEntry, refused?: Error, resolve: (version: number) => void, reject: (e: unknown) => void }
interface PendingTouch { kind: 'touch', resolve: (version: number) => void, reject: (e: unknown) => void }
/** `at`: when it was queued; its answer is due by at + commitDeadlineMs, however long the batches before it took */
type Pending = (PendingMessage | PendingSub | PendingTouch) & { at?: number }

/** What a committer needs from the record store (replica/store.ts). */
export type CommitStore = Pick<StickyStore, 'readHeads' | 'ensureReplicated' | 'prepareBlob' | 'putCommit' | 'confirmBlobs' | 'replicas'>

export interface CommitterDeps {
  store: CommitStore
  loader: StateLoader
  signer: Signer
  /** this node's verified-signature cache: messages it signs are entered as checked */
  verified?: VerifiedSignatures
  db: string
  topic: string
  /**
   * Distinct nodes (this one included) that must hold a commit before it is acknowledged (`need`)
   * and how many the topic has now (`have`); `refresh` looks for replicas again first.
   */
  quorum: (refresh?: boolean) => Promise<{ need: number, have: number }>
  /**
   * Called when a current head has stayed unloadable for recoveryAfterMs: reads every replica and
   * returns the highest loadable version plus the broken heads it supersedes, or undefined.
   */
  recover: (isBroken: (headId: string) => boolean) => Promise<Recovered | undefined>
  /** walks a snapshot chain (see StickyPubSub.loadFullHistory) */
  history: { walk: (topic: string, snapshotId: string, maxDepth: number) => Promise<HistoryLists> }
  onCommitted?: (result: CommitResult, info: { durationMs: number, items: number }) => void
  /** called once the first attempt's head is written, before the read-back (early push) */
  onWritten?: (result: CommitResult) => void
  /**
   * This node's wallet is authorized for the database now. Checked before every network step: once
   * the registry drops the wallet, replicas refuse what it signs, so a queued commit fails at once
   * with NotAuthorizedError instead of retrying until its deadline (and holding up disconnect()).
   */
  writerAuthorized?: () => boolean
  logger: Logger
}

/** A committer's settings: the sticky options of the same names (src/sticky/options.ts declares them with their defaults). */
export interface CommitterOptions {
  flushDelayMs: number
  maxBatch: number
  commitDeadlineMs: number
  /** live subscribers a topic may have: a new one above it is refused (maxSubscribersPerTopic) */
  maxSubscribers: number
  /** added to content expiry of collections and heads */
  gcGraceMs: number
  /** a head unloadable this long is treated as broken and recovery runs */
  recoveryAfterMs: number
  /** the configured write quorum (what NoQuorumError names before any replica lookup finished) */
  writeQuorum: number
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
    p.at = this.lastUsed
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
          // A commit runs to its oldest item's deadline. When that passes, only the items whose own
          // deadline has passed are answered; the others (queued while an earlier batch was failing)
          // go back to the front of the queue with their signed records, so every publish is answered
          // within commitDeadlineMs of its call. Before, a publish queued behind a batch that waited
          // out its deadline waited for a second one (the chaos suite's outsider: 16 answers late).
          const now = Date.now()
          const retry = new Set(err instanceof StickyCommitError || err instanceof NoQuorumError
            ? batch.filter((p) => p.at! + this.options.commitDeadlineMs > now)
            : [])
          for (const p of batch) if (!retry.has(p)) p.reject(err)
          this.queue.unshift(...retry)
        }
      }
    })().finally(() => { this.running = undefined })
  }

  private async commit (batch: Pending[]): Promise<CommitResult> {
    const oldest = Math.min(...batch.map((p) => p.at!))
    const deadline = oldest + this.options.commitDeadlineMs
    const { store, loader, logger } = this.deps
    await this.awaitQuorum(oldest, deadline)
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) await this.awaitQuorum(oldest, deadline)
      // The deadline is checked before every network step, not only between attempts: an attempt
      // takes several request rounds (each up to requestTimeoutMs), and one started just before the
      // deadline answered its publishers up to half a minute late (the chaos suite's slow links).
      const due = (): void => {
        this.assertWriter()
        if (Date.now() > deadline) throw new StickyCommitError(this.deps.topic, attempt)
      }
      this.stats.attempts++
      const now = Date.now()
      // Reusing the heads our own last read-back saw is safe even if they are stale: a head we do not
      // list as a parent stays on the replicas as a sibling and is merged by the next write.
      const fresh = attempt === 1 && this.recent != null && Date.now() - this.recent.at < RECENT_HEADS_MS
      let heads = fresh ? this.recent!.heads : await loader.currentHeads(await store.readHeads(this.deps.topic))
      this.recent = undefined
      due()
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
      // normal under concurrent writers: a sibling head whose pages are still reaching the replicas;
      // one that stays unloadable is handled (and logged at warn) by recovery after recoveryAfterMs
      if (loaded.length < heads.length) logger.debug('some coordinator heads could not be loaded yet; keeping them as siblings', 'heads', heads.length, 'loaded', loaded.length)
      if (heads.length > 1) { this.stats.merges++; if (attempt === 1) this.stats.conflicts++ }
      await this.signMessages(batch, loaded)
      const plan = planMerge({
        topic: this.deps.topic,
        headVersions: heads.map((h) => h.head.version),
        loaded,
        versionFloor,
        batch: batch.map(toBatchItem),
        now,
        maxSubscribers: this.options.maxSubscribers,
        idOf: loader.idOf
      })
      batch.forEach((p, i) => { if (p.kind === 'sub') p.refused = plan.refused[i] })
      due()
      await store.ensureReplicated(this.deps.topic, plan.keep)
      due()
      const links = snapshotLinks(loaded)
      // concurrent snapshots: their chains (bounded depth) are joined into one
      const chains = links.length > 1 ? await Promise.all(links.map(async (link) => await this.deps.history.walk(this.deps.topic, link, 10))) : []
      // every new record of this version is built here and stored together with the head (putCommit)
      const blobs: PreparedBlob[] = []
      const records = await planRecords({
        db: this.deps.db,
        topic: this.deps.topic,
        writer: this.deps.signer.wallet,
        plan,
        loaded,
        supersede,
        chains,
        now,
        gcGraceMs: this.options.gcGraceMs,
        prepare: async (record) => {
          // roots, subscriber collections and snapshots are signed by this writer, like its head
          const signed = record.t === 'page' ? record : await signRecord<RootRecord | SubsRecord | SnapRecord>({ ...record, writer: this.deps.signer.wallet } as any, this.deps.signer)
          const b = store.prepareBlob(this.deps.topic, signed)
          blobs.push(b)
          return b.id
        }
      })
      if (records.snapshot) this.stats.snapshots++
      const head = await signHead(records.head, this.deps.signer)
      const version = plan.merged.version
      const added = plan.added
      const id = headId(head)
      due()
      await store.putCommit(this.deps.topic, blobs, head)
      const newBlobIds = blobs.filter((b) => b.fresh).map((b) => b.id)
      if (attempt === 1) this.deps.onWritten?.({ version, headId: id, head, entries: added })
      const batchIds = batch.filter((p): p is PendingMessage => p.kind === 'msg').map((p) => p.id!)
      if (await this.confirmed(id, batchIds, newBlobIds)) {
        this.stats.commits++
        this.stats.messages += batchIds.length
        return { version, headId: id, head, entries: added }
      }
      this.stats.retries++
      if (Date.now() > deadline) throw new StickyCommitError(this.deps.topic, attempt)
      const backoff = Math.min(1_000, 20 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random())
      logger.debug('commit not confirmed yet; retrying', 'topic', this.deps.topic, 'attempt', attempt, 'backoffMs', Math.round(backoff))
      await sleep(backoff)
    }
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

  /** NotAuthorizedError once this node's wallet has left the registry (see CommitterDeps.writerAuthorized) */
  private assertWriter (): void {
    if (this.deps.writerAuthorized?.() === false) throw new NotAuthorizedError(this.deps.signer.wallet, this.deps.db)
  }

  /**
   * Waits until the topic has enough replica-capable nodes for the quorum (looking for replicas
   * again every QUORUM_POLL_MS); at the deadline, NoQuorumError naming how many it had. Nothing is
   * written before: a commit that cannot be acknowledged does not start.
   */
  private async awaitQuorum (started: number, deadline: number): Promise<void> {
    // a replica lookup (a DHT query) may take longer than the deadline leaves: it does not extend it
    const lookup = async (refresh: boolean): Promise<{ need: number, have: number } | undefined> =>
      await Promise.race([this.deps.quorum(refresh), sleep(Math.max(0, deadline - Date.now())).then(() => undefined)])
    let last = { need: this.options.writeQuorum, have: 1 }
    let q = await lookup(false)
    if (q != null && q.have >= q.need) return
    this.deps.logger.debug('waiting for enough replicas for the write quorum', 'topic', this.deps.topic, 'have', q?.have, 'need', q?.need)
    while (q == null || q.have < q.need) {
      this.assertWriter()
      if (q != null) last = q
      const left = deadline - Date.now()
      if (left <= 0) throw new NoQuorumError(this.deps.topic, last.have, last.need, Date.now() - started)
      await sleep(Math.min(QUORUM_POLL_MS, left))
      q = await lookup(true)
    }
  }

  /** The batch is on `quorum` replicas (in our head or any head whose content includes it) and new blobs are readable elsewhere. */
  private async confirmed (ourHead: string, batchIds: string[], newBlobIds: string[]): Promise<boolean> {
    const { store, loader } = this.deps
    const quorum = (await this.deps.quorum()).need
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

function toBatchItem (p: Pending): BatchItem {
  if (p.kind === 'msg') return { kind: 'msg', id: p.id!, record: p.record! }
  if (p.kind === 'sub') return { kind: 'sub', entry: p.entry }
  return { kind: 'touch' }
}
