/*
 * Per-database peer discovery on the DHT, the way go-libp2p's routing discovery does it: the
 * rendezvous string `p2p-database-discovery_<database>` becomes a CIDv1 (raw codec, sha2-256 of the
 * string bytes) that every node provides and looks up, so TypeScript and Go nodes find each other.
 * Advertise every 30 s, look up every 60 s, dial at most 5 new peers a round (configurable).
 * Each round is a DHT walk that every other node answers (on both DHTs), so in a network that does
 * not change the rounds back off. Advertising doubles its interval up to 16x (8 min by default;
 * provider records live 48 h) and returns to the base interval only when the set of peers it has
 * seen grew by half since the last round: our first record went out while we knew one or two peers
 * (the walk then stored it with the closest peers those knew), and a network that has grown around
 * us since may hold closer ones. One newcomer in a settled network does not reset it: the record is
 * already with most of the peers closest to the key, and the newcomer's own lookup finds us. Peer
 * ids, not connection counts: two nodes often hold two connections (both dialled, or QUIC and TCP)
 * that come and go, and a count that wobbled kept every node advertising every 30 s (measured: 10
 * idle daemons used 4.0% of a core each, 2.0% with discovery off, plain js-libp2p 1.6-1.9%).
 * Lookups double their interval up to 4x while they dial nobody new and return to the base interval
 * when they do. While there is nobody left to find (every wallet of the registry connected, or the
 * peer target reached) a lookup is skipped and advertising waits the full backoff.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Logger } from '../logger.js'
import { sleep, withDeadline } from '../abort.js'

export const RENDEZVOUS_PREFIX = 'p2p-database-discovery_'
/** advertising backs off to at most this many base intervals while no new peer connects */
const ADVERTISE_BACKOFF = 16
/** lookups back off to at most this many base intervals while they dial nobody new */
const LOOKUP_BACKOFF = 4
/** past this many known peer ids the set starts over (its next round counts as a change) */
const KNOWN_PEERS_MAX = 10_000

/**
 * The DHT rendezvous CID of a database (`p2p-database-discovery_<database>`, CIDv1 raw sha2-256), as
 * the Go library computes it.
 */
export async function rendezvousCid (databaseName: string): Promise<CID> {
  const digest = await sha256.digest(new TextEncoder().encode(RENDEZVOUS_PREFIX + databaseName))
  return CID.createV1(raw.code, digest)
}

export interface DiscoveredPeer { id: { toString(): string }, multiaddrs: unknown[] }

export interface DiscoveryDeps {
  provide: (cid: CID, signal: AbortSignal) => Promise<void>
  findProviders: (cid: CID, signal: AbortSignal) => AsyncIterable<DiscoveredPeer>
  /** true when the peer should be dialed (not self, not connected, authorized) */
  wantsPeer: (peerId: string) => boolean
  dial: (peer: DiscoveredPeer, signal: AbortSignal) => Promise<void>
  /** peer ids of the authorized peers connected now */
  connectedPeers: () => ReadonlySet<string>
  /** true when a lookup could not find anyone to dial: connected to every registry wallet, or at the peer target */
  nothingToFind: () => boolean
  isReady: () => boolean
  logger: Logger
}

export interface DiscoveryOptions {
  databaseName: string
  advertiseIntervalMs: number
  lookupIntervalMs: number
  maxDialsPerRound: number
  /** stop dialing discovered peers at this many connected peers */
  lowConnections: number
  /** time limit for one provide or lookup round */
  roundTimeoutMs: number
}

export class Discovery {
  private readonly controller = new AbortController()
  rounds = { advertised: 0, lookups: 0, skipped: 0, dialed: 0 }

  constructor (private readonly deps: DiscoveryDeps, private readonly options: DiscoveryOptions) {}

  start (): void {
    void this.loop(this.options.advertiseIntervalMs, this.advertiseRound)
    void this.loop(this.options.lookupIntervalMs, this.lookupRound)
  }

  stop (): void { this.controller.abort() }

