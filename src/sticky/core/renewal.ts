/*
 * Subscription renewal requests. A subscriber extends its subscription by asking a serving node (a
 * replica of the topic, or itself when none answers) with a request signed by its wallet key over
 * `<database>_<topic>:<clientPeerId>:<timestamp>:<newTtlMs>` (the database-qualified topic name, so a
 * request cannot be replayed into another database). The serving node checks, in order: shape,
 * shape, timestamp age (older than 5 minutes or more than MAX_CLOCK_SKEW_MS, 60 s, ahead of the
 * serving node's clock is refused), the signature against the key embedded in the client's peer id,
 * replay (a timestamp not newer than the last accepted one for that client and topic),
 * authorization, TTL bounds, then the per-client rate (only after the signature: forged requests in
 * a client's name cannot use up its quota) and current membership in the subscriber collection;
 * then commits the new expiry through the normal coordinator write path.
 * This file is pure (no libp2p): the network side is in renewal-service.ts.
 */
import { verifySignature } from './signing.js'
import { LIMITS } from './records.js'

export interface RenewalRequest { v: 1, topic: string, client: string, timestamp: number, ttlMs: number, sig: string }
export type RenewalResponse = { ok: true, expiresAt: number, version: number } | { ok: false, error: string }

/** How old a renewal request may be. */
export const RENEWAL_MAX_AGE_MS = 5 * 60_000
/** How far ahead of the serving node's clock a request may be (clock skew): the one bound of all sticky records. */
export const RENEWAL_MAX_SKEW_MS = LIMITS.MAX_CLOCK_SKEW_MS

export function renewalSignedText (db: string, topic: string, clientPeerId: string, timestamp: number, ttlMs: number): string {
  return `${db}_${topic}:${clientPeerId}:${timestamp}:${ttlMs}`
}

export function parseRenewalRequest (v: unknown): RenewalRequest | string {
  if (v == null || typeof v !== 'object') return 'not an object'
  const r = v as Record<string, unknown>
  if (r.v !== 1) return 'unknown version'
  if (typeof r.topic !== 'string' || r.topic.length === 0 || r.topic.length > 256) return 'topic invalid'
  if (typeof r.client !== 'string' || !/^12D3Koo[1-9A-HJ-NP-Za-km-z]{40,50}$/.test(r.client)) return 'client is not an Ed25519 peer id'
  if (!Number.isSafeInteger(r.timestamp) || !Number.isSafeInteger(r.ttlMs) || (r.ttlMs as number) < 1) return 'timestamp or ttlMs invalid'
  if (typeof r.sig !== 'string' || r.sig.length === 0 || r.sig.length > 200) return 'signature missing'
  return r as unknown as RenewalRequest
}

export interface RenewalCheckDeps {
  db: string
  now: number
  /** wallet address of an Ed25519 peer id, undefined when it is not one */
  walletOf: (peerId: string) => string | undefined
  /** last timestamp accepted from this client for this topic */
  lastAccepted: (topic: string, client: string) => number | undefined
  isAuthorized: (wallet: string) => boolean
  maxTtlMs: number
}

/** The checks that need no coordinator read. Returns the client's wallet, or why the request is refused. */
export function checkRenewal (req: RenewalRequest, deps: RenewalCheckDeps): { wallet: string } | { error: string } {
  if (deps.now - req.timestamp > RENEWAL_MAX_AGE_MS) return { error: 'request is older than 5 minutes' }
  if (req.timestamp - deps.now > RENEWAL_MAX_SKEW_MS) return { error: 'request timestamp is in the future' }
  const wallet = deps.walletOf(req.client)
  if (wallet == null) return { error: 'client is not an Ed25519 peer id' }
  const text = new TextEncoder().encode(renewalSignedText(deps.db, req.topic, req.client, req.timestamp, req.ttlMs))
  if (!verifySignature(wallet, text, req.sig)) return { error: 'bad signature' }
  const last = deps.lastAccepted(req.topic, req.client)
  if (last != null && req.timestamp <= last) return { error: 'replayed request' }
  if (!deps.isAuthorized(wallet)) return { error: 'client is not authorized for this database' }
  if (req.ttlMs > deps.maxTtlMs) return { error: `ttlMs over the ${deps.maxTtlMs} ms maximum` }
  return { wallet }
}

/**
 * Remembers accepted timestamps per topic and client for RENEWAL_MAX_AGE_MS (older requests are
 * refused by age anyway, so that is all the memory replay protection needs).
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>()

  last (topic: string, client: string): number | undefined { return this.seen.get(`${topic}\n${client}`) }

  accept (topic: string, client: string, timestamp: number, now: number): void {
    this.seen.set(`${topic}\n${client}`, timestamp)
    if (this.seen.size > 10_000) for (const [k, t] of this.seen) if (now - t > RENEWAL_MAX_AGE_MS) this.seen.delete(k)
  }
}
