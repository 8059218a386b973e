/*
 * Real-time topics of one database: GossipSub topic `<database>_<topic>`, events in the Go
 * library's JSON shape, signed messages (StrictSign). Inbound messages are checked before they are
 * forwarded: the author must be authorized for THIS database (per-database isolation on a shared
 * host), the event must decode and its `from_peer` must be empty or the signed author; every drop is counted by reason and logged at debug. A handler
 * that throws is logged and the subscription continues. publish() refuses to send into the void:
 * it waits up to `publishTimeoutMs` for a subscribed peer, then fails with NoSubscribersError.
 */
import { randomUUID } from 'node:crypto'
import type { Message, PeerId } from '@libp2p/interface'
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import { AbortedError, AlreadySubscribedError, InvalidTopicError, NoSubscribersError, NotSubscribedError, TopicCollisionError } from '../errors.js'
import { decodeEvent, encodeEvent, unixSeconds, type DropReason, type Event } from './event-codec.js'
import { peerIdToWallet } from '../identity.js'
import type { Logger } from '../logger.js'
import type { TopicOwner, TopicRouter } from '../host/topic-router.js'
import { hasOutboundStream, isNoPeersSubscribedError } from '../host/internals.js'

/** Receives the events of a subscribed real-time topic; may be async (a rejection is logged). */
export type EventHandler<T = unknown> = (event: Event<T>) => void | Promise<void>

export interface RealtimeDeps {
  pubsub: GossipSub
  router: TopicRouter
  selfPeerId: string
  /** author wallet authorized for this database (cache, then registry on a miss) */
  authorizes: (wallet: string) => Promise<boolean>
  logger: Logger
}

export interface RealtimeOptions { databaseName: string, maxMessageBytes: number, publishTimeoutMs: number }

export interface RealtimeStats {
  published: number
  received: number
  dropped: Record<DropReason, number>
  handlerErrors: number
}

const MAX_TOPIC_LENGTH = 256