  private advertiseDelay = 0
  /** peer ids seen connected at advertise rounds; a peer that reconnects is not new */
  private knownPeers: Set<string> | undefined
  private readonly advertiseRound = async (signal: AbortSignal): Promise<number> => {
    const base = this.options.advertiseIntervalMs
    const first = this.knownPeers === undefined
    if (this.knownPeers === undefined || this.knownPeers.size > KNOWN_PEERS_MAX) this.knownPeers = new Set()
    const knownBefore = this.knownPeers.size
    for (const p of this.deps.connectedPeers()) this.knownPeers.add(p)
    const grewByHalf = first || (this.knownPeers.size - knownBefore) * 2 > knownBefore
    if (this.deps.nothingToFind()) this.advertiseDelay = base * ADVERTISE_BACKOFF
    else this.advertiseDelay = grewByHalf ? base : Math.min(Math.max(this.advertiseDelay, base) * 2, base * ADVERTISE_BACKOFF)
    await this.advertise(signal)
    return this.advertiseDelay
  }
  /** Lookups back off (doubling, up to 4x the interval) while they find nobody new. */
  private lookupDelay = 0
  private readonly lookupRound = async (signal: AbortSignal): Promise<number> => {
    const base = this.options.lookupIntervalMs
    if (this.deps.nothingToFind()) {
      this.rounds.skipped++
      return base
    }
    const dialed = await this.lookup(signal)
    this.lookupDelay = dialed > 0 ? base : Math.min(Math.max(this.lookupDelay, base) * 2, base * LOOKUP_BACKOFF)
    return this.lookupDelay
  }

  async advertise (signal: AbortSignal): Promise<void> {
    const cid = await rendezvousCid(this.options.databaseName)
    await this.deps.provide(cid, signal)
    this.rounds.advertised++
  }

  /**
   * One lookup round; returns how many new peers it dialed successfully. Providers are dialed as
   * they stream in: the query may go on for a while (peers it cannot reach), the dials need not wait.
   */
  async lookup (signal: AbortSignal): Promise<number> {
    const cid = await rendezvousCid(this.options.databaseName)
    this.rounds.lookups++
    const seen = new Set<string>()
    const dials: Array<Promise<boolean>> = []
    /** dials `peer` if wanted; false when the round is full */
    const consider = (peer: DiscoveredPeer): boolean => {
      const id = peer.id.toString()
      if (seen.has(id) || !this.deps.wantsPeer(id)) return true
      seen.add(id)
      if (this.deps.connectedPeers().size >= this.options.lowConnections) return false
      dials.push(this.deps.dial(peer, signal).then(() => true, (err: unknown) => {
        this.deps.logger.debug('dial to discovered peer failed', 'peer', id, 'error', err)
        return false
      }))
      return dials.length < this.options.maxDialsPerRound
    }
    for await (const peer of this.deps.findProviders(cid, signal)) {
      if (!consider(peer)) break
    }
    const dialed = (await Promise.all(dials)).filter(Boolean).length
    this.rounds.dialed += dialed
    if (dials.length > 0) this.deps.logger.debug('discovery round', 'candidates', dials.length, 'dialed', dialed)
    return dialed
  }

  /** Runs `round` now (once ready) and then again after the delay it returns, until stopped; errors are logged. */
  private async loop (intervalMs: number, round: (signal: AbortSignal) => Promise<number>): Promise<void> {
    const stop = this.controller.signal
    while (!stop.aborted) {
      if (this.deps.isReady()) {
        const started = Date.now()
        let next = intervalMs
        try {
          next = await withDeadline(this.options.roundTimeoutMs, 'discovery round timed out', round, stop)
          this.deps.logger.debug('discovery round done', 'round', round === this.advertiseRound ? 'advertise' : 'lookup', 'ms', Date.now() - started)
        } catch (err) {
          if (!stop.aborted) this.deps.logger.debug('discovery round failed', 'error', err)
        }
        if (!(await sleep(next, stop))) return
      } else if (!(await sleep(Math.min(1000, intervalMs), stop))) {
        return
      }
    }
  }
}
