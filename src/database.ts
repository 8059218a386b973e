/*
 * Database: one namespace opened by connect(). It owns its registry cache, readiness, bootstrap
 * loop, DHT discovery and real-time topics, and rides on the process's shared host. Start order:
 * registry first (so the gater can answer), then join the host, then bootstrap and discovery.
 * Stop order is the reverse; the host stops when its last database disconnects.
 */
import { EventEmitter } from 'node:events'
import type { Database } from './api.js'
import type { ResolvedOptions } from './config.js'
import { Discovery } from './host/discovery.js'
import { DisconnectedError } from './errors.js'
import type { Event } from './realtime/event-codec.js'
import { peerIdToWallet, walletToPeerId } from './identity.js'
import type { ComponentLogger } from './logger.js'
import { Bootstrapper, Readiness } from './host/readiness.js'
import { RealtimeTopics, type EventHandler, type RealtimeStats } from './realtime/realtime.js'
import { AuthorizedWalletCache, type RegistryCacheStats } from './auth/registry-cache.js'
import type { GaterStats } from './auth/gater.js'
import { DatabaseAccess } from './auth/policy.js'
import { releaseHost, type HostListener, type SharedHost } from './host/shared-host.js'
import { bootstrapAddrs, type DepinLibp2p } from './host/host.js'
import type { StickyPubSub } from './sticky/topic/sticky.js'
import { createStickyPubSub } from './sticky/topic/create-sticky.js'
import { replicaNetwork } from './sticky/replica/replica-network.js'
import type { ReplicaServiceStats } from './sticky/replica/replica-protocol.js'
import { directoryBytes } from './storage/disk-datastore.js'

/** A connected peer: its peer id, wallet address and the addresses of its connections. */
export interface PeerInfo { peerId: string, wallet: string, addrs: string[] }

/**
 * Counters of one database for monitoring (`db.stats()`; the daemon exports them as Prometheus
 * metrics).
 */
export interface DatabaseStats {
  ready: boolean
  connectedPeers: number
  realtime: RealtimeStats
  gater: GaterStats
  registry: RegistryCacheStats & { wallets: number }
  bootstrapAttempts: number
  /** discovery rounds run (advertise, lookup), skipped (lookups with nobody left to find), and peers dialed by lookups */
  discovery: { advertised: number, lookups: number, skipped: number, dialed: number }
  sticky: Record<string, number>
  /** enough replica-capable peers for the sticky write quorum (db.sticky.isReady()) */
  stickyReady: boolean
  /** records and bytes this node stores for the database, by record kind (as of the last sweep) */
  stored: Record<string, { records: number, bytes: number }>
  /** what this host served to other nodes' sticky stores (host-wide, like the gater counts) */
  replicaService: ReplicaServiceStats
}

/** Events a {@link Database} emits, with their arguments. */
export interface DatabaseEvents {
  ready: []
  'not-ready': []
  'peer:connect': [PeerInfo]
  'peer:disconnect': [{ peerId: string, wallet: string }]
}

/**
 * One database (namespace) opened by {@link connect}: real-time topics (`<database>_<topic>` on
 * GossipSub), sticky topics ({@link Database.sticky}), readiness and the authorized peers. Several
 * databases of one wallet share its host; the host stops when the last one disconnects.
 *
 * Events: `ready` / `not-ready` (readiness changes), `peer:connect` ({@link PeerInfo}) and
 * `peer:disconnect` (`{ peerId, wallet }`) for peers authorized for this database.
 */
export class DatabaseImpl extends EventEmitter<DatabaseEvents> implements Database {
  readonly name: string
  readonly registry: AuthorizedWalletCache
  /** who may connect, receive and write in this database (its registry decides) */
  private readonly access: DatabaseAccess
  /** what this database hears from the host */
  private readonly hostListener: HostListener
  readonly readiness = new Readiness()
  private readonly bootstrapper: Bootstrapper
  private readonly discovery: Discovery
  private readonly realtime: RealtimeTopics
  /** Sticky topics: history persisted in the DHT (see README). */
  readonly sticky: StickyPubSub
  private closed = false

