/*
 * One libp2p host per wallet per process, shared by every database opened with that wallet.
 * The host owns the gater's view of authorization (the union of its databases' registry caches),
 * fans connection events out to the databases, closes connections to peers that no database
 * authorizes any more after a registry refresh, and stops when its last database leaves.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createConnectionGater, createGaterStats, type GaterStats } from '../auth/gater.js'
import { createHost, DHT_PROTOCOL, LAN_DHT_PROTOCOL, type DepinLibp2p } from './host.js'
import { RoutingTableKeeper } from './routing-table-keeper.js'
import { peerIdToWallet } from '../identity.js'
import type { ComponentLogger } from '../logger.js'
import type { ResolvedOptions } from '../config.js'
import { TopicRouter } from './topic-router.js'
import { SubscriptionFilter } from '../auth/subscription-filter.js'
import { MemoryDatastore } from 'datastore-core'
import { MergingDatastore } from '../sticky/replica/merging-datastore.js'
import { STICKY_DEFAULTS } from '../sticky/options.js'
import { STICKY_NAMESPACE } from '../sticky/core/keys.js'
import { createStickyValidator, selectStickyRecord, type RecordPolicy } from '../sticky/core/validation.js'
import { ReplicaService } from '../sticky/replica/replica-protocol.js'
import { ed25519Signer, VerifiedSignatures, type Signer } from '../sticky/core/signing.js'

/** What the host needs from each open database. */
export interface HostMember {
  readonly name: string
  /** true when the GossipSub topic name belongs to this database */
  ownsTopic(pubsubTopic: string): boolean
  authorizesCached(wallet: string): boolean
  authorizes(wallet: string): Promise<boolean>
  onPeerConnected(peerId: string, wallet: string): void
  onPeerDisconnected(peerId: string): void
}

export class SharedHost {
  readonly gaterStats: GaterStats = createGaterStats()
  readonly members = new Set<HostMember>()
  readonly peerId: PeerId
  readonly wallet: string
  libp2p!: DepinLibp2p
  router!: TopicRouter
  subscriptionFilter!: SubscriptionFilter
  /** options of the connect() call that created the host: ports and transports are per host */
  readonly hostOptions: ResolvedOptions
  readonly datastore = new MergingDatastore(new MemoryDatastore())
  routingKeeper!: RoutingTableKeeper
  /** signs sticky records with the wallet key */
  readonly signer: Signer
  /** serves sticky records to the databases' replica clients (replica-protocol.ts) */
  replicaService!: ReplicaService

  private constructor (readonly privateKey: PrivateKey, options: ResolvedOptions, readonly logger: ComponentLogger) {
    this.peerId = peerIdFromPrivateKey(privateKey)
    this.wallet = peerIdToWallet(this.peerId)!
    this.signer = ed25519Signer(this.wallet, privateKey.raw)
    this.hostOptions = options
  }

