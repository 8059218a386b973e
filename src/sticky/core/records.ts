/*
 * Sticky record types and their validation. Pure: no libp2p imports.
 *
 *   message  signed by its publisher; id = content id of the signed payload
 *   page     up to PAGE_MAX_ENTRIES message entries ({ m: message, v: addedInVersion }), immutable
 *   root     the message collection: ordered page ids + counts, immutable, signed by its writer
 *   subs     the subscriber collection, immutable, signed by its writer
 *   head     a coordinator version, signed by its writer; lists the heads it merged (parents)
 *   heads    what is stored under a topic's coordinator key: the heads no other head supersedes
 *   snap     a coordinator snapshot: history entries moved out of the head, linked to the previous one,
 *            signed by its writer
 *
 * Format 2 (issue 14): root, subs and snap carry `writer` + `sig`; every kind refuses unknown fields.
 *
 * Every record but a message carries `expiresAt` (content-based: the latest expiry of what it holds
 * plus a grace period; snapshots: with the head that links them, at most one hour after creation).
 * Nodes refuse expired records, filter them on read and delete them from their datastore on a periodic sweep.
 * Every decode* function returns a reason string instead of throwing, so malformed network input
 * is dropped and counted, never thrown through a DHT handler.
 */
import { ID_PATTERN } from './codec.js'

export type ChannelState = 'ACTIVE' | 'RECOVERING' | 'FAILED'

export interface MessageRecord {
  t: 'msg'
  db: string
  topic: string
  publisher: string
  seq: number
  data: unknown
  publishedAt: number
  expiresAt: number
  /** base64 Ed25519 signature over the canonical record without `sig` */
  sig: string
}

export interface Entry { m: MessageRecord, v: number }

export interface PageRecord { t: 'page', db: string, topic: string, entries: Entry[], expiresAt: number }

/** Roots, subscriber collections and snapshots are signed by the writer of the head that references them. */
interface WriterSigned { writer: string, sig: string }

export interface RootRecord extends WriterSigned { t: 'root', db: string, topic: string, pages: string[], count: number, expiresAt: number }

export interface SubscriberEntry { client: string, subscribedAt: number, expiresAt: number, updatedAt: number }

export interface SubsRecord extends WriterSigned { t: 'subs', db: string, topic: string, subs: SubscriberEntry[], expiresAt: number }

export interface SnapRecord extends WriterSigned { t: 'snap', db: string, topic: string, messageHistory: string[], subscriberHistory: string[], previous: string | null, createdAt: number, expiresAt: number }

export interface HeadRecord {
  t: 'head'
  db: string
  topic: string
  version: number
  messages: string | null
  subscribers: string | null
  messageHistory: string[]
  subscriberHistory: string[]
  previous: string | null
  parents: string[]
  createdAt: number
  lastModified: number
  state: ChannelState
  /** no live messages and no subscribers: the topic is retired and this head expires */
  retired: boolean
  expiresAt: number
  writer: string
  sig: string
}

export interface HeadSetRecord { t: 'heads', heads: HeadRecord[] }

export type BlobRecord = PageRecord | RootRecord | SubsRecord | MessageRecord | SnapRecord