/** Topic names: 1-256 characters, no control characters. */
export function validateTopicName (topic: unknown): string {
  if (typeof topic !== 'string' || topic.length === 0) throw new InvalidTopicError(topic, 'must be a non-empty string')
  if (topic.length > MAX_TOPIC_LENGTH) throw new InvalidTopicError(topic, `longer than ${MAX_TOPIC_LENGTH} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(topic)) throw new InvalidTopicError(topic, 'contains control characters')
  return topic
}

export class RealtimeTopics implements TopicOwner {
  readonly stats: RealtimeStats = {
    published: 0,
    received: 0,
    dropped: { oversize: 0, 'not-json': 0, 'not-object': 0, 'missing-id': 0, 'bad-field-type': 0, 'spoofed-from-peer': 0, unauthorized: 0, 'own-message': 0, 'handler-missing': 0 },
    handlerErrors: 0
  }

  private readonly handlers = new Map<string, EventHandler<any>>()

  constructor (private readonly deps: RealtimeDeps, private readonly options: RealtimeOptions) {}

  pubsubTopic (topic: string): string { return `${this.options.databaseName}_${validateTopicName(topic)}` }

  subscribe<T = unknown> (topic: string, handler: EventHandler<T>): void {
    const name = this.pubsubTopic(topic)
    if (typeof handler !== 'function') throw new InvalidTopicError(topic, 'handler must be a function')
    if (this.handlers.has(name)) throw new AlreadySubscribedError(topic)
    this.deps.router.add(name, this)
    this.handlers.set(name, handler)
  }

  unsubscribe (topic: string): void {
    const name = this.pubsubTopic(topic)
    if (!this.handlers.has(name)) throw new NotSubscribedError(topic)
    this.handlers.delete(name)
    this.deps.router.remove(name, this)
  }

  unsubscribeAll (): void {
    for (const name of this.handlers.keys()) this.deps.router.remove(name, this)
    this.handlers.clear()
  }

  topics (): string[] {
    const prefix = `${this.options.databaseName}_`
    return [...this.handlers.keys()].map((t) => t.slice(prefix.length))
  }

  async publish<T = unknown> (topic: string, message: T, signal?: AbortSignal): Promise<Event<T>> {
    const name = this.pubsubTopic(topic)
    if (this.deps.router.ownedByOther(name, this)) throw new TopicCollisionError(name)
    const event: Event<T> = { id: randomUUID(), fromPeerId: this.deps.selfPeerId, message, timestamp: unixSeconds() }
    const data = encodeEvent(event, this.options.maxMessageBytes)
    const deadline = Date.now() + this.options.publishTimeoutMs
    // GossipSub lists a subscriber as soon as its SUBSCRIBE arrives, but can only send once its own
    // outbound stream to that peer exists; a publish in between "succeeds" with zero recipients and
    // the message is gone. So: wait for a subscriber we can actually send to, and treat a publish
    // that reached nobody as not sent (retry until the deadline, then NoSubscribersError).
    for (;;) {
      await this.waitForSendableSubscriber(name, topic, deadline, signal)
      let recipients: number
      try {
        recipients = (await this.deps.pubsub.publish(name, data)).recipients.length
      } catch (err) {
        if (!isNoPeersSubscribedError(err)) throw err
        recipients = 0
      }
      if (recipients > 0) break
      if (Date.now() >= deadline) throw new NoSubscribersError(topic, this.options.publishTimeoutMs)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    this.stats.published++
    return event
  }

  async validate (pubsubTopic: string, msg: Message, _source: PeerId): Promise<Event | undefined> {
    if (msg.type !== 'signed') return this.drop('unauthorized', pubsubTopic, 'unsigned message')
    const wallet = peerIdToWallet(msg.from)
    if (wallet == null || !(await this.deps.authorizes(wallet))) {
      return this.drop('unauthorized', pubsubTopic, `author ${msg.from.toString()} is not authorized for this database`)
    }
    const decoded = decodeEvent(msg.data, this.options.maxMessageBytes, msg.from.toString())
    if (!decoded.ok) return this.drop(decoded.reason, pubsubTopic, decoded.detail)
    return decoded.event
  }

  deliver (pubsubTopic: string, payload: unknown, msg: Message): void {
    if (msg.type === 'signed' && msg.from.toString() === this.deps.selfPeerId) { this.stats.dropped['own-message']++; return }
    const handler = this.handlers.get(pubsubTopic)
    if (handler == null) { this.stats.dropped['handler-missing']++; return }
    this.stats.received++
    const event = payload as Event
    try {
      const result = handler(event)
      if (result != null && typeof (result as Promise<void>).catch === 'function') {
        (result as Promise<void>).catch((err: unknown) => { this.handlerFailed(pubsubTopic, event, err) })
      }
    } catch (err) {
      this.handlerFailed(pubsubTopic, event, err)
    }
  }

  private handlerFailed (topic: string, event: Event, err: unknown): void {
    this.stats.handlerErrors++
    this.deps.logger.warn('event handler threw; subscription continues', 'topic', topic, 'id', event.id, 'error', err)
  }

  private drop (reason: DropReason, topic: string, detail: string): undefined {
    this.stats.dropped[reason]++
    this.deps.logger.debug('inbound event dropped', 'topic', topic, 'reason', reason, 'detail', detail)
    return undefined
  }

  /** Peers subscribed to `name` that GossipSub has an open outbound stream to. */
  private sendableSubscribers (name: string): number {
    return this.deps.pubsub.getSubscribers(name).filter((p) => hasOutboundStream(this.deps.pubsub, p.toString()) !== false).length
  }

  private async waitForSendableSubscriber (name: string, topic: string, deadline: number, signal?: AbortSignal): Promise<void> {
    while (this.sendableSubscribers(name) === 0) {
      if (signal?.aborted === true) throw new AbortedError('publish was aborted while waiting for subscribers')
      if (Date.now() >= deadline) throw new NoSubscribersError(topic, this.options.publishTimeoutMs)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
}