  constructor (private readonly host: SharedHost, private readonly options: ResolvedOptions, private readonly log: ComponentLogger) {
    super()
    this.name = options.databaseName
    this.registry = new AuthorizedWalletCache(
      { fetch: options.getAuthorizedWallets, logger: log.child('component', 'registry') },
      { refreshIntervalMs: options.registryRefreshIntervalMs, timeoutMs: options.registryTimeoutMs, missIntervalMs: options.registryMissIntervalMs, maxShrinkFraction: options.registryMaxShrinkFraction })
    this.access = new DatabaseAccess(this.name, this.registry)
    this.hostListener = {
      onPeerConnected: (peerId, wallet) => { this.onPeerConnected(peerId, wallet) },
      onPeerDisconnected: (peerId) => { this.onPeerDisconnected(peerId) }
    }
    this.bootstrapper = new Bootstrapper({
      getBootstrapNodes: options.getBootstrapNodes,
      selfWallet: host.wallet,
      logger: log.child('component', 'bootstrap'),
      dial: async (node, signal) => {
        host.inboundLimits.remember(node.ip)
        const peerId = walletToPeerId(node.wallet).toString()
        await host.libp2p.dial(bootstrapAddrs(node.ip, node.quicPort, node.tcpPort, peerId), { signal })
      }
    }, this.readiness, { firstRetryDelayMs: options.bootstrapFirstRetryDelayMs, retryIntervalMs: options.bootstrapRetryIntervalMs, connectTimeoutMs: options.connectTimeoutMs })
    this.discovery = new Discovery({
      provide: async (cid, signal) => { await host.libp2p.contentRouting.provide(cid, { signal }) },
      findProviders: (cid, signal) => host.libp2p.contentRouting.findProviders(cid, { signal }),
      wantsPeer: (peerId) => peerId !== host.peerId.toString() && host.libp2p.getConnections().every((c) => c.remotePeer.toString() !== peerId) &&
        this.authorizesPeerIdCached(peerId),
      dial: async (peer, signal) => { await host.libp2p.dial(peer.id as any, { signal }) },
      connectedPeers: () => this.authorizedConnections(),
      nothingToFind: () => this.nothingToFind(options.connectionLimits.low),
      isReady: () => this.readiness.ready,
      logger: log.child('component', 'discovery')
    }, {
      databaseName: this.name,
      advertiseIntervalMs: options.discoveryAdvertiseIntervalMs,
      lookupIntervalMs: options.discoveryLookupIntervalMs,
      maxDialsPerRound: options.discoveryMaxDialsPerRound,
      lowConnections: options.connectionLimits.low,
      roundTimeoutMs: Math.max(options.connectTimeoutMs, 30_000)
    })
    this.realtime = new RealtimeTopics({
      pubsub: host.libp2p.services.pubsub,
      router: host.router,
      selfPeerId: host.peerId.toString(),
      authorizes: async (wallet) => await this.access.mayWriteChecked(wallet),
      logger: log.child('component', 'realtime')
    }, { databaseName: this.name, maxMessageBytes: options.maxMessageBytes, publishTimeoutMs: options.publishTimeoutMs })
    this.sticky = createStickyPubSub({
      db: this.name,
      net: replicaNetwork({
        dht: host.libp2p.services.dht,
        libp2p: host.libp2p,
        selfPeerId: host.peerId.toString(),
        isConnected: (peer) => host.libp2p.getConnections(peer).some((c) => c.status === 'open'),
        connectedPeers: () => host.libp2p.getPeers(),
        speaksReplica: (peer) => host.replicaPeers.speaks(peer),
        isIdentified: (peer) => host.replicaPeers.isIdentified(peer),
        refusedReplica: (peer) => { host.replicaPeers.refused(peer) }
      }, { requestTimeoutMs: options.sticky.requestTimeoutMs }),
      datastore: host.sticky.datastore,
      pubsub: host.libp2p.services.pubsub,
      router: host.router,
      signer: host.sticky.signer,
      mayWriteChecked: async (wallet) => await this.access.mayWriteChecked(wallet),
      selfPeerId: host.peerId.toString(),
      policy: host.policy,
      // only peers that can hold records count toward the quorum (Go nodes are authorized but cannot)
      replicaPeers: () => [...this.readiness.peerIds].filter((p) => host.replicaPeers.speaks(p)).length,
      compact: host.dataDir == null ? undefined : async () => { await host.dataDir!.store.compact('/dht/record/') },
      renewalNet: host.libp2p,
      logger: log
    }, options.sticky)
    this.readiness.onPeersChange(() => { this.sticky.peersChanged() })
    this.readiness.onChange((ready) => {
      this.log.info(ready ? 'ready' : 'not ready', 'peers', this.readiness.peerIds.size)
      this.emit(ready ? 'ready' : 'not-ready')
    })
  }

