/*
 * A replica's proof that one head's content includes another's, from the records it holds. A head
 * lists the heads it merged as `parents`, but a compromised wallet can sign any list: a replica
 * drops a parent only when the claimant provably holds the parent's unexpired messages and
 * subscribers (merge.ts contentIncludes). Pages are immutable and content-addressed, so pages both
 * roots list are equal; only the parent's pages the child does not list are read, message by
 * message. A replica stores a head only once it holds every record the head references (holds()),
 * and deletes a record only once it expired; so a parent record it does not hold has expired and
 * needs no inclusion. A child record it does not hold proves nothing: the parent stays.
 */
import { decodeJson } from './codec.js'
import { blobKey } from './keys.js'
import { contentIncludes } from './merge.js'
import { checkPage, checkRoot, checkSubs, LIMITS, type Entry, type HeadRecord, type MessageRecord, type RootRecord, type SubscriberEntry } from './records.js'
import { messageId } from './signing.js'

/** Reads this node's own stored copy of a sticky record. */
export interface LocalRecords {
  get(key: Uint8Array): Promise<Uint8Array | undefined>
  has(key: Uint8Array): Promise<boolean>
}

interface PageSummary { entries: Map<string, Pick<Entry, 'm'>> }

/** parsed page summaries kept (pages are immutable: a summary never goes stale) */
const SUMMARY_CACHE = 512

export class LocalInclusion {
  private readonly summaries = new Map<string, PageSummary>()

  constructor (private readonly records: LocalRecords, private readonly isAuthorized: (db: string, wallet: string) => boolean) {}

  /** Every record `head` references (root, its pages, subscriber collection) is stored here. */
  async holds (head: HeadRecord): Promise<boolean> {
    if (head.subscribers != null && !await this.records.has(blobKey(head.db, head.subscribers))) return false
    if (head.messages == null) return true
    const root = await this.root(head.db, head.messages)
    if (root == null || root.topic !== head.topic) return false
    for (const id of root.pages) if (!await this.records.has(blobKey(head.db, id))) return false
    return true
  }

  /** `child` provably holds the unexpired content of `parent` (see the file comment). */
  async includes (child: HeadRecord, parent: HeadRecord, now: number): Promise<boolean> {
    const counts = (m: MessageRecord): boolean => this.isAuthorized(parent.db, m.publisher)
    const empty = new Map()
    if (parent.messages != null && parent.messages !== child.messages) {
      const parentRoot = await this.root(parent.db, parent.messages)
      if (parentRoot != null) {
        const childRoot = child.messages == null ? { pages: [] as string[] } : await this.root(child.db, child.messages)
        if (childRoot == null) return false
        const childPages = new Set(childRoot.pages)
        const parentPages = new Set(parentRoot.pages)
        const parentEntries = new Map<string, Pick<Entry, 'm'>>()
        for (const id of parentRoot.pages) {
          if (childPages.has(id)) continue
          const s = await this.page(parent.db, id)
          if (s != null) for (const [k, e] of s.entries) parentEntries.set(k, e)
        }
        const live = [...parentEntries.values()].some((e) => e.m.expiresAt > now + LIMITS.MAX_CLOCK_SKEW_MS && counts(e.m))
        if (live) {
          const childEntries = new Map<string, Pick<Entry, 'm'>>()
          for (const id of childRoot.pages) {
            if (parentPages.has(id)) continue
            const s = await this.page(child.db, id)
            if (s == null) return false
            for (const [k, e] of s.entries) childEntries.set(k, e)
          }
          if (!contentIncludes({ entries: childEntries, subs: empty }, { entries: parentEntries, subs: empty }, now, LIMITS.MAX_CLOCK_SKEW_MS, counts)) return false
        }
      }
    }
    if (parent.subscribers != null && parent.subscribers !== child.subscribers) {
      const parentSubs = await this.subs(parent.db, parent.subscribers)
      if (parentSubs != null) {
        const childSubs = child.subscribers == null ? [] : await this.subs(child.db, child.subscribers)
        if (childSubs == null) return false
        const toMap = (list: SubscriberEntry[]): Map<string, SubscriberEntry> => new Map(list.map((s) => [s.client, s]))
        if (!contentIncludes({ entries: empty, subs: toMap(childSubs) }, { entries: empty, subs: toMap(parentSubs) }, now, LIMITS.MAX_CLOCK_SKEW_MS)) return false
      }
    }
    return true
  }

  private async read (db: string, id: string): Promise<unknown> {
    const bytes = await this.records.get(blobKey(db, id))
    return bytes == null ? undefined : decodeJson(bytes)
  }

  private async root (db: string, id: string): Promise<RootRecord | undefined> {
    const r = checkRoot(await this.read(db, id))
    return typeof r === 'string' ? undefined : r
  }

  private async subs (db: string, id: string): Promise<SubscriberEntry[] | undefined> {
    const r = checkSubs(await this.read(db, id))
    return typeof r === 'string' ? undefined : r.subs
  }

  private async page (db: string, id: string): Promise<PageSummary | undefined> {
    const cached = this.summaries.get(id)
    if (cached != null) return cached
    const r = checkPage(await this.read(db, id))
    if (typeof r === 'string') return undefined
    const entries = new Map<string, Pick<Entry, 'm'>>()
    // only what inclusion needs; the message data is not kept
    for (const e of r.entries) entries.set(messageId(e.m), { m: { expiresAt: e.m.expiresAt, publisher: e.m.publisher } as MessageRecord })
    if (this.summaries.size >= SUMMARY_CACHE) this.summaries.delete(this.summaries.keys().next().value!)
    const summary = { entries }
    this.summaries.set(id, summary)
    return summary
  }
}
