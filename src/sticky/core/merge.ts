/*
 * Merging, pure. Two merges keep acknowledged messages safe without compare-and-swap:
 *
 * 1. Replica side (mergeHeadSets): a coordinator key holds a SET of heads. A stored head is only
 *    ever removed when another head lists it as a parent AND that head's content provably includes
 *    the parent's (contentIncludes, checked by the caller against records it holds: a signed claim
 *    alone proves nothing, a compromised wallet can sign any parent list). So a head's messages are
 *    always in some head that is kept. Concurrent writers leave sibling heads; the next writer
 *    merges them. The set is never truncated: the caller refuses a put that would overflow it.
 *
 * 2. Writer side (mergeStates): union of messages by id, union of subscribers by client (latest
 *    update wins), union of histories, version above every input. A message that was not in every
 *    parent gets the new version as its `addedInVersion`, so "messages added after version v" stays
 *    a complete delta for anyone who has seen a head of version v.
 */
import { LIMITS, type Entry, type HeadRecord, type MessageRecord, type SubscriberEntry } from './records.js'
import { byteLength } from './codec.js'

/** The content of one topic version, with messages and subscribers loaded. */
export interface TopicState {
  version: number
  entries: ReadonlyMap<string, Entry>
  subs: ReadonlyMap<string, SubscriberEntry>
  messageHistory: readonly string[]
  subscriberHistory: readonly string[]
  previous: string | null
  createdAt: number
}

/** How long an expired subscriber entry is kept (as a tombstone) before merges drop it. */
export const SUBSCRIBER_TOMBSTONE_MS = 3_600_000

/** Subscribers whose subscription has not expired. */
export function liveSubscribers (subs: ReadonlyMap<string, SubscriberEntry>, now: number): SubscriberEntry[] {
  return [...subs.values()].filter((s) => s.expiresAt > now)
}

export const EMPTY_STATE: TopicState = { version: 0, entries: new Map(), subs: new Map(), messageHistory: [], subscriberHistory: [], previous: null, createdAt: 0 }

/** API order: publishedAt, then publisher, then publisher sequence. */
export function compareMessages (a: MessageRecord, b: MessageRecord): number {
  return a.publishedAt - b.publishedAt || (a.publisher < b.publisher ? -1 : a.publisher > b.publisher ? 1 : 0) || a.seq - b.seq
}

/** Page order: addedInVersion first, so new messages append and old pages stay unchanged. */
export function compareEntries (a: Entry, b: Entry): number {
  return a.v - b.v || compareMessages(a.m, b.m)
}

export function laterSubscriber (a: SubscriberEntry, b: SubscriberEntry): SubscriberEntry {
  if (a.updatedAt !== b.updatedAt) return a.updatedAt > b.updatedAt ? a : b
  if (a.expiresAt !== b.expiresAt) return a.expiresAt > b.expiresAt ? a : b
  return a.subscribedAt <= b.subscribedAt ? a : b
}

/** Union of histories, order of first appearance (inputs sorted for determinism), last `max` kept. */
export function mergeHistories (lists: ReadonlyArray<readonly string[]>, max = LIMITS.HISTORY_MAX): string[] {
  const seen = new Set<string>()
  const sorted = [...lists].sort((a, b) => b.length - a.length || (a.join() < b.join() ? -1 : 1))
  for (const list of sorted) for (const id of list) seen.add(id)
  const all = [...seen]
  return all.slice(Math.max(0, all.length - max))
}

/**
 * Merges parent states into the content of the next version. Expired messages and subscribers
 * are dropped (pages keep expired entries until the whole page expires, see paginate(); readers
 * filter them out).
 */
export function mergeStates (parents: readonly TopicState[], now: number, minVersion = 1): TopicState {
  if (parents.length === 0) return { ...EMPTY_STATE, entries: new Map(), subs: new Map(), version: minVersion, createdAt: now }
  const version = Math.max(minVersion, Math.max(...parents.map((p) => p.version)) + 1)
  const entries = new Map<string, Entry>()
  for (const p of parents) {
    for (const [id, e] of p.entries) {
      const prev = entries.get(id)
      if (prev == null || e.v > prev.v) entries.set(id, e)
    }
  }
  if (parents.length > 1) {
    // A reader who synced parent P asks for entries added after P's version. An entry P lacks must
    // therefore carry a version above P's: re-stamp it with the merge version when it does not.
    // (An entry newer than P already does: merging an ancestor with its descendant re-stamps
    // nothing, so the descendant's pages stay as they are.)
    for (const [id, e] of entries) {
      if (parents.some((p) => p.version >= e.v && !p.entries.has(id))) entries.set(id, { m: e.m, v: version })
    }
  }
  const subs = new Map<string, SubscriberEntry>()
  for (const p of parents) {
    for (const [client, s] of p.subs) {
      const prev = subs.get(client)
      subs.set(client, prev == null ? s : laterSubscriber(prev, s))
    }
  }
  // an expired subscriber entry is kept for a grace period as a tombstone, so an older live entry
  // for the same client in another head cannot come back through a later merge
  for (const [client, s] of subs) if (s.expiresAt + SUBSCRIBER_TOMBSTONE_MS <= now) subs.delete(client)
  for (const [id, e] of entries) if (e.m.expiresAt <= now) entries.delete(id)
  const previous = parents.map((p) => p.previous).filter((x): x is string => x != null).sort()[0] ?? null
  return {
    version,
    entries,
    subs,
    messageHistory: mergeHistories(parents.map((p) => p.messageHistory)),
    subscriberHistory: mergeHistories(parents.map((p) => p.subscriberHistory)),
    previous,
    createdAt: Math.min(...parents.map((p) => p.createdAt || now))
  }
}

