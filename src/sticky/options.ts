/*
 * Sticky topic settings (`connect({ sticky: { ... } })`): every option with its meaning and
 * default. The replica-set options (replicationFactor, replicaRefreshMs, requestTimeoutMs) are
 * declared by the replica network (replica-sets.ts) and included here.
 */
import type { StoreOptions } from './replica/store.js'
import { REPLICA_NETWORK_DEFAULTS } from './replica/replica-network.js'
import { ConfigError } from '../errors.js'

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
 * A `ttlMs` argument (publish, subscribe): an integer number of milliseconds 1-max, else a
 * ConfigError naming `ttlMs`. Checked per call, so a bad TTL fails that call only.
 */
export function checkTtlMs (ttlMs: unknown, max: number): number {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > max) {
    throw new ConfigError('ttlMs', `expected an integer number of milliseconds 1-${max}, got ${String(ttlMs)}`)
  }
  return ttlMs
}