  /**
   * Calls each application listener on its own: one that throws (or returns a rejected promise) is
   * logged and the others still run. Events are emitted from inside libp2p's connection handling,
   * where a throw would surface as an uncaught exception and take the process down.
   */
  override emit<K extends keyof DatabaseEvents> (eventName: K, ...args: DatabaseEvents[K]): boolean {
    const listeners = this.rawListeners(eventName as any) as Array<(...a: unknown[]) => unknown>
    for (const listener of listeners) {
      try {
        const result = listener.apply(this, args)
        if (result != null && typeof (result as Promise<unknown>).then === 'function') {
          (result as Promise<unknown>).then(undefined, (err: unknown) => { this.listenerFailed(eventName, err) })
        }
      } catch (err) {
        this.listenerFailed(eventName, err)
      }
    }
    return listeners.length > 0
  }

  private listenerFailed (eventName: string, err: unknown): void {
    this.log.warn('a db.on listener threw; ignored', 'event', eventName, 'error', err)
  }

  /** Registry, then host membership, then bootstrap (background) and discovery. */
  async start (): Promise<void> {
    await this.registry.start()
    this.host.policy.join(this.access)
    this.host.addListener(this.hostListener)
    await this.sticky.start()
    this.registry.onRefresh(() => { void this.afterRefresh() })
    this.readiness.reset(this.authorizedConnectedPeers())
    void this.bootstrapper.start()
    this.discovery.start()
  }

  /** This node's libp2p peer id (derived from the wallet key). */
  get peerId (): string { return this.host.peerId.toString() }
  /** This node's wallet address (base58 of the Ed25519 public key). */
  get walletAddress (): string { return this.host.wallet }
  /** The shared libp2p node, for advanced use (shared with the wallet's other databases). */
  get libp2p (): DepinLibp2p { return this.host.libp2p }
  /** Real-time counters: published, received, dropped by reason, handler errors. */
  get realtimeStats (): RealtimeTopics['stats'] { return this.realtime.stats }
  /** Bootstrap rounds run so far. */
  get bootstrapAttempts (): number { return this.bootstrapper.attempts }

  /** Counters for monitoring (the daemon exports them as Prometheus metrics). Gater counts are host-wide. */
  stats (): DatabaseStats {
    return {
      ready: this.readiness.ready,
      connectedPeers: this.readiness.peerIds.size,
      realtime: this.realtime.stats,
      gater: this.host.gaterStats,
      registry: { ...this.registry.stats, wallets: this.registry.size },
      bootstrapAttempts: this.bootstrapper.attempts,
      discovery: { ...this.discovery.rounds },
      sticky: this.sticky.stats(),
      stickyReady: this.sticky.isReady(),
      stored: this.sticky.storedByKind(),
      replicaService: { ...this.host.replicaService.stats }
    }
  }

  /** True while at least one peer authorized for this database is connected and identified. */
  isReady (): boolean { return this.readiness.ready }
  /** Bytes of the host's data dir on disk (undefined without a dataDir). */
  async dataDirBytes (): Promise<number | undefined> {
    return this.host.dataDir == null ? undefined : await directoryBytes(this.host.dataDir.dir)
  }

  /**
   * Resolves once the database is ready (at once if it is).
   *
   * @throws {@link AbortedError} (`ERR_ABORTED`) when `options.signal` aborts first.
   */
  async waitUntilReady (options: { signal?: AbortSignal } = {}): Promise<void> {
    this.assertOpen()
    await this.readiness.waitUntilReady(options.signal)
  }

  /** Connected peers authorized for this database. */
  connectedPeers (): PeerInfo[] {
    // the peers `peer:connect` announced: authorized, and identify has run over the connection. A
    // connection the remote is about to refuse (a revoked wallet's redial, which a QUIC listener's
    // gater closes only after the handshake) is open for a moment but never identifies.
    return this.host.connectedPeers().filter((p) => this.access.mayConnect(p.wallet) && this.host.replicaPeers.isIdentified(p.peerId))
  }

