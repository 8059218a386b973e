/*
 * Push delivery. Each subscribed sticky topic has a GossipSub topic `depin-sticky/<database>/<topic
 * id>`. As soon as a commit's head is written, the writer pushes the new messages there (inline up
 * to pushInlineBytes, message ids above, which makes subscribers poll) and hands them to its own
 * subscription directly. Incoming pushes are checked before delivery: shape, and every inline
 * message's topic, database, signature and authorized publisher; anything else is dropped and
 * counted. Subscribers also poll, so a lost or dropped push only delays delivery.
 */
import type { Message } from '@libp2p/interface'
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import type { TopicOwner, TopicRouter } from '../../host/topic-router.js'
import type { Logger } from '../../logger.js'
import { decodeJson, encodeRecord } from '../core/codec.js'
import { pushTopic } from '../core/keys.js'
import type { Entry } from '../core/records.js'
import { messageProblem, type RecordPolicy } from '../core/validation.js'
import { peerIdToWallet } from '../../identity.js'
import type { CommitResult } from './committer.js'
import type { StickySubscription } from './subscription.js'

/** entries or ids one push may carry (a commit holds at most maxBatch, 10,000 by config) */
const MAX_PUSH_ITEMS = 10_000

/** What a push carries on the wire (JSON). */
export interface Push { v: 1, version: number, entries?: Entry[], ids?: string[] }

export interface PushDeps {
  db: string
  pubsub: GossipSub
  router: TopicRouter
  policy: RecordPolicy
  /** message id of a message record */
  idOf: (m: object) => string
  /** this node's subscription to a topic, if any */
  subscription: (topic: string) => StickySubscription | undefined
  logger: Logger
}

export class PushChannel implements TopicOwner {
  pushesDropped = 0
  /** GossipSub push topic -> sticky topic, for the topics this node subscribes to */
  private readonly pushTopics = new Map<string, string>()

  constructor (private readonly deps: PushDeps, private readonly options: { pushInlineBytes: number }) {}

  /** Starts receiving pushes for a topic. */
  open (topic: string): void {
    const name = pushTopic(this.deps.db, topic)
    this.pushTopics.set(name, topic)
    this.deps.router.add(name, this)
  }

  /** Stops receiving pushes for a topic. */
  close (topic: string): void {
    const name = pushTopic(this.deps.db, topic)
    this.pushTopics.delete(name)
    this.deps.router.remove(name, this)
  }

  /** Pushes a commit's new messages to the topic's subscribers (called once its head is written). */
  send (topic: string, r: CommitResult): void {
    const local = this.deps.subscription(topic)
    if (r.entries.length === 0 && local == null) return
    const name = pushTopic(this.deps.db, topic)
    if (local != null && r.entries.length > 0) local.receivePush(r.version, r.entries)
    let body: Push = { v: 1, version: r.version, entries: r.entries }
    let bytes = encodeRecord(body)
    if (bytes.length > this.options.pushInlineBytes) {
      body = { v: 1, version: r.version, ids: r.entries.map((e) => this.deps.idOf(e.m)) }
      bytes = encodeRecord(body)
    }
    if (this.deps.pubsub.getSubscribers(name).length === 0) return
    this.deps.pubsub.publish(name, bytes).catch((err: unknown) => { this.deps.logger.debug('sticky push not sent; subscribers will poll', 'error', err) })
  }

  // --- TopicOwner: incoming pushes ---------------------------------------------------------------

  async validate (pubsubTopic: string, msg: Message): Promise<Push | undefined> {
    const topic = this.pushTopics.get(pubsubTopic)
    if (topic == null || msg.type !== 'signed') return this.drop('unsigned or unknown topic')
    // the sender must be a writer of this database (the host may serve others it is not in)
    const sender = peerIdToWallet(msg.from)
    if (sender == null || !this.deps.policy.isAuthorized(this.deps.db, sender)) return this.drop('sender not authorized for the database')
    const push = decodeJson(msg.data) as Push | undefined
    if (push == null || typeof push !== 'object' || push.v !== 1 || !Number.isSafeInteger(push.version) || push.version < 1) return this.drop('malformed push')
    if (push.ids != null && (!Array.isArray(push.ids) || push.ids.length > MAX_PUSH_ITEMS)) return this.drop('malformed push ids')
    if (push.entries != null) {
      if (!Array.isArray(push.entries) || push.entries.length > MAX_PUSH_ITEMS) return this.drop('malformed push entries')
      // verified like stored content: a push must not deliver what a page could not hold
      for (const e of push.entries) {
        if (e == null || typeof e !== 'object' || !Number.isSafeInteger(e.v) || e.v < 1 || e.v > push.version) return this.drop('push entry version invalid')
        const problem = messageProblem(e.m, this.deps.db, topic, this.deps.policy)
        if (problem != null) return this.drop(`invalid message in push: ${problem}`)
      }
    }
    return push
  }

  deliver (pubsubTopic: string, payload: unknown): void {
    const topic = this.pushTopics.get(pubsubTopic)
    const sub = topic == null ? undefined : this.deps.subscription(topic)
    if (sub == null) return
    const push = payload as Push
    if (push.entries != null) sub.receivePush(push.version, push.entries)
    else sub.pollNow('push without inline data')
  }

  private drop (reason: string): undefined {
    this.pushesDropped++
    this.deps.logger.debug('sticky push dropped', 'reason', reason)
    return undefined
  }
}
