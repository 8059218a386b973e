/*
 * depin-p2p public API. Everything exported here is supported; every other module is internal.
 */
import './polyfills.js'

export { connect } from './connect.js'
export type { Database, StickyTopics } from './api.js'
export type { DatabaseEvents, DatabaseStats, PeerInfo } from './database.js'
export type { ConnectOptions, BootstrapNode, GetAuthorizedWallets, GetBootstrapNodes } from './config.js'
export { DEFAULTS as DEFAULT_OPTIONS } from './config.js'
export type { Event } from './realtime/event-codec.js'
export type { EventHandler } from './realtime/realtime.js'
export type { Logger, LogLevel } from './logger.js'
export { createPinoLogger, silentLogger } from './logger.js'
export { walletToPeerId, peerIdToWallet, normalizeWalletAddress, type WalletLike, type PublicKeyLike } from './identity.js'
export { rendezvousCid } from './host/discovery.js'
export {
  StickyCommitError, RateLimitedError, TooManySubscribersError, TooManyTopicsError, ChannelFailedError, RenewalRejectedError, DecryptError, NotAuthorizedError
} from './sticky/core/errors.js'
export { encryptPayload, decryptPayload, generatePayloadKey, isEncryptedPayload, type EncryptedPayload } from './sticky/core/encryption.js'
export { STICKY_DEFAULTS } from './sticky/options.js'
export type { StickyOptions } from './sticky/options.js'
export type { StickyTopics as StickyPubSub } from './api.js'
export type { PublishOptions as StickyPublishOptions, SubscribeOptions as StickySubscribeOptions, TopicInfo } from './sticky/topic/sticky.js'
export type { StickyMessage, StickySubscription } from './sticky/topic/subscription.js'
export {
  DepinError, ConfigError, InvalidWalletError, InvalidTopicError, InvalidMessageError, MessageTooLargeError,
  AlreadySubscribedError, NotSubscribedError, NoSubscribersError, TopicCollisionError, DisconnectedError, AbortedError,
  type ErrorCode
} from './errors.js'
