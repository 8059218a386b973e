/*
 * Sticky-specific typed errors (codes are part of the public API, see src/errors.ts).
 */
import { DepinError } from '../../errors.js'

/**
 * `ERR_STICKY_COMMIT_TIMEOUT`: a sticky publish was not acknowledged by a quorum within
 * `commitDeadlineMs`; it is not acknowledged (it may still be stored).
 */
export class StickyCommitError extends DepinError {
  constructor (topic: string, attempts: number) {
    super('ERR_STICKY_COMMIT_TIMEOUT', `sticky commit on ${JSON.stringify(topic)} not confirmed by enough replicas after ${attempts} attempts; the message is not acknowledged`)
  }
}

/**
 * Fewer nodes able to hold the topic's records (this one included) than the write quorum needs,
 * for as long as the publish could wait (`commitDeadlineMs` or its signal): nothing was acknowledged.
 */
export class NoQuorumError extends DepinError {
  constructor (topic: string, readonly replicas: number, readonly quorum: number, waitedMs: number) {
    super('ERR_NO_QUORUM', `sticky commit on ${JSON.stringify(topic)} needs ${quorum} replicas (writeQuorum, this node included) but only ${replicas} were available for ${waitedMs} ms; the message is not acknowledged`)
  }
}

/** This node's per-publisher publish rate (stickyOptions.publishRate) is exhausted; retry after `retryAfterMs`. */
export class RateLimitedError extends DepinError {
  constructor (readonly what: string, readonly retryAfterMs: number) {
    super('ERR_RATE_LIMITED', `${what}: rate limit reached; retry in ${retryAfterMs} ms`)
  }
}

/** The topic already has `limit` live subscribers (stickyOptions.maxSubscribersPerTopic). */
export class TooManySubscribersError extends DepinError {
  constructor (topic: string, readonly limit: number) {
    super('ERR_TOO_MANY_SUBSCRIBERS', `sticky topic ${JSON.stringify(topic)} has ${limit} subscribers, the limit`)
  }
}

/** This node already coordinates `limit` sticky topics (stickyOptions.maxTopics). */
export class TooManyTopicsError extends DepinError {
  constructor (topic: string, readonly limit: number) {
    super('ERR_TOO_MANY_TOPICS', `cannot write sticky topic ${JSON.stringify(topic)}: this node already coordinates ${limit} topics, the limit`)
  }
}

/** The topic's channel is FAILED: no valid coordinator could be loaded. `db.sticky.recover(topic)` retries. */
export class ChannelFailedError extends DepinError {
  constructor (topic: string, reason: string) {
    super('ERR_CHANNEL_FAILED', `sticky topic ${JSON.stringify(topic)} is FAILED (${reason}); call recover(topic) to retry`)
  }
}

/** A subscription renewal was refused by the serving node (bad signature, replay, not a subscriber...). */
export class RenewalRejectedError extends DepinError {
  constructor (topic: string, readonly reason: string) {
    super('ERR_RENEWAL_REJECTED', `renewal of the subscription to ${JSON.stringify(topic)} was refused: ${reason}`)
  }
}

/** An encrypted payload could not be decrypted: wrong key, tampered data or not an encrypted payload. */
export class DecryptError extends DepinError {
  constructor (reason: string) { super('ERR_DECRYPT_FAILED', `cannot decrypt payload: ${reason}`) }
}

/** This node's wallet is not in the database's registry: nodes refuse records it signs. */
export class NotAuthorizedError extends DepinError {
  constructor (wallet: string, db: string) {
    super('ERR_NOT_AUTHORIZED', `wallet ${wallet} is not authorized for database ${JSON.stringify(db)}; sticky records it signs are refused`)
  }
}
