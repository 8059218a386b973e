/*
 * Host-level GossipSub plumbing shared by every database on the host: one 'message' listener,
 * one validator per subscribed topic, and a table saying which database owns each GossipSub
 * topic. Validation (authorization of the author for the owning database, event decoding, size)
 * runs before a message is forwarded or delivered; anything invalid is rejected, counted by the
 * owner and never reaches a handler.
 */
import { TopicValidatorResult, type Message, type PeerId } from '@libp2p/interface'
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import { TopicCollisionError } from '../errors.js'
import { scoreTopic } from './gossip-score.js'

/** What the router needs from a topic's owner. Validation may be async (registry miss). */
export interface TopicOwner {
  /** decide; on accept return the payload to deliver later, else undefined (the owner counts the drop) */
  validate(pubsubTopic: string, msg: Message, propagationSource: PeerId): Promise<unknown>
  deliver(pubsubTopic: string, payload: unknown, msg: Message): void
}

export class TopicRouter {
  private readonly owners = new Map<string, TopicOwner>()
  private readonly accepted = new WeakMap<Message, unknown>()
  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    const owner = this.owners.get(msg.topic)
    if (owner == null || !this.accepted.has(msg)) return
    const payload = this.accepted.get(msg)
    this.accepted.delete(msg)
    owner.deliver(msg.topic, payload, msg)
  }

  constructor (private readonly pubsub: GossipSub) {
    pubsub.addEventListener('message', this.onMessage)
  }

  /** Subscribes `owner` to `pubsubTopic`; a topic owned by someone else is a collision. */
  add (pubsubTopic: string, owner: TopicOwner): void {
    const existing = this.owners.get(pubsubTopic)
    if (existing != null && existing !== owner) throw new TopicCollisionError(pubsubTopic)
    this.owners.set(pubsubTopic, owner)
    this.pubsub.topicValidators.set(pubsubTopic, async (source, msg) => {
      const payload = await owner.validate(pubsubTopic, msg, source)
      if (payload === undefined) return TopicValidatorResult.Reject
      this.accepted.set(msg, payload)
      return TopicValidatorResult.Accept
    })
    // rejected messages count against the peers that sent them (P4)
    scoreTopic(this.pubsub, pubsubTopic)
    this.pubsub.subscribe(pubsubTopic)
  }

  remove (pubsubTopic: string, owner: TopicOwner): void {
    if (this.owners.get(pubsubTopic) !== owner) return
    this.owners.delete(pubsubTopic)
    this.pubsub.topicValidators.delete(pubsubTopic)
    this.pubsub.unsubscribe(pubsubTopic)
  }

  /** Owner of a topic name other than `owner` exists (used before publishing on an unsubscribed topic). */
  ownedByOther (pubsubTopic: string, owner: TopicOwner): boolean {
    const existing = this.owners.get(pubsubTopic)
    return existing != null && existing !== owner
  }

  close (): void {
    this.pubsub.removeEventListener('message', this.onMessage)
    for (const topic of this.owners.keys()) this.pubsub.topicValidators.delete(topic)
    this.owners.clear()
  }
}
