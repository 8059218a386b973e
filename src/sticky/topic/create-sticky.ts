/*
 * Builds `db.sticky` for one database: every part in dependency order, then the facade
 * (sticky.ts) on the finished parts. This is the one place that knows how the parts call each
 * other; each part sees only the narrow functions it is handed here. A callback that names a part
 * built further down (the store telling repair about new replica-set members) is only called once
 * the facade is returned, so nobody sees a half-built layer.
 */
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import type { Datastore } from 'interface-datastore'
import type { TopicRouter } from '../../host/topic-router.js'
import type { ComponentLogger } from '../../logger.js'
import { RateLimiter } from '../core/rate-limit.js'
import type { Signer } from '../core/signing.js'
import type { RecordPolicy } from '../core/validation.js'
import type { StickyOptions } from '../options.js'
import type { MergingDatastore } from '../replica/merging-datastore.js'
import type { ReplicaNetwork } from '../replica/replica-network.js'
import { StickyStore } from '../replica/store.js'
import { Sweeper } from '../replica/sweeper.js'
import { Committers } from './committers.js'
import { SnapshotHistory } from './history.js'
import { PushChannel } from './push.js'
import { QuorumReadiness } from './quorum-readiness.js'
import { Recovery } from './recovery.js'
import { Renewals, type RenewalNetwork } from './renewal-service.js'
import { ReplicaRepair } from './repair.js'
import { RestartRepair } from './restart-repair.js'
import { StateLoader } from './state-loader.js'
import { StickyPubSub } from './sticky.js'
import { StickyState } from './sticky-state.js'
import { Subscriptions } from './subscriptions.js'

export interface StickyDeps {
  db: string
  net: ReplicaNetwork
  /** the host's datastore: coordinator keys merge on put and are swept under their lock */
  datastore: Datastore & Pick<MergingDatastore, 'pruneExpiredHeads'>
  pubsub: GossipSub
  router: TopicRouter
  signer: Signer
  selfPeerId: string
  policy: RecordPolicy
  /** the wallet may write to this database: its registry cache, then (rate-limited) the registry itself for a wallet it does not list yet */
  mayWriteChecked: (wallet: string) => Promise<boolean>
  /** connected authorized peers of this database that serve the replica protocol (sticky readiness) */
  replicaPeers: () => number
  /** returns the space of swept records to the file system (on-disk stores) */
  compact?: () => Promise<void>
  /** libp2p protocol handling for subscription renewals */
  renewalNet: RenewalNetwork
  logger: ComponentLogger
}

/** Builds the sticky topics of one database (`db.sticky`); `start()` it once the host runs. */
export function createStickyPubSub (deps: StickyDeps, options: StickyOptions): StickyPubSub {
  const { db, selfPeerId, signer, policy, datastore, logger } = deps
  const state = new StickyState()
  const store = new StickyStore({
    net: deps.net,
    datastore,
    selfPeerId,
    policy,
    logger: logger.child('component', 'sticky-store'),
    onReplicasGained: (topic, gained) => { repair.replicasGained(topic, gained) }
  }, db, options)
  const loader = new StateLoader(store)
  const history = new SnapshotHistory(store)
  const recovery = new Recovery({
    store,
    loader,
    selfPeerId,
    onState: (topic, channelState) => {
      subscriptions.get(topic)?.setChannelState(channelState)
      state.emit('channel-state', { topic, state: channelState })
    },
    logger
  })
  const pushes = new PushChannel({ db, pubsub: deps.pubsub, router: deps.router, policy, idOf: loader.idOf, subscription: (topic) => subscriptions.get(topic), logger }, options)
  const committers = new Committers({
    db,
    store,
    loader,
    signer,
    verified: policy.verified,
    walkHistory: async (topic, id, depth) => await history.walk(topic, id, depth),
    recover: async (topic, isBroken) => await recovery.find(topic, isBroken),
    onWritten: (topic, r) => { pushes.send(topic, r) },
    onCommitted: (topic, r, info) => { state.emit('commit', { topic, version: r.version, ...info }) },
    isSubscribed: (topic) => subscriptions.has(topic),
    writerAuthorized: () => policy.isAuthorized(db, signer.wallet),
    logger
  }, options)
  const repair = new ReplicaRepair({ store, loader, wallet: signer.wallet, writes: (topic) => committers.existing(topic) != null, isClosed: () => state.closed, logger })
  const renewals = new Renewals({
    db,
    net: deps.renewalNet,
    selfPeerId,
    signer,
    policy,
    store,
    loader,
    committer: (topic) => committers.get(topic),
    assertOpen: () => { state.assertOpen() },
    isClosing: () => state.closing,
    logger
  }, options)
  const sweeper = new Sweeper({ datastore, store, db, selfPeerId, compact: deps.compact, logger: logger.child('component', 'sticky-sweep') }, { republishAfterMs: options.republishAfterMs })
  const restartRepair = new RestartRepair({ datastore, store, loader, db, logger: logger.child('component', 'sticky-restart-repair') })
  const readiness = new QuorumReadiness({ replicaPeers: deps.replicaPeers, writeQuorum: options.writeQuorum, logger })
  // becoming ready (after start, a restart with a data dir, a partition healing) starts a
  // restart-repair pass shortly after (see restart-repair.ts)
  readiness.on('ready', () => { restartRepair.schedule(); state.emit('ready') })
  readiness.on('not-ready', () => { restartRepair.cancel(); state.emit('not-ready') })
  const subscriptions: Subscriptions = new Subscriptions({
    store,
    loader,
    wallet: signer.wallet,
    committer: (topic) => committers.get(topic),
    renew: async (topic, ttlMs) => await renewals.request(topic, ttlMs),
    pushes,
    readiness,
    state,
    logger
  }, options)
  return new StickyPubSub({
    db,
    wallet: signer.wallet,
    mayWrite: deps.mayWriteChecked,
    logger,
    state,
    store,
    loader,
    committers,
    history,
    recovery,
    pushes,
    renewals,
    sweeper,
    restartRepair,
    readiness,
    subscriptions,
    publishLimiter: new RateLimiter(options.publishRatePerSecond, options.publishBurst)
  }, options)
}
