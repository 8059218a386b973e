/*
 * Validation of sticky DHT records, run by kad-dht on every PUT a node receives and on every
 * value it fetches, and by our own code before any put: key shape, database served by this node,
 * content id matching the key, record shape and size, message and head signatures, writer
 * authorized for the database. Pure apart from the policy callbacks it is given.
 */
import { byteLength, contentId, decodeJson, encodeHeadSet } from './codec.js'
import { headKey, parseKey } from './keys.js'
import { checkBlob, checkHeadSet, checkMessage, checkTimes, LIMITS, type BlobRecord, type HeadRecord } from './records.js'
import { headId, messageId, verifyHead, verifyMessage, verifyWriterSigned, type VerifiedSignatures } from './signing.js'
import { mergeHeadSets, headSetRank } from './merge.js'
import { LocalInclusion, type LocalRecords } from './inclusion.js'

export interface RecordPolicy {
  /** this node serves (has open) the database */
  servesDatabase(db: string): boolean
  /** the wallet is authorized to write records of the database (registry) */
  isAuthorized(db: string, wallet: string): boolean
  /** this node's cache of signatures already verified */
  verified?: VerifiedSignatures
  /** this node's stored records: a received head is refused unless every record it references is here */
  local?: LocalRecords
  /** the receiver's clock (time bounds of received records). @default Date.now */
  now?: () => number
}

export class InvalidRecordError extends Error {
  readonly code = 'ERR_INVALID_RECORD'
}

/** A head put that would grow a replica's head set past LIMITS.MAX_HEADS: the writer must merge first. */
export class HeadSetFullError extends Error {
  readonly code = 'ERR_HEAD_SET_FULL'
  constructor () { super(`head set full (${LIMITS.MAX_HEADS} heads): merge the current heads first`) }
}

const fail = (reason: string): never => { throw new InvalidRecordError(reason) }

/** Refusal reason of a head whose records the replica lacks (the writer then repairs). */
export const CONTENT_NOT_HELD = 'head content not held by this replica'

/** Max encoded size of any sticky record. */
export const MAX_RECORD_BYTES = LIMITS.PAGE_MAX_BYTES + 16 * 1024

export interface HeadWithId { id: string, head: HeadRecord }

/**
 * 'put': a record offered for storage: every writer and publisher must be in the registry now.
 * 'read': a record already stored (loaded to read or merge): signatures must verify, but a writer or
 * publisher that has since left the registry does not invalidate it, so one removed wallet cannot
 * make a whole head set or page unreadable. Readers skip a removed publisher's messages one by one
 * (StateLoader), and its heads stay readable as carriers of everyone else's messages.
 */
export type ValidationMode = 'put' | 'read'

/** Validates a head set for topic key `key`; returns the heads with their ids. */
export function validateHeadSet (key: Uint8Array, db: string, value: Uint8Array, policy: RecordPolicy, mode: ValidationMode = 'put', now = policy.now?.() ?? Date.now()): HeadWithId[] {
  if (value.length > LIMITS.HEAD_MAX_BYTES * LIMITS.MAX_HEADS) fail('head set too large')
  const set = checkHeadSet(decodeJson(value))
  if (typeof set === 'string') return fail(set)
  if (set.heads.every((h) => h.expiresAt <= now)) fail('head set expired')
  return set.heads.map((head) => {
    if (head.db !== db) fail('head belongs to another database')
    const expectedKey = headKey(db, head.topic)
    if (expectedKey.length !== key.length || !expectedKey.every((b, i) => b === key[i])) fail('head belongs to another topic')
    if (JSON.stringify(head).length > LIMITS.HEAD_MAX_BYTES) fail('head too large')
    const times = checkTimes(head, now)
    if (times != null) fail(times)
    if (!verifyHead(head, policy.verified)) fail('head signature invalid')
    if (mode === 'put' && !policy.isAuthorized(db, head.writer)) fail('head writer not authorized for the database')
    return { id: headId(head), head }
  })
}

/**
 * Checks one message as a page entry is checked (shape, topic, size, time bounds, signature and, for
 * 'put', the publisher's authorization); used for messages that arrive outside a page (pushes).
 * Returns why it is refused, or undefined.
 */
export function messageProblem (v: unknown, db: string, topic: string, policy: RecordPolicy, now = policy.now?.() ?? Date.now()): string | undefined {
  const m = checkMessage(v)
  if (typeof m === 'string') return m
  if (m.db !== db || m.topic !== topic) return 'message belongs to another topic'
  if (byteLength(m) > LIMITS.MESSAGE_MAX_BYTES) return 'message too large'
  const times = checkTimes(m, now)
  if (times != null) return times
  if (!verifyMessage(m, policy.verified)) return 'message signature invalid'
  if (!policy.isAuthorized(db, m.publisher)) return 'message publisher not authorized for the database'
  return undefined
}

