/*
 * Validation of sticky DHT records, run by kad-dht on every PUT a node receives and on every
 * value it fetches, and by our own code before any put: key shape, database served by this node,
 * content id matching the key, record shape and size, message and head signatures, writer
 * authorized for the database. Pure apart from the policy callbacks it is given.
 */
import { contentId, decodeJson } from './codec.js'
import { headKey, parseKey } from './keys.js'
import { checkBlob, checkHeadSet, LIMITS, type BlobRecord, type HeadRecord } from './records.js'
import { headId, messageId, verifyHead, verifyMessage, type VerifiedSignatures } from './signing.js'
import { mergeHeadSets, headSetRank } from './merge.js'

export interface RecordPolicy {
  /** this node serves (has open) the database */
  servesDatabase(db: string): boolean
  /** the wallet is authorized to write records of the database (registry) */
  isAuthorized(db: string, wallet: string): boolean
  /** this node's cache of signatures already verified */
  verified?: VerifiedSignatures
}

export class InvalidRecordError extends Error {
  readonly code = 'ERR_INVALID_RECORD'
}

const fail = (reason: string): never => { throw new InvalidRecordError(reason) }

/** Max encoded size of any sticky record. */
export const MAX_RECORD_BYTES = LIMITS.PAGE_MAX_BYTES + 16 * 1024

export interface HeadWithId { id: string, head: HeadRecord }

/** Validates a head set for topic key `key`; returns the heads with their ids. */
export function validateHeadSet (key: Uint8Array, db: string, value: Uint8Array, policy: RecordPolicy, now = Date.now()): HeadWithId[] {
  if (value.length > LIMITS.HEAD_MAX_BYTES * LIMITS.MAX_HEADS) fail('head set too large')
  const set = checkHeadSet(decodeJson(value))
  if (typeof set === 'string') return fail(set)
  if (set.heads.every((h) => h.expiresAt <= now)) fail('head set expired')
  return set.heads.map((head) => {
    if (head.db !== db) fail('head belongs to another database')
    const expectedKey = headKey(db, head.topic)
    if (expectedKey.length !== key.length || !expectedKey.every((b, i) => b === key[i])) fail('head belongs to another topic')
    if (JSON.stringify(head).length > LIMITS.HEAD_MAX_BYTES) fail('head too large')
    if (!verifyHead(head, policy.verified)) fail('head signature invalid')
    if (!policy.isAuthorized(db, head.writer)) fail('head writer not authorized for the database')
    return { id: headId(head), head }
  })
}

/** Validates an immutable record stored under content id `id`. */
export function validateBlob (db: string, id: string, value: Uint8Array, policy: RecordPolicy, now = Date.now()): BlobRecord {
  if (value.length > MAX_RECORD_BYTES) fail('record too large')
  if (contentId(value) !== id) fail('content does not match its id')
  const record = checkBlob(decodeJson(value))
  if (typeof record === 'string') return fail(record)
  if (record.expiresAt <= now) fail('record expired')
  if (record.db !== db) fail('record belongs to another database')
  const messages = record.t === 'page' ? record.entries.map((e) => e.m) : record.t === 'msg' ? [record] : []
  for (const m of messages) {
    if (!verifyMessage(m, policy.verified)) fail(`message ${messageId(m)} signature invalid`)
    if (!policy.isAuthorized(db, m.publisher)) fail('message publisher not authorized for the database')
  }
  return record
}

/** kad-dht validator for the `dps` namespace. */
export function createStickyValidator (policy: RecordPolicy) {
  return async (key: Uint8Array, value: Uint8Array): Promise<void> => {
    const parsed = parseKey(key) ?? fail('malformed sticky key')
    if (!policy.servesDatabase(parsed.db)) fail(`database ${parsed.db} is not served by this node`)
    if (parsed.kind === 'head') validateHeadSet(key, parsed.db, value, policy)
    else validateBlob(parsed.db, parsed.id, value, policy)
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

/** Replica-side merge of stored and incoming head-set bytes (both assumed valid); expired heads are dropped. */
export function mergeHeadSetBytes (existing: Uint8Array, incoming: Uint8Array, now = Date.now()): Uint8Array {
  const a = checkHeadSet(decodeJson(existing))
  const b = checkHeadSet(decodeJson(incoming))
  if (typeof a === 'string') return incoming
  if (typeof b === 'string') return existing
  const withIds = (heads: HeadRecord[]): HeadWithId[] => heads.filter((h) => h.expiresAt > now).map((head) => ({ id: headId(head), head }))
  const merged = mergeHeadSets(withIds(a.heads), withIds(b.heads))
  if (merged.length === 0) return incoming
  return new TextEncoder().encode(JSON.stringify({ t: 'heads', heads: merged.map((h) => h.head) }))
}
