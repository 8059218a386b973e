/*
 * Typed errors. Every error the library throws on purpose is a DepinError with a stable `code`,
 * so callers (and tests) match on `err.code`, never on message text.
 */

/** The stable `code` of every {@link DepinError}. */
export type ErrorCode =
  | 'ERR_INVALID_CONFIG'
  | 'ERR_INVALID_TOPIC'
  | 'ERR_INVALID_MESSAGE'
  | 'ERR_MESSAGE_TOO_LARGE'
  | 'ERR_ALREADY_SUBSCRIBED'
  | 'ERR_NOT_SUBSCRIBED'
  | 'ERR_NO_SUBSCRIBERS'
  | 'ERR_TOPIC_COLLISION'
  | 'ERR_DISCONNECTED'
  | 'ERR_ABORTED'
  | 'ERR_INVALID_WALLET'
  | 'ERR_STICKY_COMMIT_TIMEOUT'
  | 'ERR_RATE_LIMITED'
  | 'ERR_TOO_MANY_SUBSCRIBERS'
  | 'ERR_TOO_MANY_TOPICS'
  | 'ERR_CHANNEL_FAILED'
  | 'ERR_RENEWAL_REJECTED'
  | 'ERR_DECRYPT_FAILED'
  | 'ERR_NOT_AUTHORIZED'
  | 'ERR_NO_QUORUM'
  | 'ERR_DATA_DIR'
  | 'ERR_DATA_DIR_LOCKED'

/** Base class of every intentional error of this library; match on `code` (see {@link ErrorCode}). */
export class DepinError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** A connect() option is missing or wrong. `field` is the option's path, e.g. `listenPorts.quic`. */
export class ConfigError extends DepinError {
  readonly field: string
  constructor (field: string, message: string) {
    super('ERR_INVALID_CONFIG', `invalid config: ${field}: ${message}`)
    this.field = field
  }
}

/** A wallet address, public key or secret key that does not decode to an Ed25519 key. */
export class InvalidWalletError extends DepinError {
  constructor (message: string) { super('ERR_INVALID_WALLET', message) }
}

/**
 * `ERR_INVALID_TOPIC`: a topic name that is empty, too long or has control characters (or bad subscribe
 * options).
 */
export class InvalidTopicError extends DepinError {
  constructor (topic: unknown, reason: string) { super('ERR_INVALID_TOPIC', `invalid topic ${JSON.stringify(topic)}: ${reason}`) }
}

/** The message is not a JSON value (undefined, a function, a BigInt, a cycle...). */
export class InvalidMessageError extends DepinError {
  constructor (reason: string, options?: { cause?: unknown }) { super('ERR_INVALID_MESSAGE', `message is not publishable: ${reason}`, options) }
}

/** `ERR_MESSAGE_TOO_LARGE`: the encoded message exceeds the size limit. */
export class MessageTooLargeError extends DepinError {
  readonly size: number
  readonly limit: number
  constructor (size: number, limit: number) {
    super('ERR_MESSAGE_TOO_LARGE', `encoded event is ${size} bytes, over the ${limit}-byte limit`)
    this.size = size
    this.limit = limit
  }
}

/** `ERR_ALREADY_SUBSCRIBED`: this database already subscribes to the topic. */
export class AlreadySubscribedError extends DepinError {
  constructor (topic: string) { super('ERR_ALREADY_SUBSCRIBED', `already subscribed to topic ${JSON.stringify(topic)}`) }
}

/** `ERR_NOT_SUBSCRIBED`: unsubscribing from a topic this database does not subscribe to. */
export class NotSubscribedError extends DepinError {
  constructor (topic: string) { super('ERR_NOT_SUBSCRIBED', `not subscribed to topic ${JSON.stringify(topic)}`) }
}

/** No peer subscribed to the topic within `publishTimeoutMs`: the message was NOT sent. */
export class NoSubscribersError extends DepinError {
  constructor (topic: string, waitedMs: number) {
    super('ERR_NO_SUBSCRIBERS', `no peer subscribed to ${JSON.stringify(topic)} within ${waitedMs} ms; the message was not sent`)
  }
}

/** Two open databases on one host map to the same GossipSub topic name. */
export class TopicCollisionError extends DepinError {
  constructor (pubsubTopic: string) { super('ERR_TOPIC_COLLISION', `GossipSub topic ${JSON.stringify(pubsubTopic)} is already used by another database on this host`) }
}

/** `ERR_DISCONNECTED`: the database was disconnected. */
export class DisconnectedError extends DepinError {
  constructor () { super('ERR_DISCONNECTED', 'the database is disconnected') }
}

/** `ERR_ABORTED`: the caller's signal aborted the wait. */
export class AbortedError extends DepinError {
  constructor (message = 'the operation was aborted') { super('ERR_ABORTED', message) }
}

/** The data directory cannot be used: unreadable, written by another wallet, or in a format this version cannot read. */
export class DataDirError extends DepinError {
  constructor (readonly dir: string, reason: string) { super('ERR_DATA_DIR', `data dir ${dir}: ${reason}`) }
}

/** Another process (or host) has the data directory open: one data directory per wallet host. */
export class DataDirLockedError extends DepinError {
  readonly dir: string
  constructor (dir: string) {
    super('ERR_DATA_DIR_LOCKED', `data dir ${dir} is in use by another process (its record store is locked); give each node its own dataDir`)
    this.dir = dir
  }
}
