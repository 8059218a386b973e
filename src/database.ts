/*
 * Database: one namespace opened by connect(). It owns its registry cache, readiness, bootstrap
 * loop, DHT discovery and real-time topics, and rides on the process's shared host. Start order:
 * registry first (so the gater can answer), then join the host, then bootstrap and discovery.
 * Stop order is the reverse; the host stops when its last database disconnects.
 */
import { EventEmitter } from 'node:events'
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
import { releaseHost, type HostMember, type SharedHost } from './host/shared-host.js'
import { bootstrapAddrs, type DepinLibp2p } from './host/host.js'
import { StickyPubSub } from './sticky/topic/sticky.js'
import { STICKY_DEFAULTS } from './sticky/options.js'
import { replicaNetwork } from './sticky/replica/replica-network.js'
import type { ReplicaServiceStats } from './sticky/replica/replica-protocol.js'

export interface PeerInfo { peerId: string, wallet: string, addrs: string[] }

export interface DatabaseStats {
  ready: boolean
  connectedPeers: number
  realtime: RealtimeStats
  gater: GaterStats
  registry: RegistryCacheStats & { wallets: number }
  bootstrapAttempts: number
  sticky: Record<string, number>
  /** what this host served to other nodes' sticky stores (host-wide, like the gater counts) */
  replicaService: ReplicaServiceStats
}

export interface DatabaseEvents {
  ready: []
  'not-ready': []
  'peer:connect': [PeerInfo]
  'peer:disconnect': [{ peerId: string, wallet: string }]
}

export class Database extends EventEmitter<DatabaseEvents> implements HostMember {
  readonly name: string
  readonly registry: AuthorizedWalletCache
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
      connectionCount: () => host.libp2p.getConnections().length,
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
      authorizes: async (wallet) => await this.authorizes(wallet),
      logger: log.child('component', 'realtime')
    }, { databaseName: this.name, maxMessageBytes: options.maxMessageBytes, publishTimeoutMs: options.publishTimeoutMs })
    const stickyOptions = { ...STICKY_DEFAULTS, ...options.sticky }
    this.sticky = new StickyPubSub({
      db: this.name,
      net: replicaNetwork({
        dht: host.libp2p.services.dht,
        libp2p: host.libp2p,
        selfPeerId: host.peerId.toString(),
        isConnected: (peer) => host.libp2p.getConnections(peer).some((c) => c.status === 'open'),
        connectedPeers: () => host.libp2p.getPeers()
      }, { requestTimeoutMs: stickyOptions.requestTimeoutMs }),
      datastore: host.datastore,
      pubsub: host.libp2p.services.pubsub,
      router: host.router,
      signer: host.signer,
      selfPeerId: host.peerId.toString(),
      policy: host.recordPolicy,
      peerCount: () => this.readiness.peerIds.size,
      renewalNet: host.libp2p,
      logger: log
    }, stickyOptions)
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
    this.host.members.add(this)
    await this.sticky.start()
    this.registry.onRefresh(() => { void this.afterRefresh() })
    this.readiness.reset(this.authorizedConnectedPeers())
    void this.bootstrapper.start()
    this.discovery.start()
  }

  get peerId (): string { return this.host.peerId.toString() }
  get walletAddress (): string { return this.host.wallet }
  get libp2p (): DepinLibp2p { return this.host.libp2p }
  get realtimeStats (): RealtimeTopics['stats'] { return this.realtime.stats }
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
      sticky: this.sticky.stats(),
      replicaService: { ...this.host.replicaService.stats }
    }
  }

  isReady (): boolean { return this.readiness.ready }
  async waitUntilReady (options: { signal?: AbortSignal } = {}): Promise<void> {
    this.assertOpen()
    await this.readiness.waitUntilReady(options.signal)
  }

  connectedPeers (): PeerInfo[] {
    return this.host.connectedPeers().filter((p) => this.registry.has(p.wallet))
  }

  async subscribe<T = unknown> (topic: string, handler: EventHandler<T>): Promise<void> {
    this.assertOpen()
    this.realtime.subscribe(topic, handler)
  }

  async unsubscribe (topic: string): Promise<void> {
    this.assertOpen()
    this.realtime.unsubscribe(topic)
  }

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
    this.host.members.delete(this)
    this.log.info('disconnecting')
    if (this.host.members.size > 0) await this.host.closeUnauthorized()
    await releaseHost(this.host)
    this.removeAllListeners()
  }

  // --- HostMember -------------------------------------------------------------------------------

  ownsTopic (pubsubTopic: string): boolean { return pubsubTopic.startsWith(`${this.name}_`) || pubsubTopic.startsWith(`depin-sticky/${this.name}/`) }

  authorizesCached (wallet: string): boolean { return this.registry.has(wallet) }
  async authorizes (wallet: string): Promise<boolean> { return this.registry.has(wallet) || await this.registry.checkMiss(wallet) }

  onPeerConnected (peerId: string, wallet: string): void {
    if (!this.registry.has(wallet)) return
    const isNew = !this.readiness.peerIds.has(peerId)
    this.readiness.add(peerId)
    if (isNew) this.emit('peer:connect', { peerId, wallet, addrs: this.host.libp2p.getConnections().filter((c) => c.remotePeer.toString() === peerId).map((c) => c.remoteAddr.toString()) })
  }

  onPeerDisconnected (peerId: string): void {
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

  private authorizesPeerIdCached (peerId: string): boolean {
    const wallet = walletFromPeer(peerId)
    return wallet !== '' && this.registry.has(wallet)
  }

  private assertOpen (): void {
    if (this.closed) throw new DisconnectedError()
  }
}

function walletFromPeer (peerId: string): string {
  return peerIdToWallet(peerId) ?? ''
}
