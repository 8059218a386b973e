/*
 * Limits on inbound connections that have not finished their handshake. libp2p keeps one counter of
 * such "pending" connections for the whole host (TCP and QUIC alike) and refuses everything once it
 * is full, so a single address holding a few silent sockets could lock every new node out
 * (slow-loris). This limiter, asked by the connection gater as each inbound connection arrives,
 * lets one IP hold at most `maxPendingPerIp` pending connections. Exempt: loopback (all local peers
 * share 127.0.0.1) and known addresses of registry peers (bootstrap entries and the addresses
 * authorized peers connected from), so nodes behind one NAT address are not throttled.
 */
import type { MultiaddrConnection } from '@libp2p/interface'

export interface InboundLimitsOptions {
  maxPendingPerIp: number
  /** most known addresses remembered (oldest forgotten first) */
  maxKnownAddresses: number
}

export const INBOUND_LIMITS: InboundLimitsOptions = { maxPendingPerIp: 4, maxKnownAddresses: 10_000 }

export class InboundLimiter {
  private readonly pending = new Map<string, Set<MultiaddrConnection>>()
  private readonly known = new Set<string>()
  refused = 0

  constructor (private readonly options: InboundLimitsOptions = INBOUND_LIMITS) {}

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
    if (set.size >= this.options.maxPendingPerIp) {
      this.refused++
      return false
    }
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
