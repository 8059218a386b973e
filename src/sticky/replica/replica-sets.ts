/*
 * Which peers hold each sticky topic: the `replicationFactor` peers closest to the topic's
 * coordinator key by kad-dht's XOR distance. In a network small enough for the routing table to
 * hold all of it (ReplicaNetwork.knownPeers) they are read from the table; otherwise a DHT query
 * finds them. Sets are cached and refreshed every `replicaRefreshMs`; a peer that fails a request
 * or disconnects is a suspect (left out) until it reconnects or SUSPECT_MS pass, and a set holding
 * it is refreshed at once. A refresh that brings in new members reports them (`onGained`) so the
 * topic's records can be copied to them.
 * A set found by a DHT query that found the same members again waits twice as long before its next
 * query, up to QUERY_BACKOFF times `replicaRefreshMs` (a departure still refreshes it at once): in a
 * settled network of 30 nodes the 30 s refreshes were 43 DHT queries a minute for one topic.
 */
import { createHash } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import type { ReplicaNetwork } from './replica-network.js'
import type { Logger } from '../../logger.js'
import { deadlineSignal } from '../../abort.js'

const SUSPECT_MS = 30_000
/** replica sets kept at most (one per topic this node used); idle ones are forgotten first */
export const MAX_REPLICA_SETS = 2_000
/** an empty replica set is looked for again after this long */
const EMPTY_SET_REFRESH_MS = 1_000
/**
 * A topic's DHT query runs at most this often; a lookup forced sooner reuses the last query's
 * peers (suspects still left out). A commit waiting for its quorum forces a lookup every 250 ms,
 * and beyond a routing table's worth of peers each lookup is a DHT query: 30 daemons on two cores
 * ran hundreds of them a minute while starting, which slowed every request until they timed out.
 */
export const MIN_QUERY_INTERVAL_MS = 1_000
/** a set whose DHT queries keep finding the same members is queried at most this many refresh intervals apart */
export const QUERY_BACKOFF = 8

export interface ReplicaSetOptions {
  /** remote replicas per topic. @default 5 */
  replicationFactor: number
  /** re-find a topic's replicas this often (up to QUERY_BACKOFF times as long while DHT queries find the same set). @default 30_000 */
  replicaRefreshMs: number
  /** time limit for one request to a replica, and for a DHT query finding replicas. @default 5_000 */
  requestTimeoutMs: number
}

/** `unchanged`: DHT queries in a row that found the same members (each doubles the set's refresh interval) */
interface ReplicaSet { peers: PeerId[], at: number, refreshing?: Promise<PeerId[]>, used?: number, unchanged?: number }

export class ReplicaSets {
  /** lookups run from the routing table, by a DHT query, or from a query less than MIN_QUERY_INTERVAL_MS old; refreshes: all of them */
  readonly stats = {
    failures: 0,
    fromTable: 0,
    queries: 0,
    reusedQueries: 0,
    get refreshes (): number { return this.fromTable + this.queries + this.reusedQueries }
  }
  private readonly sets = new Map<string, ReplicaSet>()
  /** peers whose last request failed or whose connection closed, and when */
  private readonly suspects = new Map<string, number>()
  /** each topic's last DHT query: when it finished and the peers it found */
  private readonly queried = new Map<string, { at: number, peers: PeerId[] }>()

  constructor (
    private readonly deps: {
      net: Pick<ReplicaNetwork, 'closestPeers' | 'knownPeers' | 'isConnected'>
      /** the coordinator key of a topic (what the set is closest to) */
      keyOf: (topic: string) => Uint8Array
      /** the set of `topic` gained members (`gained`) since it was last found */
      onGained: (topic: string, gained: PeerId[]) => void
      logger: Logger
    },
    private readonly options: ReplicaSetOptions
  ) {}

  /** The topic's remote replicas (cached; stale or damaged sets are refreshed). Never rejects. */
  async get (topic: string, force = false): Promise<PeerId[]> {
    const set = this.sets.get(topic)
    if (set != null) set.used = Date.now()
    else if (this.sets.size >= MAX_REPLICA_SETS) this.prune()
    const lost = set != null && set.peers.some((p) => this.isSuspect(p))
    // an empty set (no peer yet, e.g. right after a restart) is looked for again soon, not in replicaRefreshMs
    const maxAge = set?.peers.length === 0
      ? Math.min(EMPTY_SET_REFRESH_MS, this.options.replicaRefreshMs)
      : this.options.replicaRefreshMs * Math.min(2 ** (set?.unchanged ?? 0), QUERY_BACKOFF)
    if (set != null && !force && !lost && Date.now() - set.at < maxAge) return set.peers
    if (set != null && set.peers.length > 0 && !force) {
      // stale or lost a member: keep using the others while a lookup runs in the background
      if (set.refreshing == null) void this.get(topic, true)
      return set.peers.filter((p) => !this.isSuspect(p))
    }
    if (set?.refreshing != null) return await set.refreshing
    // on failure the previous set stays in use
    const refreshing = this.find(topic).then(({ peers, queried }) => {
      const current = this.sets.get(topic)
      const before = new Set(current?.peers.map(String) ?? [])
      const gained = current != null && current.peers.length > 0 ? peers.filter((p) => !before.has(p.toString())) : []
      const same = queried && peers.length > 0 && gained.length === 0 && peers.length === before.size
      if (peers.length === 0 && current != null) peers = current.peers
      this.sets.set(topic, { peers, at: Date.now(), unchanged: same ? (current?.unchanged ?? 0) + 1 : 0 })
      if (gained.length > 0) this.deps.onGained(topic, gained)
      return peers
    }, (err: unknown) => {
      this.deps.logger.debug('replica lookup failed; keeping the previous set', 'topic', topic, 'error', err)
      const current = this.sets.get(topic)
      if (current != null) { current.refreshing = undefined; current.at = Date.now() - this.options.replicaRefreshMs / 2 }
      return current?.peers ?? []
    })
    if (set != null) set.refreshing = refreshing
    else this.sets.set(topic, { peers: [], at: 0, refreshing })
    return await refreshing
  }

