/*
 * One libp2p host per wallet per process, shared by every database opened with that wallet.
 * `createSharedHost` builds it in order: the authorization policy (auth/policy.ts: the union of the
 * databases' registries), the connection gater on it, the sticky host parts, libp2p, then the
 * parts that need libp2p (topic router, replica service, subscription filter, routing-table
 * keeper) and the connection-event fan-out. Only then is the host returned: nobody sees a half-built
 * one. The host closes connections to peers that no database authorizes any more after a registry
 * refresh, and stops when its last database leaves (acquireHost / releaseHost).
 */
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { AccessPolicy } from '../auth/policy.js'
import { createConnectionGater, createGaterStats, type GaterStats } from '../auth/gater.js'
import { InboundLimiter } from '../auth/inbound-limits.js'
import { SubscriptionFilter } from '../auth/subscription-filter.js'
import { createHost, DHT_PROTOCOL, LAN_DHT_PROTOCOL, type DepinLibp2p } from './host.js'
import { RoutingTableKeeper } from './routing-table-keeper.js'
import { routingTableOf } from './internals.js'
import { TopicRouter } from './topic-router.js'
import { peerIdToWallet } from '../identity.js'
import type { ComponentLogger } from '../logger.js'
import type { ResolvedOptions } from '../config.js'
import { StickyHostParts, type ReplicaPeers, type ReplicaService } from '../sticky/replica/host-parts.js'
import { openDataDir, type OpenDataDir } from '../storage/data-dir.js'

/** What a database hears from the host: authorized peers arriving (identified) and leaving. */
export interface HostListener {
  onPeerConnected(peerId: string, wallet: string): void
  onPeerDisconnected(peerId: string): void
}

export interface SharedHostParts {
  privateKey: PrivateKey
  /** options of the connect() call that created the host: ports and transports are per host */
  hostOptions: ResolvedOptions
  logger: ComponentLogger
  policy: AccessPolicy
  gaterStats: GaterStats
  inboundLimits: InboundLimiter
  sticky: StickyHostParts
  libp2p: DepinLibp2p
  router: TopicRouter
  replicaService: ReplicaService
  subscriptionFilter: SubscriptionFilter
  routingKeeper: RoutingTableKeeper
  listeners: Set<HostListener>
  replicaPeers: ReplicaPeers
  dataDir?: OpenDataDir
}

export class SharedHost {
  readonly peerId: PeerId
  readonly wallet: string
  readonly privateKey: PrivateKey
  readonly hostOptions: ResolvedOptions
  readonly logger: ComponentLogger
  /** who may connect, receive and write: the union of the open databases' registries */
  readonly policy: AccessPolicy
  readonly gaterStats: GaterStats
  /** per-IP limit on inbound connections still in their handshake; knows registry peers' addresses */
  readonly inboundLimits: InboundLimiter
  /** sticky signer, datastore and replica service shared by the databases */
  readonly sticky: StickyHostParts
  readonly libp2p: DepinLibp2p
  readonly router: TopicRouter
  /** serves sticky records to the databases' replica clients (replica-protocol.ts) */
  readonly replicaService: ReplicaService
  readonly subscriptionFilter: SubscriptionFilter
  /** peers that announce the sticky replica protocol (Go nodes do not); see ReplicaPeers */
  readonly replicaPeers: ReplicaPeers
  private readonly routingKeeper: RoutingTableKeeper
  private readonly listeners: Set<HostListener>
  /** the open data dir (dataDir option): records are on disk there */
  readonly dataDir?: OpenDataDir

  constructor (parts: SharedHostParts) {
    this.privateKey = parts.privateKey
    this.peerId = peerIdFromPrivateKey(parts.privateKey)
    this.wallet = peerIdToWallet(this.peerId)!
    this.hostOptions = parts.hostOptions
    this.logger = parts.logger
    this.policy = parts.policy
    this.gaterStats = parts.gaterStats
    this.inboundLimits = parts.inboundLimits
    this.sticky = parts.sticky
    this.libp2p = parts.libp2p
    this.router = parts.router
    this.replicaService = parts.replicaService
    this.subscriptionFilter = parts.subscriptionFilter
    this.routingKeeper = parts.routingKeeper
    this.listeners = parts.listeners
    this.replicaPeers = parts.replicaPeers
    this.dataDir = parts.dataDir
  }