export const LIMITS = {
  /** message entries per page */
  PAGE_MAX_ENTRIES: 128,
  /** encoded bytes per page (a page is closed early when the next entry would exceed it) */
  PAGE_MAX_BYTES: 512 * 1024,
  /** encoded bytes of one message record */
  MESSAGE_MAX_BYTES: 80 * 1024,
  /** heads kept under one coordinator key */
  MAX_HEADS: 16,
  /** encoded bytes of one head */
  HEAD_MAX_BYTES: 4 * 1024,
  /** history entries kept in a head */
  HISTORY_MAX: 50,
  /** subscribers in one collection */
  MAX_SUBSCRIBERS: 1000,
  /** pages in one root */
  MAX_PAGES: 100_000,
  /** a head is kept under this size by moving history into snapshots */
  HEAD_TARGET_BYTES: 1024,
  /** history entries a head keeps after a snapshot */
  HISTORY_KEEP: 10,
  /** snapshots expire with the head that links them, and at most this long after creation */
  SNAPSHOT_TTL_MS: 3_600_000,
  /** parents one head may list (the union of every replica's set, read by one writer) */
  MAX_PARENTS: 64,
  /** a head's version may exceed the highest version a replica holds for its key by at most this */
  MAX_VERSION_STEP: 1_000_000,
  /** a head's version is at most this plus the milliseconds from its topic's createdAt to its lastModified */
  VERSION_SLACK: 1_000,
  /** how far a record's timestamps may be ahead of the receiver's clock */
  MAX_CLOCK_SKEW_MS: 60_000,
  /** longest message or subscription TTL */
  MAX_TTL_MS: 30 * 24 * 3_600_000,
  /** longest gcGraceMs: added to content expiry */
  MAX_GRACE_MS: 24 * 3_600_000
}

/** Latest expiry a record may carry, from the receiver's clock: the longest TTL plus grace and skew. */
export const maxRecordExpiry = (now: number): number => now + LIMITS.MAX_TTL_MS + LIMITS.MAX_GRACE_MS + LIMITS.MAX_CLOCK_SKEW_MS

type Result<T> = T | string

const isObject = (v: unknown): v is Record<string, unknown> => v != null && typeof v === 'object' && !Array.isArray(v)
const isString = (v: unknown): v is string => typeof v === 'string'
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0
const isId = (v: unknown): v is string => isString(v) && ID_PATTERN.test(v)
const isWallet = (v: unknown): v is string => isString(v) && /^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(v)
const isIdList = (v: unknown, max: number): v is string[] => Array.isArray(v) && v.length <= max && v.every(isId)
const isSigned = (v: Record<string, unknown>): boolean => isWallet(v.writer) && isString(v.sig) && v.sig.length > 0 && v.sig.length <= 100

/** The fields each record kind may have: anything else is refused (no padding, no smuggled data). */
const FIELDS = {
  msg: ['t', 'db', 'topic', 'publisher', 'seq', 'data', 'publishedAt', 'expiresAt', 'sig'],
  entry: ['m', 'v'],
  page: ['t', 'db', 'topic', 'entries', 'expiresAt'],
  root: ['t', 'db', 'topic', 'pages', 'count', 'expiresAt', 'writer', 'sig'],
  subs: ['t', 'db', 'topic', 'subs', 'expiresAt', 'writer', 'sig'],
  sub: ['client', 'subscribedAt', 'expiresAt', 'updatedAt'],
  snap: ['t', 'db', 'topic', 'messageHistory', 'subscriberHistory', 'previous', 'createdAt', 'expiresAt', 'writer', 'sig'],
  head: ['t', 'db', 'topic', 'version', 'messages', 'subscribers', 'messageHistory', 'subscriberHistory', 'previous', 'parents', 'createdAt', 'lastModified', 'state', 'retired', 'expiresAt', 'writer', 'sig'],
  heads: ['t', 'heads']
} as const
const ALLOWED = Object.fromEntries(Object.entries(FIELDS).map(([k, v]) => [k, new Set<string>(v)])) as Record<keyof typeof FIELDS, Set<string>>
const onlyKnown = (v: Record<string, unknown>, kind: keyof typeof FIELDS): boolean => Object.keys(v).every((k) => ALLOWED[kind].has(k))

export function checkMessage (v: unknown): Result<MessageRecord> {
  if (!isObject(v) || v.t !== 'msg') return 'not a message record'
  if (!onlyKnown(v, 'msg')) return 'message has unknown fields'
  if (!isString(v.db) || !isString(v.topic)) return 'message db/topic missing'
  if (!isWallet(v.publisher)) return 'message publisher is not a wallet address'
  if (!Number.isInteger(v.seq) || (v.seq as number) < 1) return 'message seq must be a positive integer'
  if (!('data' in v)) return 'message data missing'
  if (!isTime(v.publishedAt) || !isTime(v.expiresAt) || v.expiresAt < v.publishedAt) return 'message timestamps invalid'
  if (!isString(v.sig) || v.sig.length === 0) return 'message unsigned'
  return v as unknown as MessageRecord
}

