/*
 * Sticky topic settings (`connect({ sticky: { ... } })`), each declared once here: its type and
 * meaning (StickyOptions), its default (STICKY_DEFAULTS) and its validation (stickyOptionsSchema,
 * which config.ts composes into the connect() schema and which fills in the defaults). The
 * replica-set options (replicationFactor, replicaRefreshMs, requestTimeoutMs) are typed by the
 * replica network (replica-sets.ts) and included here.
 */
import { z } from 'zod'
import { ms } from '../config-fields.js'
import { ConfigError } from '../errors.js'
import { LIMITS } from './core/records.js'
import type { StoreOptions } from './replica/store.js'
import { REPLICA_NETWORK_DEFAULTS } from './replica/replica-network.js'

/** Sticky-topic options, passed as `connect({ sticky: { ... } })`; defaults in {@link STICKY_DEFAULTS}. */
export interface StickyOptions extends StoreOptions {
  /** message TTL. @default 86_400_000 (24 h) */
  defaultMessageTtlMs: number
  /** subscription TTL. @default 1_800_000 (30 min) */
  defaultSubscriptionTtlMs: number
  /** coordinator poll fallback. @default 5_000 */
  pollIntervalMs: number
  /** batch flush delay. @default 2 */
  flushDelayMs: number
  /** most items per commit. @default 1000 */
  maxBatch: number
  /** give up acknowledging a commit after this. @default 60_000 */
  commitDeadlineMs: number
  /**
   * distinct nodes (this one included) that must hold a commit before it is acknowledged: at least
   * this, and a majority of the replica set, whatever the network size. With fewer replica-capable
   * peers publish waits, then fails with NoQuorumError. 1 = single-node development only. @default 3
   */
  writeQuorum: number
  /** pushes inline message data up to this many bytes, ids (poll) above. @default 60_000 */
  pushInlineBytes: number
  /** largest message `data`, JSON-encoded bytes (MessageTooLargeError above). @default 65_536 */
  maxMessageBytes: number
  /** per-publisher publish rate on this node, messages per second on average (RateLimitedError above). @default 500 */
  publishRatePerSecond: number
  /** per-publisher burst: publishes allowed at once before the rate applies. @default 2_000 */
  publishBurst: number
  /** live subscribers one topic may have (TooManySubscribersError above). @default 1_000 */
  maxSubscribersPerTopic: number
  /** topics this node writes (publishes, subscribes, serves renewals); a topic counts until idle for 10 min (TooManyTopicsError above). @default 1_000 */
  maxTopics: number
  /** longest subscription TTL a subscriber may ask for. @default 86_400_000 (24 h) */
  maxSubscriptionTtlMs: number
  /** auto-renewal fires at this fraction of the TTL. @default 0.8 */
  renewAtFraction: number
  /** added to the content expiry of collections and heads before nodes delete them. @default 3_600_000 (1 h) */
  gcGraceMs: number
  /** how often this node sweeps its stored sticky records (delete expired, republish old). @default 60_000 */
  sweepIntervalMs: number
  /** a coordinator version that stays unloadable this long is treated as broken and recovery runs. @default 15_000 */
  recoveryAfterMs: number
  /** a stored live record is republished when its copy is this old (x0.8-1.2 jitter); kad-dht drops values at 36 h. @default 86_400_000 (24 h) */
  republishAfterMs: number
  /** bytes of sticky records other peers may make this node hold, all together (per host: the first connect() call's value). @default 1_073_741_824 (1 GiB) */
  storageQuotaBytes: number
  /** bytes of sticky records one peer may make this node hold (per host, as above). @default 134_217_728 (128 MiB) */
  storageQuotaPerPeerBytes: number
}

/** The default of every {@link StickyOptions} field. */
export const STICKY_DEFAULTS: StickyOptions = {
  defaultMessageTtlMs: 24 * 3600_000,
  defaultSubscriptionTtlMs: 30 * 60_000,
  pollIntervalMs: 5_000,
  flushDelayMs: 2,
  maxBatch: 1_000,
  commitDeadlineMs: 60_000,
  writeQuorum: 3,
  pushInlineBytes: 60_000,
  maxMessageBytes: 65_536,
  publishRatePerSecond: 500,
  publishBurst: 2_000,
  maxSubscribersPerTopic: 1_000,
  maxTopics: 1_000,
  maxSubscriptionTtlMs: 24 * 3600_000,
  renewAtFraction: 0.8,
  gcGraceMs: 3_600_000,
  sweepIntervalMs: 60_000,
  republishAfterMs: 24 * 3600_000,
  recoveryAfterMs: 15_000,
  storageQuotaBytes: 1024 * 1024 * 1024,
  storageQuotaPerPeerBytes: 128 * 1024 * 1024,
  replicationFactor: 5,
  replicaRefreshMs: 30_000,
  requestTimeoutMs: REPLICA_NETWORK_DEFAULTS.requestTimeoutMs
}