  /** Hears about authorized peers connecting and leaving until removed. */
  addListener (l: HostListener): void { this.listeners.add(l) }
  removeListener (l: HostListener): void { this.listeners.delete(l) }

  /** Peers connected now, each once, with its wallet and connection addresses. */
  connectedPeers (): Array<{ peerId: string, wallet: string, addrs: string[] }> {
    const byPeer = new Map<string, string[]>()
    for (const conn of this.libp2p.getConnections()) {
      const id = conn.remotePeer.toString()
      byPeer.set(id, [...(byPeer.get(id) ?? []), conn.remoteAddr.toString()])
    }
    const out: Array<{ peerId: string, wallet: string, addrs: string[] }> = []
    for (const [peerId, addrs] of byPeer) {
      const wallet = peerIdToWallet(peerId)
      if (wallet != null) out.push({ peerId, wallet, addrs })
    }
    return out
  }

  /** Closes connections to peers that no open database authorizes (after a refresh or a database leaving). */
  async closeUnauthorized (): Promise<number> {
    let closed = 0
    const seen = new Set<string>()
    for (const conn of this.libp2p.getConnections()) {
      const id = conn.remotePeer.toString()
      if (seen.has(id) || this.policy.mayConnect(conn.remotePeer)) continue
      seen.add(id)
      closed++
      this.logger.info('closing connection to peer no longer authorized', 'peer', id)
      await this.libp2p.hangUp(conn.remotePeer).catch((err: unknown) => { this.logger.debug('hangUp failed', 'peer', id, 'error', err) })
    }
    return closed
  }

  async stop (): Promise<void> {
    this.routingKeeper.stop()
    this.router.close()
    await this.replicaService.stop()
    await this.libp2p.stop()
    await this.dataDir?.store.close()
    this.logger.info('host stopped')
  }
}

/**
 * Builds and starts a host, in order; see the top of this file. With a data dir, it is opened (and
 * locked) first and closed again if anything after it fails.
 */
export async function createSharedHost (privateKey: PrivateKey, options: ResolvedOptions, logger: ComponentLogger): Promise<SharedHost> {
  const wallet = peerIdToWallet(peerIdFromPrivateKey(privateKey))!
  const dataDir = options.dataDir == null ? undefined : await openDataDir(options.dataDir, wallet)
  if (dataDir != null) logger.info('data dir open', 'dir', dataDir.dir, 'formatFound', dataDir.foundVersion ?? 'new')
  try {
    return await buildSharedHost(privateKey, options, logger, dataDir)
  } catch (err) {
    await dataDir?.store.close().catch(() => {})
    throw err
  }
}

