/*
 * What a commit writes, decided without any I/O. Given the heads a committer loaded, the batch
 * (signed messages, subscriber updates) and the clock, it decides:
 *   planMerge:   the new version (above every head and any recovered version), the merged
 *                messages and subscribers, which subscriber joins are refused (maxSubscribers),
 *                the page layout, and which earlier records the new version keeps referencing;
 *   planRecords: the new records (pages, root, subscriber collection, snapshot when the
 *                histories outgrow the head) and the unsigned head with its parents.
 * The committer (topic/committer.ts) does the network around it: read heads, load, sign, store,
 * read back. Pure: imports nothing but the other core modules.
 */
import { TooManySubscribersError } from './errors.js'
import { encodedSize, entriesExpiry, historyToKeep, isRetired, subscribersExpiry } from './lifecycle.js'
import { liveSubscribers, mergeHistories, mergeStates, paginate, type Page, type TopicState } from './merge.js'
import { LIMITS, type Entry, type HeadRecord, type MessageRecord, type PageRecord, type RootRecord, type SnapRecord, type SubsRecord, type SubscriberEntry } from './records.js'

/** A head whose content loaded (topic/state-loader.ts LoadedHead). */
export interface PlanHead { id: string, head: HeadRecord, state: TopicState, pages: Page[] }

/** One queued item of a batch: a signed message (with its id), a subscriber update, or nothing (a touch). */
export type BatchItem = { kind: 'msg', id: string, record: MessageRecord } | { kind: 'sub', entry: SubscriberEntry } | { kind: 'touch' }

export interface MergeInput {
  topic: string
  /** every current head seen (loaded or not): the version goes above all of them */
  headVersions: number[]
  /** the heads whose content loaded (after any recovery substitution) */
  loaded: PlanHead[]
  /** a recovered channel's highest version seen: the new version goes above it too */
  versionFloor: number
  batch: BatchItem[]
  now: number
  maxSubscribers: number
  idOf: (m: MessageRecord) => string
}

export interface MergePlan {
  /** the merged content at the new version (`merged.version`) */
  merged: TopicState
  entries: Map<string, Entry>
  /** the batch's messages as entries (one per message item, in batch order) */
  added: Entry[]
  subs: Map<string, SubscriberEntry>
  /** per batch item: the error refusing a subscriber join, else undefined */
  refused: Array<TooManySubscribersError | undefined>
  /** the new page layout; pages with an `id` are kept from a loaded head */
  pages: Page[]
  /** ids of earlier records the new version references (kept pages, loaded subscriber collections) */
  keep: string[]
}

export function planMerge (input: MergeInput): MergePlan {
  const { loaded, now } = input
  const topVersion = Math.max(input.versionFloor, ...input.headVersions)
  const merged = mergeStates(loaded.map((l) => l.state), now, topVersion + 1)
  const entries = new Map(merged.entries)
  const added: Entry[] = []
  const subs = new Map(merged.subs)
  const refused: Array<TooManySubscribersError | undefined> = []
  for (const p of input.batch) {
    let refusal: TooManySubscribersError | undefined
    if (p.kind === 'msg') {
      const e = entries.get(p.id) ?? { m: p.record, v: merged.version }
      entries.set(p.id, e)
      added.push(e)
    } else if (p.kind === 'sub') {
      const current = subs.get(p.entry.client)
      const joining = p.entry.expiresAt > now && (current == null || current.expiresAt <= now)
      refusal = joining && liveSubscribers(subs, now).length >= input.maxSubscribers
        ? new TooManySubscribersError(input.topic, input.maxSubscribers)
        : undefined
      if (refusal == null) subs.set(p.entry.client, p.entry)
    }
    refused.push(refusal)
  }
  const base = [...loaded].sort((a, b) => b.head.version - a.head.version)[0]
  const pages = paginate(entries, base?.pages ?? [], input.idOf, now)
  const keep = [...pages.map((p) => p.id), ...loaded.flatMap((l) => [l.head.subscribers])].filter((id): id is string => id != null)
  return { merged, entries, added, subs, refused, pages, keep }
}

/** The distinct snapshot links of the loaded heads: more than one means their chains must be joined (walk each first). */
export function snapshotLinks (loaded: readonly PlanHead[]): string[] {
  return [...new Set(loaded.map((l) => l.head.previous).filter((x): x is string => x != null))]
}

export interface RecordsInput {
  db: string
  topic: string
  writer: string
  plan: MergePlan
  loaded: PlanHead[]
  /** broken heads a recovery supersedes: listed as parents so replicas drop them */
  supersede: string[]
  /** the walked chains of snapshotLinks(loaded), when there is more than one link */
  chains: Array<{ messageHistory: string[], subscriberHistory: string[] }>
  now: number
  gcGraceMs: number
  /**
   * Takes a new record and returns its content id. The committer's prepare signs roots, subscriber
   * collections and snapshots (adding `writer` and `sig`), then encodes and validates the record
   * for storing; records are prepared in write order: pages, root, subscribers, snapshot.
   */
  prepare: (record: PlannedRecord) => Promise<string>
}

/** A record as planned: pages as stored, roots, subscriber collections and snapshots before their writer signs them. */
export type PlannedRecord = PageRecord | Omit<RootRecord, 'writer' | 'sig'> | Omit<SubsRecord, 'writer' | 'sig'> | Omit<SnapRecord, 'writer' | 'sig'>

export interface RecordsPlan {
  head: Omit<HeadRecord, 'sig'>
  /** a snapshot was cut (the histories outgrew the head, or concurrent chains were joined) */
  snapshot: boolean
}