  static async create (privateKey: PrivateKey, options: ResolvedOptions, logger: ComponentLogger): Promise<SharedHost> {
    const host = new SharedHost(privateKey, options, logger)
    host.datastore.setPolicy(host.recordPolicy)
    host.datastore.setQuota({
      totalBytes: options.sticky?.storageQuotaBytes ?? STICKY_DEFAULTS.storageQuotaBytes,
      perPeerBytes: options.sticky?.storageQuotaPerPeerBytes ?? STICKY_DEFAULTS.storageQuotaPerPeerBytes
    })
    const validateStickyRecord = createStickyValidator(host.recordPolicy)
    const gater = createConnectionGater({
      isAuthorizedCached: (peer) => host.isAuthorizedCached(peer),
      isAuthorized: async (peer) => await host.isAuthorized(peer)
    }, host.gaterStats, (hook, peer) => { logger.debug('gater denied peer', 'hook', hook, 'peer', peer.toString()) })
    host.libp2p = await createHost({
      privateKey,
      gater,
      listenHost: options.listenHost,
      listenPorts: options.listenPorts,
      announceAddresses: options.announceAddresses,
      relayServer: options.relayServer,
      relayReservation: options.relayReservation,
      maxConnections: options.connectionLimits.high,
      maxMessageBytes: options.maxMessageBytes,
      datastore: host.datastore,
      metrics: options.libp2pMetrics,
      dhtValidators: { [STICKY_NAMESPACE]: validateStickyRecord },
      dhtSelectors: { [STICKY_NAMESPACE]: selectStickyRecord }
    })
    host.router = new TopicRouter(host.libp2p.services.pubsub)
    host.replicaService = new ReplicaService({
      net: host.libp2p,
      datastore: host.datastore,
      validate: validateStickyRecord,
      servesDatabase: (db) => host.recordPolicy.servesDatabase(db),
      logger: logger.child('component', 'replica-service')
    })
    await host.replicaService.start()
    host.subscriptionFilter = new SubscriptionFilter(host.libp2p.services.pubsub, (peerId, topic) => host.mayReceive(peerId, topic))
    // A peer counts once identify has run over the connection: that proves streams work. A refused
    // dialer's connection looks open on its side for a moment (stack.md pitfall 4) but never
    // identifies, so readiness does not flap on it.
    host.routingKeeper = new RoutingTableKeeper({
      tables: [
        { protocol: DHT_PROTOCOL, table: () => (host.libp2p.services.dht as any).routingTable },
        { protocol: LAN_DHT_PROTOCOL, table: () => (host.libp2p.services.lanDht as any).routingTable }
      ],
      isConnected: (peer) => host.libp2p.getConnections(peer).some((c) => c.status === 'open'),
      logger: logger.child('component', 'routing-keeper')
    })
    host.libp2p.addEventListener('peer:identify', (evt) => {
      if (host.isAuthorizedCached(evt.detail.peerId)) host.routingKeeper.onIdentify(evt.detail.peerId, evt.detail.protocols)
      const peer = evt.detail.peerId
      const wallet = peerIdToWallet(peer)
      if (wallet == null || host.libp2p.getConnections(peer).every((c) => c.status !== 'open')) return
      for (const m of host.members) m.onPeerConnected(peer.toString(), wallet)
    })
    host.libp2p.addEventListener('peer:disconnect', (evt) => {
      const peerId = evt.detail.toString()
      for (const m of host.members) m.onPeerDisconnected(peerId)
    })
    logger.info('host started', 'addrs', host.libp2p.getMultiaddrs().map(String))
    return host
  }

  /** Which sticky records this node stores and serves: databases it has open, writers they authorize. */
  readonly recordPolicy: RecordPolicy = {
    servesDatabase: (db) => [...this.members].some((m) => m.name === db),
    isAuthorized: (db, wallet) => [...this.members].some((m) => m.name === db && m.authorizesCached(wallet)),
    verified: new VerifiedSignatures(),
    local: this.datastore.localRecords()
  }

  isAuthorizedCached (peer: PeerId): boolean {
    const wallet = peerIdToWallet(peer)
    if (wallet == null) return false
    for (const m of this.members) if (m.authorizesCached(wallet)) return true
    return false
  }

  async isAuthorized (peer: PeerId): Promise<boolean> {
    const wallet = peerIdToWallet(peer)
    if (wallet == null || this.members.size === 0) return false
    const answers = await Promise.all([...this.members].map(async (m) => await m.authorizes(wallet).catch(() => false)))
    return answers.includes(true)
  }

  /** A peer may subscribe to (and so receive) a topic when a database owning that topic authorizes it. */
  mayReceive (peerId: string, pubsubTopic: string): boolean {
    let owned = false
    const wallet = peerIdToWallet(peerId)
    for (const m of this.members) {
      if (!m.ownsTopic(pubsubTopic)) continue
      owned = true
      if (wallet != null && m.authorizesCached(wallet)) return true
    }
    return !owned
  }

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
      if (seen.has(id) || this.isAuthorizedCached(conn.remotePeer)) continue
      seen.add(id)
      closed++
      this.logger.info('closing connection to peer no longer authorized', 'peer', id)
      await this.libp2p.hangUp(conn.remotePeer).catch((err: unknown) => { this.logger.debug('hangUp failed', 'peer', id, 'error', err) })
    }
    return closed
  }

  /** Dials a peer at explicit addresses (bootstrap entries), QUIC first then TCP. */
  async dialAddrs (addrs: string[], signal: AbortSignal): Promise<void> {
    await this.libp2p.dial(addrs.map((a) => multiaddr(a)), { signal })
  }

  async stop (): Promise<void> {
    this.routingKeeper.stop()
    this.router.close()
    await this.replicaService.stop()
    await this.libp2p.stop()
    this.logger.info('host stopped')
  }
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