  /**
   * Subscribes to the real-time topic `<database>_<topic>`: `handler` gets every event other nodes
   * publish there (never this node's own), once each. A handler that throws or rejects is logged and
   * the subscription continues.
   *
   * @throws {@link AlreadySubscribedError}, {@link InvalidTopicError}, {@link TopicCollisionError}
   */
  async subscribe<T = unknown> (topic: string, handler: EventHandler<T>): Promise<void> {
    this.assertOpen()
    this.realtime.subscribe(topic, handler)
  }

  /**
   * Stops delivering the real-time topic.
   *
   * @throws {@link NotSubscribedError} when not subscribed.
   */
  async unsubscribe (topic: string): Promise<void> {
    this.assertOpen()
    this.realtime.unsubscribe(topic)
  }

  /**
   * Publishes a JSON value on the real-time topic, signed. Waits up to `publishTimeoutMs` for a
   * subscribed peer it can send to and resolves with the {@link Event} once at least one was sent it.
   *
   * @throws {@link NoSubscribersError} when no subscriber appeared in time (nothing was sent),
   * {@link InvalidMessageError} for a value that is not JSON, {@link MessageTooLargeError} above
   * `maxMessageBytes`.
   */
  async publish<T = unknown> (topic: string, message: T, options: { signal?: AbortSignal } = {}): Promise<Event<T>> {
    this.assertOpen()
    return await this.realtime.publish(topic, message, options.signal)
  }

  /**
   * Stops this database; the shared host stops with the last one. Idempotent. Queued sticky
   * publishes are committed first, waiting at most `flushTimeoutMs` (default sticky commitDeadlineMs).
   */
  async disconnect (options: { flushTimeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.sticky.close(options.flushTimeoutMs)
    this.bootstrapper.stop()
    this.discovery.stop()
    this.realtime.unsubscribeAll()
    this.registry.stop()
    this.host.policy.leave(this.access)
    this.host.removeListener(this.hostListener)
    this.log.info('disconnecting')
    if (this.host.policy.size > 0) await this.host.closeUnauthorized()
    await releaseHost(this.host)
    this.removeAllListeners()
  }

  // --- host events ------------------------------------------------------------------------------

  private onPeerConnected (peerId: string, wallet: string): void {
    if (!this.access.mayConnect(wallet)) return
    const isNew = !this.readiness.peerIds.has(peerId)
    this.readiness.add(peerId)
    if (isNew) this.emit('peer:connect', { peerId, wallet, addrs: this.host.libp2p.getConnections().filter((c) => c.remotePeer.toString() === peerId).map((c) => c.remoteAddr.toString()) })
  }

  private onPeerDisconnected (peerId: string): void {
    this.sticky.peerDisconnected(peerId)
    if (!this.readiness.peerIds.has(peerId)) return
    this.readiness.remove(peerId)
    this.emit('peer:disconnect', { peerId, wallet: walletFromPeer(peerId) })
  }

  // --- internals --------------------------------------------------------------------------------

  private async afterRefresh (): Promise<void> {
    if (this.closed) return
    await this.host.closeUnauthorized()
    this.host.subscriptionFilter.recheck()
    this.readiness.reset(this.authorizedConnectedPeers())
  }

  private authorizedConnectedPeers (): string[] {
    return this.connectedPeers().map((p) => p.peerId)
  }

  /** peer ids this database authorizes with a connection open now (identified or not) */
  private authorizedConnections (): Set<string> {
    return new Set(this.host.connectedPeers().filter((p) => this.access.mayConnect(p.wallet)).map((p) => p.peerId))
  }

  /** connected to every other wallet of the registry, or to `low` authorized peers: a discovery lookup could dial nobody */
  private nothingToFind (low: number): boolean {
    const authorized = this.authorizedConnections().size
    return authorized >= low || authorized >= this.registry.size - (this.registry.has(this.host.wallet) ? 1 : 0)
  }

  private authorizesPeerIdCached (peerId: string): boolean {
    const wallet = walletFromPeer(peerId)
    return wallet !== '' && this.access.mayConnect(wallet)
  }

  private assertOpen (): void {
    if (this.closed) throw new DisconnectedError()
  }
}

function walletFromPeer (peerId: string): string {
  return peerIdToWallet(peerId) ?? ''
}