async function buildSharedHost (privateKey: PrivateKey, options: ResolvedOptions, logger: ComponentLogger, dataDir?: OpenDataDir): Promise<SharedHost> {
  const peerId = peerIdFromPrivateKey(privateKey)
  const policy = new AccessPolicy()
  const gaterStats = createGaterStats()
  // asked only once the host below exists and runs
  const inboundLimits = new InboundLimiter((peer) => libp2p.getConnections(peer).length)
  const gater = createConnectionGater({
    mayConnect: (peer) => policy.mayConnect(peer),
    mayConnectChecked: async (peer) => await policy.mayConnectChecked(peer)
  }, gaterStats, (hook, peer) => { logger.debug('gater denied peer', 'hook', hook, 'peer', peer.toString()) }, inboundLimits)
  const sticky = new StickyHostParts(policy, peerIdToWallet(peerId)!, privateKey.raw, options.sticky, dataDir?.store)
  // not awaited: reading a large data dir takes seconds; puts and deletes wait for it instead
  sticky.open().then((restored) => {
    if (dataDir != null) logger.info('storage quota counts the records on disk', 'records', restored.records, 'bytes', restored.bytes)
  }, (err: unknown) => { logger.warn('storage quota could not count the records on disk', 'error', err) })
  const libp2p = await createHost({
    // started below, once the replica protocol is registered: peers identifying us must see it
    start: false,
    privateKey,
    gater,
    listenHost: options.listenHost,
    listenPorts: options.listenPorts,
    announceAddresses: options.announceAddresses,
    relayServer: options.relayServer,
    relayReservation: options.relayReservation,
    maxConnections: options.connectionLimits.high,
    maxMessageBytes: options.maxMessageBytes,
    datastore: sticky.datastore,
    metrics: options.libp2pMetrics,
    dhtValidators: sticky.dhtValidators,
    dhtSelectors: sticky.dhtSelectors
  })
  const router = new TopicRouter(libp2p.services.pubsub)
  const replicaService = sticky.replicaService(libp2p, logger.child('component', 'replica-service'))
  await replicaService.start()
  await libp2p.start()
  const subscriptionFilter = new SubscriptionFilter(libp2p.services.pubsub, (peer, topic) => policy.mayReceive(peer, topic))
  const routingKeeper = new RoutingTableKeeper({
    tables: [
      { protocol: DHT_PROTOCOL, table: () => routingTableOf(libp2p.services.dht) },
      { protocol: LAN_DHT_PROTOCOL, table: () => routingTableOf(libp2p.services.lanDht) }
    ],
    isConnected: (peer) => libp2p.getConnections(peer).some((c) => c.status === 'open'),
    logger: logger.child('component', 'routing-keeper')
  })
  const listeners = new Set<HostListener>()
  const replicaPeers = sticky.replicaPeers
  // A peer counts once identify has run over the connection: that proves streams work. A dialer
  // the gater refused sees its connection open for a moment (the refusal arrives after its side
  // of the handshake completes) but never identifies, so readiness does not flap on it.
  libp2p.addEventListener('peer:identify', (evt) => {
    replicaPeers.identified(evt.detail.peerId, evt.detail.protocols)
    if (policy.mayConnect(evt.detail.peerId)) routingKeeper.onIdentify(evt.detail.peerId, evt.detail.protocols)
    const peer = evt.detail.peerId
    const wallet = peerIdToWallet(peer)
    if (wallet == null || libp2p.getConnections(peer).every((c) => c.status !== 'open')) return
    if (policy.mayConnect(peer)) {
      for (const c of libp2p.getConnections(peer)) {
        try { inboundLimits.remember(c.remoteAddr.nodeAddress().address) } catch {}
      }
    }
    for (const l of listeners) l.onPeerConnected(peer.toString(), wallet)
  })
  libp2p.addEventListener('peer:disconnect', (evt) => {
    const id = evt.detail.toString()
    replicaPeers.disconnected(id)
    for (const l of listeners) l.onPeerDisconnected(id)
  })
  logger.info('host started', 'addrs', libp2p.getMultiaddrs().map(String))
  return new SharedHost({ privateKey, hostOptions: options, logger, policy, gaterStats, inboundLimits, sticky, libp2p, router, replicaService, subscriptionFilter, routingKeeper, listeners, replicaPeers, dataDir })
}

/** Process-wide registry: wallet address -> host (or the promise of one being created). */
const hosts = new Map<string, { host: Promise<SharedHost>, refs: number }>()

export async function acquireHost (wallet: string, create: () => Promise<SharedHost>): Promise<SharedHost> {
  let entry = hosts.get(wallet)
  if (entry == null) {
    entry = { host: create(), refs: 0 }
    hosts.set(wallet, entry)
    entry.host.catch(() => { if (hosts.get(wallet) === entry) hosts.delete(wallet) })
  }
  entry.refs++
  try {
    return await entry.host
  } catch (err) {
    entry.refs--
    throw err
  }
}

/** Drops one reference; the last one stops the host. */
export async function releaseHost (host: SharedHost): Promise<void> {
  const entry = hosts.get(host.wallet)
  if (entry == null) return
  entry.refs--
  if (entry.refs > 0) return
  hosts.delete(host.wallet)
  await host.stop()
}
