/*
 * Per-database peer discovery on the DHT, the way go-libp2p's routing discovery does it: the
 * rendezvous string `p2p-database-discovery_<database>` becomes a CIDv1 (raw codec, sha2-256 of the
 * string bytes) that every node provides and looks up, so TypeScript and Go nodes find each other.
 * Advertise every 30 s, look up every 60 s, dial at most 5 new peers a round (configurable).
 * Each round is a DHT walk that every other node answers (on both DHTs), so rounds run when
 * something changed rather than on a fixed beat.
 * The first advertisement waits until the start-up burst of connections is over: no new peer for a
 * third of the interval (at most 10 s), nobody left to find, or one interval after readiness. Sent
 * at readiness it went out while we knew one or two peers (the walk stores the record with the
 * closest peers those know), the network's growth around us then made a second round due, and with
 * every node of a network starting together those rounds were most of its first minute's work
 * (measured, 10 daemons: 19 rounds in the minute from 30 s after readiness; 3.1 % of a core per
 * node there vs 1.7 % once settled).
 * After it, every advertise interval looks at the connected peers (no network traffic) and
 * advertises again only when the set of peer ids seen grew by half since the last advertisement
 * (a network that grew that much around us may hold peers closer to the key than the ones holding
 * our record) while somebody is left to find, or when 16 intervals passed (8 min by default;
 * provider records live 48 h). One newcomer in a settled network does not count: the record is
 * already with most of the peers closest to the key, and the newcomer's own lookup finds us. Peer
 * ids, not connection counts: two nodes often hold two connections (both dialled, or QUIC and TCP)
 * that come and go, and a count that wobbled kept every node advertising every 30 s (measured: 10
 * idle daemons used 4.0% of a core each, 2.0% with discovery off, plain js-libp2p 1.6-1.9%).
 * Lookups double their interval up to 16x (16 min by default) while they dial nobody new and return
 * to the base interval when they do: a peer that joins later looks us up itself, so a lookup that
 * found nobody is unlikely to find someone the next minute (at 4x, 30 daemons that were not all
 * connected to each other still ran 17 lookups a minute between them, minutes after start).
 * While there is nobody left to find (every wallet of the registry connected, or the peer target
 * reached) a lookup is skipped.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Logger } from '../logger.js'
import { sleep, withDeadline } from '../abort.js'

export const RENDEZVOUS_PREFIX = 'p2p-database-discovery_'
/** with no change, an advertisement goes out again after this many base intervals */
const ADVERTISE_BACKOFF = 16
/** lookups back off to at most this many base intervals while they dial nobody new */
const LOOKUP_BACKOFF = 16
/** past this many known peer ids the set starts over (its next round counts as a change) */
const KNOWN_PEERS_MAX = 10_000
/** the first advertisement waits for no new peer during this long (or a third of the interval if shorter) */
const SETTLE_MAX_MS = 10_000
/** how often the settle wait looks at the connected peers */
const SETTLE_STEP_MS = 1_000

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
    void this.loop(this.options.advertiseIntervalMs, this.advertiseRound, this.settled)
    void this.loop(this.options.lookupIntervalMs, this.lookupRound)
  }

  stop (): void { this.controller.abort() }

  /** peer ids seen connected since the set started; a peer that reconnects is not new */
  private knownPeers: Set<string> | undefined
  /** knownPeers.size when the last advertisement went out */
  private knownAtAdvertise = 0
  /** when the last advertisement succeeded (0: none yet) */
  private advertisedAt = 0
  /**
   * Every advertise interval: a look at the peers (no network), and an advertisement when one is
   * due: none succeeded yet (the first goes out once the start-up burst settled), the backoff
   * (16 intervals) passed since the last, or the peers seen grew by half since it while somebody is
   * still left to find.
   */
  private readonly advertiseRound = async (signal: AbortSignal): Promise<number> => {
    const base = this.options.advertiseIntervalMs
    if (this.knownPeers === undefined || this.knownPeers.size > KNOWN_PEERS_MAX) {
      this.knownPeers = new Set()
      this.knownAtAdvertise = 0
    }
    for (const p of this.deps.connectedPeers()) this.knownPeers.add(p)
    const grewByHalf = (this.knownPeers.size - this.knownAtAdvertise) * 2 > this.knownAtAdvertise
    const due = this.advertisedAt === 0 || Date.now() - this.advertisedAt >= base * ADVERTISE_BACKOFF ||
      (grewByHalf && !this.deps.nothingToFind())
    if (!due) return base
    const known = this.knownPeers.size
    await this.advertise(signal)
    this.advertisedAt = Date.now()
    this.knownAtAdvertise = known
    return base
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

  /**
   * Resolves once no new peer id connected for the settle time (a third of the advertise interval,
   * at most SETTLE_MAX_MS), there is nobody left to find, or one advertise interval has passed.
   */
  private readonly settled = async (stop: AbortSignal): Promise<void> => {
    const base = this.options.advertiseIntervalMs
    const quiet = Math.min(base / 3, SETTLE_MAX_MS)
    const seen = new Set<string>()
    const started = Date.now()
    let grewAt = started
    while (!stop.aborted && !this.deps.nothingToFind() && Date.now() - started < base) {
      const before = seen.size
      for (const p of this.deps.connectedPeers()) seen.add(p)
      if (seen.size > before) grewAt = Date.now()
      else if (Date.now() - grewAt >= quiet) return
      if (!(await sleep(Math.min(SETTLE_STEP_MS, quiet), stop))) return
    }
  }

  /**
   * Runs `round` once ready (after `before`, the first time) and then again after the delay it
   * returns, until stopped; errors are logged.
   */
  private async loop (intervalMs: number, round: (signal: AbortSignal) => Promise<number>, before?: (stop: AbortSignal) => Promise<void>): Promise<void> {
    const stop = this.controller.signal
    while (!stop.aborted) {
      if (this.deps.isReady()) {
        if (before != null) { await before(stop); before = undefined; if (stop.aborted) return }
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
