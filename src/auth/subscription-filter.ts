/*
 * Outbound side of per-database isolation. The topic validator stops messages from peers not
 * authorized for a database; this filter stops us from SENDING a database's messages to such
 * peers: their subscriptions to the database's topics are not recorded, so GossipSub never puts
 * them in a mesh or fanout for those topics. Refused subscriptions are remembered and re-checked
 * after each registry refresh, so a peer authorized later gets its subscription back.
 * GossipSub 14 has no public subscription filter; this wraps its subscription handler
 * (through host/internals.ts).
 */
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import type { PeerId } from '@libp2p/interface'
import { interceptSubscriptions, subscriptionTable, type SubscriptionHandler } from '../host/internals.js'

export class SubscriptionFilter {
  private readonly refused = new Map<string, { from: PeerId, topics: Set<string> }>()
  private readonly original: SubscriptionHandler
  refusedCount = 0

  constructor (private readonly pubsub: GossipSub, private readonly allow: (peerId: string, topic: string) => boolean) {
    this.original = interceptSubscriptions(pubsub, (original) => (from, topic, subscribe) => {
      const id = from.toString()
      if (subscribe && !this.allow(id, topic)) {
        this.refusedCount++
        const entry = this.refused.get(id) ?? { from, topics: new Set<string>() }
        entry.topics.add(topic)
        this.refused.set(id, entry)
        return
      }
      if (!subscribe) this.refused.get(id)?.topics.delete(topic)
      original(from, topic, subscribe)
    })
    pubsub.addEventListener('gossipsub:heartbeat', this.dropGone)
  }

  /** Re-checks refused subscriptions (after a registry refresh) and removes now-unauthorized ones. */
  recheck (): void {
    for (const [id, entry] of this.refused) {
      for (const topic of entry.topics) {
        if (this.allow(id, topic)) {
          entry.topics.delete(topic)
          this.original(entry.from, topic, true)
        }
      }
      if (entry.topics.size === 0) this.refused.delete(id)
    }
    const topics = subscriptionTable(this.pubsub)
    for (const [topic, peers] of topics) {
      for (const id of peers) {
        if (!this.allow(id, topic)) peers.delete(id)
      }
    }
  }

  private readonly dropGone = (): void => {
    const peers = new Set(this.pubsub.getPeers().map(String))
    for (const id of this.refused.keys()) if (!peers.has(id)) this.refused.delete(id)
  }
}
