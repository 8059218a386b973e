/*
 * Limits on inbound connections that have not finished their handshake. libp2p keeps one counter of
 * such "pending" connections for the whole host (TCP and QUIC alike) and refuses everything once it
 * is full, so a single address holding a few silent sockets could lock every new node out
 * (slow-loris). This limiter, asked by the connection gater as each inbound connection arrives,
 * lets one IP hold at most `maxPendingPerIp` pending connections. Exempt: loopback (all local peers
 * share 127.0.0.1) and known addresses of registry peers (bootstrap entries and the addresses
 * authorized peers connected from), so nodes behind one NAT address are not throttled.
 *
 * Once the handshake names the peer, it may hold at most `maxConnectionsPerPeer` connections to
 * us (both directions counted; honest peers hold one or two: a simultaneous dial, QUIC and TCP).
 * Each connection is a cost an authorized but hostile peer could multiply: its pings and muxer
 * state, and over TCP the data yamux buffers for streams still negotiating a protocol (up to
 * 256 KiB per stream, YAMUX_MAX_INBOUND_STREAMS streams per connection, host.ts).
 */
import type { MultiaddrConnection, PeerId } from '@libp2p/interface'
import type { InboundAdmission } from './gater.js'

export interface InboundLimitsOptions {
  maxPendingPerIp: number
  /** most known addresses remembered (oldest forgotten first) */
  maxKnownAddresses: number
  /** connections one peer may hold to this node; an inbound one beyond is refused after its handshake */
  maxConnectionsPerPeer: number
}

export const INBOUND_LIMITS: InboundLimitsOptions = { maxPendingPerIp: 4, maxKnownAddresses: 10_000, maxConnectionsPerPeer: 4 }

export class InboundLimiter implements InboundAdmission {
  private readonly pending = new Map<string, Set<MultiaddrConnection>>()
  private readonly known = new Set<string>()

  /** `connectionsTo`: the connections the host holds to a peer now (the one being upgraded is not among them yet) */
  constructor (private readonly connectionsTo: (peer: PeerId) => number, private readonly options: InboundLimitsOptions = INBOUND_LIMITS) {}

  admitPeer (peer: PeerId): boolean {
    return this.connectionsTo(peer) < this.options.maxConnectionsPerPeer
  }

  /** Remembers an address a registry peer is known to use. */
  remember (ip: string): void {
    this.known.delete(ip)
    this.known.add(ip)
    if (this.known.size > this.options.maxKnownAddresses) this.known.delete(this.known.values().next().value!)
  }

  isExempt (ip: string): boolean {
    return ip.startsWith('127.') || ip === '::1' || this.known.has(ip)
  }

  /** false when `conn`'s IP already holds its share of connections still in their handshake */
  admit (conn: MultiaddrConnection): boolean {
    let ip: string
    try { ip = conn.remoteAddr.nodeAddress().address } catch { return true }
    if (this.isExempt(ip)) return true
    let set = this.pending.get(ip)
    if (set != null) {
      for (const c of set) if (c.timeline.upgraded != null || c.timeline.close != null) set.delete(c)
    } else {
      set = new Set()
      this.pending.set(ip, set)
    }
    if (set.size >= this.options.maxPendingPerIp) return false
    set.add(conn)
    // forget IPs with nothing pending, so the map stays as small as the set of active handshakes
    if (this.pending.size > 1_000) this.prune()
    return true
  }

  private prune (): void {
    for (const [ip, set] of this.pending) {
      for (const c of set) if (c.timeline.upgraded != null || c.timeline.close != null) set.delete(c)
      if (set.size === 0) this.pending.delete(ip)
    }
  }
}
