/*
 * Lifecycle rules, pure (the clock is a parameter): record expiry from content, retirement, when a
 * head's history moves into a snapshot, and what a node's sweep does with a stored record (delete
 * it, republish it, keep it). kad-dht neither republishes values nor serves them once they are
 * 36 hours old, so holders republish live records after `republishAfterMs`, each record at its own
 * jittered time so the replicas of a topic do not all republish at once.
 */
import { createHash } from 'node:crypto'
import { LIMITS, type Entry, type SubscriberEntry } from './records.js'
import { byteLength } from './codec.js'

/** Latest expiry among entries plus the grace period (readers in flight, clock skew). */
export function entriesExpiry (entries: Iterable<Entry>, graceMs: number, floor: number): number {
  let max = floor
  for (const e of entries) if (e.m.expiresAt > max) max = e.m.expiresAt
  return max + graceMs
}

export function subscribersExpiry (subs: Iterable<SubscriberEntry>, graceMs: number, floor: number): number {
  let max = floor
  for (const s of subs) if (s.expiresAt > max) max = s.expiresAt
  return max + graceMs
}

/** A topic with no unexpired message and no live subscriber is retired. */
export function isRetired (entries: Iterable<Entry>, subs: Iterable<SubscriberEntry>, now: number): boolean {
  for (const e of entries) if (e.m.expiresAt > now) return false
  for (const s of subs) if (s.expiresAt > now) return false
  return true
}

/**
 * How many history entries a head may keep: all of them while the head stays under
 * HEAD_TARGET_BYTES and each history under HISTORY_MAX; otherwise HISTORY_KEEP (or fewer, down to
 * none, if even that is too large) and the rest goes into a snapshot.
 */
export function historyToKeep (head: { messageHistory: readonly string[], subscriberHistory: readonly string[] }, size: (keep: number) => number): number | undefined {
  const longest = Math.max(head.messageHistory.length, head.subscriberHistory.length)
  if (longest < LIMITS.HISTORY_MAX && size(longest) <= LIMITS.HEAD_TARGET_BYTES) return undefined
  for (const keep of [LIMITS.HISTORY_KEEP, 5, 2, 0]) if (size(keep) <= LIMITS.HEAD_TARGET_BYTES) return keep
  return 0
}

/** Encoded size of a value (for the head size estimate). */
export function encodedSize (v: unknown): number { return byteLength(v) }

export type SweepAction = 'delete' | 'republish' | 'keep'

/**
 * What a sweep does with a stored record: delete it once expired; republish it when this node's
 * copy is older than `republishAfterMs` times a per-node, per-key factor in [0.8, 1.2).
 */
export function sweepAction (expiresAt: number, storedAt: number, now: number, republishAfterMs: number, jitterKey: string): SweepAction {
  if (expiresAt <= now) return 'delete'
  if (now - storedAt >= republishAfterMs * jitterFactor(jitterKey)) return 'republish'
  return 'keep'
}

/** A deterministic factor in [0.8, 1.2) from a key (node id + record key). */
export function jitterFactor (key: string): number {
  const h = createHash('sha256').update(key).digest()
  return 0.8 + (h.readUInt32BE(0) / 2 ** 32) * 0.4
}
