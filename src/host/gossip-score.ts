/*
 * GossipSub peer scoring for a permissioned network. The registry (connection gater) already keeps
 * Sybils out, so the components that exist to resist mass identities are switched off; the ones
 * that catch an authorized peer misbehaving stay:
 *
 * - P6, IP colocation: OFF. GossipSub's default (weight -5 per peer beyond 10 sharing one IP,
 *   squared) pushed every peer below the publish threshold at 14 peers on one address and graylisted
 *   them at 15: on loopback, behind one NAT address or with several nodes per host on host networking
 *   every peer shares an IP, and real-time topics silently stopped delivering.
 * - P4, invalid messages: ON for every topic we subscribe to (GossipSub only scores topics listed in
 *   its parameters, and ours are created at run time, so `scoreTopic` adds each one as it is
 *   subscribed). A peer that keeps sending messages our validator rejects (bad signature, author
 *   not authorized for the database, malformed event) sinks below the gossip, publish and graylist
 *   thresholds (-10 / -50 / -80: about 3, 7 and 9 recent rejections; the count decays by 10 % a
 *   second). An honest peer validates before forwarding, so it only collects a rejection when
 *   registry views differ for a moment.
 * - P7, behaviour penalty: ON (GossipSub's default): broken IHAVE promises and GRAFTs during backoff.
 * - P1/P2 (time in mesh, first deliveries): OFF. They only reward, and the topic cap limits them;
 *   a permissioned mesh has no one to out-compete.
 * - P3/P3b (mesh delivery deficit): OFF. They penalise mesh peers that forward fewer than a set
 *   number of messages per window, i.e. every peer on a quiet topic; rates vary per application.
 * - P5, application score: unused (0).
 * The thresholds stay GossipSub's defaults.
 */
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import { createTopicScoreParams, type PeerScoreParams, type TopicScoreParams } from '@chainsafe/libp2p-gossipsub/score'

/** Peer-level score parameters passed to gossipsub({ scoreParams }). */
export const PEER_SCORE_PARAMS: Partial<PeerScoreParams> = {
  IPColocationFactorWeight: 0,
  appSpecificWeight: 0
}

/** Per-topic parameters: only P4 (invalid message deliveries) counts. */
export const TOPIC_SCORE_PARAMS: Partial<TopicScoreParams> = {
  topicWeight: 1,
  timeInMeshWeight: 0,
  firstMessageDeliveriesWeight: 0,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  invalidMessageDeliveriesWeight: -1,
  invalidMessageDeliveriesDecay: 0.9
}

/**
 * Adds `topic` to the scored topics. GossipSub reads its topic parameters from `score.params.topics`
 * on every scoring event, and offers no call to add a topic after start; this is the one place that
 * reaches in. Topics stay scored after unsubscribing (their stats decay to nothing).
 */
export function scoreTopic (pubsub: GossipSub, topic: string): void {
  const topics = pubsub.score.params.topics
  if (topics[topic] === undefined) topics[topic] = createTopicScoreParams(TOPIC_SCORE_PARAMS)
}