export function checkPage (v: unknown): Result<PageRecord> {
  if (!isObject(v) || v.t !== 'page' || !isString(v.db) || !isString(v.topic)) return 'not a page record'
  if (!onlyKnown(v, 'page')) return 'page has unknown fields'
  if (!Array.isArray(v.entries) || v.entries.length === 0 || v.entries.length > LIMITS.PAGE_MAX_ENTRIES) return 'page entry count invalid'
  if (!isTime(v.expiresAt)) return 'page expiry missing'
  for (const e of v.entries) {
    if (!isObject(e) || !Number.isSafeInteger(e.v) || (e.v as number) < 1) return 'page entry invalid'
    if (!onlyKnown(e, 'entry')) return 'page entry has unknown fields'
    const m = checkMessage(e.m)
    if (typeof m === 'string') return m
    if (m.db !== v.db || m.topic !== v.topic) return 'page entry belongs to another topic'
  }
  return v as unknown as PageRecord
}

export function checkRoot (v: unknown): Result<RootRecord> {
  if (!isObject(v) || v.t !== 'root' || !isString(v.db) || !isString(v.topic)) return 'not a root record'
  if (!onlyKnown(v, 'root')) return 'root has unknown fields'
  if (!isSigned(v)) return 'root unsigned'
  if (!isIdList(v.pages, LIMITS.MAX_PAGES) || !Number.isInteger(v.count) || (v.count as number) < 0) return 'root pages invalid'
  if (!isTime(v.expiresAt)) return 'root expiry missing'
  return v as unknown as RootRecord
}

export function checkSubs (v: unknown): Result<SubsRecord> {
  if (!isObject(v) || v.t !== 'subs' || !isString(v.db) || !isString(v.topic)) return 'not a subscriber record'
  if (!onlyKnown(v, 'subs')) return 'subscriber collection has unknown fields'
  if (!isSigned(v)) return 'subscriber collection unsigned'
  if (!Array.isArray(v.subs) || v.subs.length > LIMITS.MAX_SUBSCRIBERS) return 'subscriber list invalid'
  if (!isTime(v.expiresAt)) return 'subscriber collection expiry missing'
  for (const s of v.subs) {
    if (!isObject(s) || !isWallet(s.client) || !isTime(s.subscribedAt) || !isTime(s.expiresAt) || !isTime(s.updatedAt)) return 'subscriber entry invalid'
    if (!onlyKnown(s, 'sub')) return 'subscriber entry has unknown fields'
  }
  return v as unknown as SubsRecord
}

export function checkHead (v: unknown): Result<HeadRecord> {
  if (!isObject(v) || v.t !== 'head' || !isString(v.db) || !isString(v.topic)) return 'not a head record'
  if (!onlyKnown(v, 'head')) return 'head has unknown fields'
  if (!Number.isInteger(v.version) || (v.version as number) < 1) return 'head version invalid'
  if (!(v.messages === null || isId(v.messages)) || !(v.subscribers === null || isId(v.subscribers))) return 'head collection ids invalid'
  if (!isIdList(v.messageHistory, LIMITS.HISTORY_MAX) || !isIdList(v.subscriberHistory, LIMITS.HISTORY_MAX)) return 'head histories invalid'
  if (!(v.previous === null || isId(v.previous))) return 'head snapshot link invalid'
  if (!isIdList(v.parents, LIMITS.MAX_PARENTS)) return 'head parents invalid'
  if (!isTime(v.createdAt) || !isTime(v.lastModified)) return 'head timestamps invalid'
  if (v.state !== 'ACTIVE' && v.state !== 'RECOVERING' && v.state !== 'FAILED') return 'head state invalid'
  if (typeof v.retired !== 'boolean' || !isTime(v.expiresAt)) return 'head retirement/expiry invalid'
  if (!isWallet(v.writer) || !isString(v.sig) || v.sig.length === 0) return 'head unsigned'
  return v as unknown as HeadRecord
}