/**
 * Validates `connect({ sticky })` and fills in STICKY_DEFAULTS; a problem names its field
 * (`sticky.<field>`, prefixed by config.ts). writeQuorum is checked against replicationFactor here
 * too: a commit is stored on at most replicationFactor + 1 nodes.
 */
export const stickyOptionsSchema: z.ZodType<StickyOptions, Partial<StickyOptions> | undefined> = z.object({
  defaultMessageTtlMs: ms(1).max(LIMITS.MAX_TTL_MS, 'expected at most 30 days (2592000000 ms)').default(STICKY_DEFAULTS.defaultMessageTtlMs),
  defaultSubscriptionTtlMs: ms(1).max(LIMITS.MAX_TTL_MS, 'expected at most 30 days (2592000000 ms)').default(STICKY_DEFAULTS.defaultSubscriptionTtlMs),
  pollIntervalMs: ms(10).default(STICKY_DEFAULTS.pollIntervalMs),
  flushDelayMs: ms(0).default(STICKY_DEFAULTS.flushDelayMs),
  maxBatch: z.number().int().min(1).max(10_000).default(STICKY_DEFAULTS.maxBatch),
  commitDeadlineMs: ms(100).default(STICKY_DEFAULTS.commitDeadlineMs),
  writeQuorum: z.number().int().min(1).max(20).default(STICKY_DEFAULTS.writeQuorum),
  pushInlineBytes: z.number().int().min(0).default(STICKY_DEFAULTS.pushInlineBytes),
  replicationFactor: z.number().int().min(1).max(20).default(STICKY_DEFAULTS.replicationFactor),
  replicaRefreshMs: ms(100).default(STICKY_DEFAULTS.replicaRefreshMs),
  requestTimeoutMs: ms(10).default(STICKY_DEFAULTS.requestTimeoutMs),
  maxMessageBytes: z.number().int().min(1).max(72 * 1024, 'expected at most 73728 bytes (the record limit)').default(STICKY_DEFAULTS.maxMessageBytes),
  publishRatePerSecond: z.number().positive('expected a positive number').default(STICKY_DEFAULTS.publishRatePerSecond),
  publishBurst: z.number().int().min(1).default(STICKY_DEFAULTS.publishBurst),
  maxSubscribersPerTopic: z.number().int().min(1).max(1000, 'expected at most 1000 (the collection limit)').default(STICKY_DEFAULTS.maxSubscribersPerTopic),
  maxTopics: z.number().int().min(1).default(STICKY_DEFAULTS.maxTopics),
  maxSubscriptionTtlMs: ms(1).max(LIMITS.MAX_TTL_MS, 'expected at most 30 days (2592000000 ms)').default(STICKY_DEFAULTS.maxSubscriptionTtlMs),
  gcGraceMs: ms(0).max(LIMITS.MAX_GRACE_MS, 'expected at most one day (86400000 ms)').default(STICKY_DEFAULTS.gcGraceMs),
  sweepIntervalMs: ms(100).default(STICKY_DEFAULTS.sweepIntervalMs),
  republishAfterMs: ms(1_000).default(STICKY_DEFAULTS.republishAfterMs),
  recoveryAfterMs: ms(0).default(STICKY_DEFAULTS.recoveryAfterMs),
  storageQuotaBytes: z.number().int().min(1024 * 1024, 'expected at least 1 MiB').default(STICKY_DEFAULTS.storageQuotaBytes),
  storageQuotaPerPeerBytes: z.number().int().min(1024 * 1024, 'expected at least 1 MiB').default(STICKY_DEFAULTS.storageQuotaPerPeerBytes),
  renewAtFraction: z.number().gt(0, 'expected a fraction between 0 and 1').lt(1, 'expected a fraction between 0 and 1').default(STICKY_DEFAULTS.renewAtFraction)
}).strict().superRefine((o, ctx) => {
  if (o.writeQuorum > o.replicationFactor + 1) {
    ctx.addIssue({ code: 'custom', path: ['writeQuorum'], message: `must not exceed sticky.replicationFactor + 1 (${o.replicationFactor + 1}): a commit is stored on at most that many nodes` })
  }
}).prefault({})

/**
 * A `ttlMs` argument (publish, subscribe): an integer number of milliseconds 1-max, else a
 * ConfigError naming `ttlMs`. Checked per call, so a bad TTL fails that call only.
 */
export function checkTtlMs (ttlMs: unknown, max: number): number {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > max) {
    throw new ConfigError('ttlMs', `expected an integer number of milliseconds 1-${max}, got ${String(ttlMs)}`)
  }
  return ttlMs
}