/**
 * Replica-side merge of two head sets: union by id, minus the heads another head of the union lists
 * as a parent and `includes` (child, parentId) confirms it holds the content of. Nothing is
 * truncated (a head no kept head includes is never dropped): bounding the set is the caller's job,
 * by refusing a put that would overflow it (the writer then merges the heads first). Sorted by
 * version, highest first, then id.
 */
export function mergeHeadSets<H extends Pick<HeadRecord, 'version' | 'parents'>> (a: ReadonlyArray<{ id: string, head: H }>, b: ReadonlyArray<{ id: string, head: H }>, includes: (child: { id: string, head: H }, parentId: string) => boolean): Array<{ id: string, head: H }> {
  const byId = new Map<string, { id: string, head: H }>()
  for (const h of [...a, ...b]) byId.set(h.id, h)
  const superseded = new Set<string>()
  for (const child of byId.values()) {
    for (const p of child.head.parents) if (p !== child.id && byId.has(p) && includes(child, p)) superseded.add(p)
  }
  return [...byId.values()]
    .filter((h) => !superseded.has(h.id))
    .sort((x, y) => y.head.version - x.head.version || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
}

/** A head's content as far as inclusion needs it: message ids (with the entries) and subscribers. */
export interface ContentView {
  entries: ReadonlyMap<string, Pick<Entry, 'm'>>
  subs: ReadonlyMap<string, SubscriberEntry>
}

/**
 * Whether `child` holds everything of `parent` that still matters at `now` (the checker's clock):
 * every message that has not expired, and for each subscriber an entry at least as recent (or the
 * parent's entry is past its tombstone period). `skewMs` of clock difference is tolerated: a
 * writer whose clock is that much ahead may already have dropped what is about to expire.
 * `counts(m)` leaves out messages that no longer matter (e.g. their publisher left the registry).
 */
export function contentIncludes (child: ContentView, parent: ContentView, now: number, skewMs: number, counts: (m: MessageRecord) => boolean = () => true): boolean {
  const horizon = now + skewMs
  for (const [id, e] of parent.entries) {
    if (e.m.expiresAt <= horizon || !counts(e.m)) continue
    if (!child.entries.has(id)) return false
  }
  for (const [client, s] of parent.subs) {
    if (s.expiresAt + SUBSCRIBER_TOMBSTONE_MS <= horizon) continue
    const c = child.subs.get(client)
    if (c == null || laterSubscriber(c, s) !== c) return false
  }
  return true
}

/** Rank of a head set for kad-dht's selector: highest version, then smallest id (deterministic). */
export function headSetRank (heads: ReadonlyArray<{ id: string, head: Pick<HeadRecord, 'version'> }>): [number, string] {
  let best: [number, string] = [0, '']
  for (const { id, head } of heads) {
    if (head.version > best[0] || (head.version === best[0] && id < best[1])) best = [head.version, id]
  }
  return best
}

export interface Page { id?: string, entries: Entry[] }

/** Small pages allowed after the last full page before they are compacted into full ones. */
export const TAIL_PAGES_MAX = 8

/**
 * Lays entries out in pages, log-structured: pages of `base` (the previous layout) are kept
 * unchanged from the start while all their entries are still present with the same version (a
 * kept page whose messages have all expired is dropped whole); new or restamped entries go to new
 * pages after them. Re-writing a page costs every replica a signature check per message in it, so
 * a commit writes only its own entries, and the small pages at the tail are compacted into full
 * ones once there are more than TAIL_PAGES_MAX of them (each message is rewritten O(1) times).
 */
export function paginate (entries: ReadonlyMap<string, Entry>, base: readonly Page[], idOf: (m: MessageRecord) => string, now: number): Page[] {
  const out: Page[] = []
  const placed = new Set<string>()
  for (const page of base) {
    const unchanged = page.entries.every((e) => e.m.expiresAt <= now || entries.get(idOf(e.m))?.v === e.v)
    if (!unchanged) break
    for (const e of page.entries) placed.add(idOf(e.m))
    if (page.entries.every((e) => e.m.expiresAt <= now)) continue
    out.push(page)
  }
  const rest = [...entries.entries()].filter(([id]) => !placed.has(id)).map(([, e]) => e).sort(compareEntries)
  out.push(...chunk(rest))
  let lastFull = -1
  out.forEach((p, i) => { if (isFull(p)) lastFull = i })
  if (out.length - lastFull - 1 > TAIL_PAGES_MAX) {
    const tail = out.splice(lastFull + 1).flatMap((p) => p.entries.filter((e) => e.m.expiresAt > now))
    out.push(...chunk(tail.sort(compareEntries)))
  }
  return out
}

function isFull (page: Page): boolean {
  return page.entries.length >= LIMITS.PAGE_MAX_ENTRIES || byteLength(page.entries) > LIMITS.PAGE_MAX_BYTES / 2
}

function chunk (sorted: Entry[]): Page[] {
  const out: Page[] = []
  let current: Entry[] = []
  let bytes = 0
  for (const e of sorted) {
    const size = byteLength(e) + 1
    if (current.length > 0 && (current.length >= LIMITS.PAGE_MAX_ENTRIES || bytes + size > LIMITS.PAGE_MAX_BYTES - 256)) {
      out.push({ entries: current })
      current = []
      bytes = 0
    }
    current.push(e)
    bytes += size
  }
  if (current.length > 0) out.push({ entries: current })
  return out
}