/** Validates an immutable record stored under content id `id`. */
export function validateBlob (db: string, id: string, value: Uint8Array, policy: RecordPolicy, mode: ValidationMode = 'put', now = policy.now?.() ?? Date.now()): BlobRecord {
  if (value.length > MAX_RECORD_BYTES) fail('record too large')
  if (contentId(value) !== id) fail('content does not match its id')
  const record = checkBlob(decodeJson(value))
  if (typeof record === 'string') return fail(record)
  if (record.expiresAt <= now) fail('record expired')
  if (record.db !== db) fail('record belongs to another database')
  const times = checkTimes(record, now)
  if (times != null) fail(times)
  if (record.t === 'root' || record.t === 'subs' || record.t === 'snap') {
    if (!verifyWriterSigned(record, policy.verified)) fail(`${record.t} signature invalid`)
    if (mode === 'put' && !policy.isAuthorized(db, record.writer)) fail(`${record.t} writer not authorized for the database`)
  }
  const messages = record.t === 'page' ? record.entries.map((e) => e.m) : record.t === 'msg' ? [record] : []
  for (const m of messages) {
    if (!verifyMessage(m, policy.verified)) fail(`message ${messageId(m)} signature invalid`)
    if (mode === 'put' && !policy.isAuthorized(db, m.publisher)) fail('message publisher not authorized for the database')
  }
  return record
}

/** kad-dht validator for the `dps` namespace. */
export function createStickyValidator (policy: RecordPolicy) {
  return async (key: Uint8Array, value: Uint8Array): Promise<void> => {
    const parsed = parseKey(key) ?? fail('malformed sticky key')
    if (!policy.servesDatabase(parsed.db)) fail(`database ${parsed.db} is not served by this node`)
    if (parsed.kind === 'blob') { validateBlob(parsed.db, parsed.id, value, policy); return }
    const heads = validateHeadSet(key, parsed.db, value, policy)
    if (policy.local == null) return
    const inclusion = new LocalInclusion(policy.local, (db, wallet) => policy.isAuthorized(db, wallet)) // bound: the policy may be a class instance
    for (const { head } of heads) {
      // the records travel before the head in one request: a head whose records are not here is
      // unusable on this replica and could hide content behind claims nobody can check
      if (!await inclusion.holds(head)) fail(`${CONTENT_NOT_HELD} (put its records first)`)
    }
  }
}

/** kad-dht selector for the `dps` namespace: the head set with the highest version wins. */
export function selectStickyRecord (key: Uint8Array, values: Uint8Array[]): number {
  const parsed = parseKey(key)
  if (parsed?.kind !== 'head') return 0
  let best = 0
  let bestRank: [number, string] = [-1, '']
  values.forEach((value, i) => {
    const set = checkHeadSet(decodeJson(value))
    if (typeof set === 'string') return
    const rank = headSetRank(set.heads.map((head) => ({ id: headId(head), head })))
    if (rank[0] > bestRank[0] || (rank[0] === bestRank[0] && rank[1] < bestRank[1])) { best = i; bestRank = rank }
  })
  return best
}

/**
 * Replica-side merge of stored and incoming head-set bytes (both assumed valid): expired heads are
 * dropped, a head is superseded only where `includes` proves it (see inclusion.ts), a new head may
 * not raise the version more than MAX_VERSION_STEP above the stored ones, and a result over
 * MAX_HEADS is refused (HeadSetFullError) rather than truncated.
 */
export async function mergeHeadSetBytes (existing: Uint8Array, incoming: Uint8Array, includes: (child: HeadRecord, parent: HeadRecord) => Promise<boolean>, now = Date.now()): Promise<Uint8Array> {
  const a = checkHeadSet(decodeJson(existing))
  const b = checkHeadSet(decodeJson(incoming))
  if (typeof a === 'string') return incoming
  if (typeof b === 'string') return existing
  const withIds = (heads: HeadRecord[]): HeadWithId[] => heads.filter((h) => h.expiresAt > now).map((head) => ({ id: headId(head), head }))
  const stored = withIds(a.heads)
  const storedIds = new Set(stored.map((h) => h.id))
  const fresh = withIds(b.heads).filter((h) => !storedIds.has(h.id))
  if (fresh.length === 0) return existing
  const top = Math.max(0, ...stored.map((h) => h.head.version))
  if (stored.length > 0 && fresh.some((h) => h.head.version > top + LIMITS.MAX_VERSION_STEP)) fail(`head version more than ${LIMITS.MAX_VERSION_STEP} above the stored heads`)
  const union = new Map([...stored, ...fresh].map((h) => [h.id, h]))
  const proven = new Set<string>()
  for (const child of union.values()) {
    for (const p of child.head.parents) {
      const parent = union.get(p)
      if (parent != null && p !== child.id && await includes(child.head, parent.head)) proven.add(`${child.id}>${p}`)
    }
  }
  const merged = mergeHeadSets(stored, fresh, (child, p) => proven.has(`${child.id}>${p}`))
  if (merged.length === 0) return incoming
  if (merged.length > LIMITS.MAX_HEADS) throw new HeadSetFullError()
  return encodeHeadSet(merged.map((h) => h.head))
}