  /** Memory bound: forgets the least recently used sets (not being refreshed) down to 90 % of the limit, and stale suspects. */
  private prune (): void {
    for (const [id, at] of this.suspects) if (Date.now() - at > SUSPECT_MS) this.suspects.delete(id)
    const idle = [...this.sets].filter(([, set]) => set.refreshing == null).sort(([, a], [, b]) => (a.used ?? a.at) - (b.used ?? b.at))
    for (const [topic] of idle.slice(0, this.sets.size - Math.floor(MAX_REPLICA_SETS * 0.9))) { this.sets.delete(topic); this.queried.delete(topic) }
    for (const [topic, q] of this.queried) if (Date.now() - q.at >= MIN_QUERY_INTERVAL_MS) this.queried.delete(topic)
  }

  get size (): number { return this.sets.size }

  /** A request to `peer` failed: leave it out (unless still connected) and re-find the topic's set. */
  failed (peer: PeerId, topic?: string): void {
    this.stats.failures++
    if (!this.deps.net.isConnected(peer)) this.suspects.set(peer.toString(), Date.now())
    const set = topic == null ? undefined : this.sets.get(topic)
    if (set != null) set.at = 0
  }

  /**
   * A peer's last connection closed: sets holding it stop counting on it now and look for a
   * replacement at once, instead of at its first request timeout. Reconnecting clears it.
   */
  peerDisconnected (peerId: string): void {
    const affected = [...this.sets].filter(([, set]) => set.peers.some((p) => p.toString() === peerId))
    if (affected.length === 0) return
    this.suspects.set(peerId, Date.now())
    for (const [topic, set] of affected) {
      set.at = 0
      if (set.refreshing == null) void this.get(topic, true)
    }
  }

  isSuspect (peer: PeerId): boolean {
    const at = this.suspects.get(peer.toString())
    if (at == null) return false
    if (Date.now() - at > SUSPECT_MS || this.deps.net.isConnected(peer)) { this.suspects.delete(peer.toString()); return false }
    return true
  }

  /** The topic's set now; `queried` when a DHT query (not the routing table, not a reused query) found it. */
  private async find (topic: string): Promise<{ peers: PeerId[], queried: boolean }> {
    const local = this.localCandidates()
    if (local != null) { this.stats.fromTable++; return { peers: this.closest(topic, local), queried: false } }
    const last = this.queried.get(topic)
    if (last != null && Date.now() - last.at < MIN_QUERY_INTERVAL_MS) { this.stats.reusedQueries++; return { peers: this.closest(topic, last.peers), queried: false } }
    this.stats.queries++
    const signal = deadlineSignal(this.options.requestTimeoutMs, 'replica lookup timed out')
    const found = await this.deps.net.closestPeers(this.deps.keyOf(topic), signal)
    this.queried.set(topic, { at: Date.now(), peers: found })
    return { peers: this.closest(topic, found), queried: true }
  }

  /**
   * The connected peers of a routing table that holds the whole network, or undefined when a DHT
   * query must find the closest peers. In such a small network a table peer this node is not
   * connected to has most likely left; a query would wait out a timeout on it.
   */
  private localCandidates (): PeerId[] | undefined {
    const all = this.deps.net.knownPeers?.()
    if (all?.length === 0) return [] // no peer at all: nothing to look up
    const known = all?.filter((p) => this.deps.net.isConnected(p))
    return known != null && known.length > 0 ? known : undefined
  }

  /** The `replicationFactor` candidates closest to the topic's coordinator key, suspects left out. */
  private closest (topic: string, candidates: PeerId[]): PeerId[] {
    const target = createHash('sha256').update(this.deps.keyOf(topic)).digest()
    const distance = (p: PeerId): Buffer => {
      const h = createHash('sha256').update(p.toMultihash().bytes).digest()
      return Buffer.from(h.map((b, i) => b ^ target[i]!))
    }
    return candidates.filter((p) => !this.isSuspect(p)).map((p) => ({ p, d: distance(p) })).sort((a, b) => Buffer.compare(a.d, b.d)).slice(0, this.options.replicationFactor).map((x) => x.p)
  }
}