export async function planRecords (input: RecordsInput): Promise<RecordsPlan> {
  const { db, topic, plan, loaded, now, prepare } = input
  const grace = input.gcGraceMs
  const pageIds: string[] = []
  for (const page of plan.pages) pageIds.push(page.id ?? await prepare({ t: 'page', db, topic, entries: page.entries, expiresAt: entriesExpiry(page.entries, grace, 0) }))
  const subList = [...plan.subs.values()].sort((a, b) => (a.client < b.client ? -1 : 1))
  const rootExpiry = entriesExpiry(plan.pages.flatMap((p) => p.entries), grace, now)
  const subsExpiry = subscribersExpiry(subList, grace, now)
  const rootId = await prepare({ t: 'root', db, topic, pages: pageIds, count: plan.entries.size, expiresAt: rootExpiry })
  const subsId = plan.subs.size > 0 ? await prepare({ t: 'subs', db, topic, subs: subList, expiresAt: subsExpiry }) : null
  const expiresAt = Math.max(rootExpiry, subsExpiry)
  const { snapshot, ...histories } = await compactHistories(input, rootId, subsId, expiresAt)
  const createdAt = plan.merged.createdAt || now
  const head: Omit<HeadRecord, 'sig'> = {
    t: 'head',
    db,
    topic,
    version: plan.merged.version,
    messages: rootId,
    subscribers: subsId,
    ...histories,
    // a recovery head also supersedes the unloadable heads it replaces, so replicas drop them
    parents: [...new Set([...loaded.map((l) => l.id), ...input.supersede])].sort().slice(-LIMITS.MAX_PARENTS),
    createdAt,
    // never before the topic's creation: `now` is read when the attempt starts, and a concurrent
    // writer's first head (or one from a host whose clock runs ahead) stamped later may be loaded
    // as a parent afterwards; a head dated before its own createdAt is refused by every replica
    lastModified: Math.max(now, createdAt),
    state: 'ACTIVE',
    retired: isRetired(plan.entries.values(), plan.subs.values(), now),
    expiresAt,
    writer: input.writer
  }
  return { head, snapshot }
}

/**
 * The head's histories with the new collection ids appended, and its snapshot link. Keeps the
 * head under LIMITS.HEAD_TARGET_BYTES: when it would grow past it (or a history reaches
 * HISTORY_MAX), the older entries go into a snapshot linked to the previous one. When the merged
 * heads link different snapshots, their walked chains are joined into one snapshot, so no history
 * is lost.
 */
async function compactHistories (input: RecordsInput, rootId: string, subsId: string | null, headExpiresAt: number): Promise<Pick<HeadRecord, 'messageHistory' | 'subscriberHistory' | 'previous'> & { snapshot: boolean }> {
  const { plan, topic, now } = input
  const merged = plan.merged
  let messageHistory = appendHistory(merged.messageHistory, rootId, Infinity)
  let subscriberHistory = subsId == null ? [...merged.subscriberHistory] : appendHistory(merged.subscriberHistory, subsId, Infinity)
  let previous = merged.previous
  const links = snapshotLinks(input.loaded)
  let older: { messageHistory: string[], subscriberHistory: string[] } = { messageHistory: [], subscriberHistory: [] }
  if (links.length > 1) {
    // concurrent snapshots: join their chains (bounded depth) into one
    const chains = input.chains
    older = { messageHistory: mergeHistories(chains.map((c) => c.messageHistory), Infinity), subscriberHistory: mergeHistories(chains.map((c) => c.subscriberHistory), Infinity) }
    previous = null
  }
  const estimate = (keep: number): number => encodedSize({ messageHistory: messageHistory.slice(-keep || messageHistory.length), subscriberHistory: subscriberHistory.slice(-keep || subscriberHistory.length) }) + HEAD_OVERHEAD_BYTES + topic.length
  const keep = historyToKeep({ messageHistory, subscriberHistory }, (k) => estimate(k === 0 ? 1 : k))
  if (keep == null && links.length <= 1) return { messageHistory, subscriberHistory, previous, snapshot: false }
  const k = keep ?? LIMITS.HISTORY_KEEP
  const split = (list: string[]): [string[], string[]] => [list.slice(0, Math.max(0, list.length - k)), list.slice(Math.max(0, list.length - k))]
  const [oldMessages, keptMessages] = split(messageHistory)
  const [oldSubs, keptSubs] = split(subscriberHistory)
  messageHistory = keptMessages
  subscriberHistory = keptSubs
  const snapId = await input.prepare({
    t: 'snap',
    db: input.db,
    topic,
    messageHistory: [...older.messageHistory, ...oldMessages],
    subscriberHistory: [...older.subscriberHistory, ...oldSubs],
    previous,
    createdAt: now,
    // roots and subscriber collections are cumulative (each holds every live entry of the topic), so
    // the older ones a snapshot lists hold nothing that outlives the new head's content: the snapshot
    // expires with the head, and at most SNAPSHOT_TTL_MS after its creation
    expiresAt: Math.min(now + LIMITS.SNAPSHOT_TTL_MS, headExpiresAt)
  })
  return { messageHistory, subscriberHistory, previous: snapId, snapshot: true }
}

function appendHistory (history: readonly string[], id: string, max: number = LIMITS.HISTORY_MAX): string[] {
  const out = history.filter((h) => h !== id)
  out.push(id)
  return out.slice(-max)
}

/** Head fields other than the histories, encoded (ids, signature, writer, times): an upper estimate. */
const HEAD_OVERHEAD_BYTES = 520