export function checkSnap (v: unknown): Result<SnapRecord> {
  if (!isObject(v) || v.t !== 'snap' || !isString(v.db) || !isString(v.topic)) return 'not a snapshot record'
  if (!onlyKnown(v, 'snap')) return 'snapshot has unknown fields'
  if (!isSigned(v)) return 'snapshot unsigned'
  if (!isIdList(v.messageHistory, 10_000) || !isIdList(v.subscriberHistory, 10_000)) return 'snapshot histories invalid'
  if (!(v.previous === null || isId(v.previous)) || !isTime(v.createdAt) || !isTime(v.expiresAt)) return 'snapshot link or times invalid'
  return v as unknown as SnapRecord
}

export function checkHeadSet (v: unknown): Result<HeadSetRecord> {
  if (!isObject(v) || v.t !== 'heads' || !Array.isArray(v.heads)) return 'not a head set'
  if (!onlyKnown(v, 'heads')) return 'head set has unknown fields'
  if (v.heads.length === 0 || v.heads.length > LIMITS.MAX_HEADS) return 'head set size invalid'
  for (const h of v.heads) {
    const r = checkHead(h)
    if (typeof r === 'string') return r
  }
  return v as unknown as HeadSetRecord
}

export function checkBlob (v: unknown): Result<BlobRecord> {
  if (!isObject(v)) return 'not a record'
  switch (v.t) {
    case 'page': return checkPage(v)
    case 'root': return checkRoot(v)
    case 'subs': return checkSubs(v)
    case 'msg': return checkMessage(v)
    case 'snap': return checkSnap(v)
    default: return `unknown record type ${JSON.stringify(v.t)}`
  }
}

/**
 * Time bounds from the receiver's clock (`now`), for records that passed the shape checks: nothing
 * may be dated more than MAX_CLOCK_SKEW_MS ahead, no expiry may lie beyond maxRecordExpiry (a
 * message's TTL is at most MAX_TTL_MS), and a head's version may grow at most one per millisecond of
 * its topic's life (plus VERSION_SLACK), so no signed head can push versions to 2^53 where they
 * stop increasing. Returns why a record is refused, or undefined.
 */
export function checkTimes (r: BlobRecord | HeadRecord, now: number): string | undefined {
  const ahead = now + LIMITS.MAX_CLOCK_SKEW_MS
  if (r.t === 'msg') {
    if (r.publishedAt > ahead) return 'message timestamp in the future'
    if (r.expiresAt - r.publishedAt > LIMITS.MAX_TTL_MS) return 'message TTL over the maximum'
    return undefined
  }
  if (r.expiresAt > maxRecordExpiry(now)) return 'record expiry too far in the future'
  switch (r.t) {
    case 'head':
      if (r.lastModified > ahead || r.createdAt > r.lastModified) return 'head timestamps in the future or out of order'
      if (r.version > LIMITS.VERSION_SLACK + (r.lastModified - r.createdAt)) return 'head version grows faster than time allows'
      return undefined
    case 'page':
      for (const e of r.entries) { const m = checkTimes(e.m, now); if (m != null) return m }
      return undefined
    case 'subs':
      for (const s of r.subs) if (s.updatedAt > ahead || s.subscribedAt > ahead || s.expiresAt > ahead + LIMITS.MAX_TTL_MS) return 'subscriber entry timestamps out of bounds'
      return undefined
    case 'snap':
      return r.createdAt > ahead ? 'snapshot timestamp in the future' : undefined
    default:
      return undefined
  }
}

/** When a stored sticky value (blob or head set) expires; heads sets expire with their last head. */
export function recordExpiry (v: BlobRecord | HeadSetRecord): number {
  if (v.t === 'heads') return Math.max(...v.heads.map((h) => h.expiresAt))
  return v.expiresAt
}

/** The part of a signed record that its signature covers. */
export function unsigned<T extends { sig: string }> (record: T): Omit<T, 'sig'> {
  const { sig: _sig, ...rest } = record
  return rest
}
