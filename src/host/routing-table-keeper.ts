/*
 * Keeps connected DHT peers in the kad-dht routing tables. kad-dht 15 adds a newly identified peer
 * only after a PING succeeds and never retries a failed one; on a busy machine that ping sometimes
 * fails (measured: 4 of 28 five-node loopback clusters had a node missing from the bootstrap
 * node's table, so no other node ever learned of it and the mesh never formed). When a connected
 * peer that speaks a DHT protocol is still missing from that DHT's table a moment after identify,
 * it is added again (which pings again), a few times with growing delays while it stays connected.
 * Uses kad-dht's routing table through host/internals.ts (not part of kad-dht's published interface).
 */
import type { PeerId } from '@libp2p/interface'
import type { Logger } from '../logger.js'

interface RoutingTableLike {
  find(peer: PeerId): Promise<PeerId | undefined>
  add(peer: PeerId, options?: { signal?: AbortSignal }): Promise<void>
}

export interface KeeperDeps {
  /** DHT protocol id -> its routing table */
  tables: Array<{ protocol: string, table: () => RoutingTableLike | undefined }>
  isConnected: (peer: PeerId) => boolean
  logger: Logger
}

const RETRY_DELAYS_MS = [2_000, 5_000, 15_000]

export class RoutingTableKeeper {
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  readded = 0

  constructor (private readonly deps: KeeperDeps) {}

  /** Called when `peer` identified with `protocols`. */
  onIdentify (peer: PeerId, protocols: readonly string[]): void {
    for (const { protocol, table } of this.deps.tables) {
      if (protocols.includes(protocol)) this.check(peer, protocol, table, 0)
    }
  }

  stop (): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  private check (peer: PeerId, protocol: string, table: () => RoutingTableLike | undefined, attempt: number): void {
    const delay = RETRY_DELAYS_MS[attempt]
    if (delay == null) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void (async () => {
        const rt = table()
        if (rt == null || !this.deps.isConnected(peer)) return
        if (await rt.find(peer) != null) return
        this.readded++
        this.deps.logger.debug('connected DHT peer missing from the routing table; adding it again', 'peer', peer.toString(), 'protocol', protocol, 'attempt', attempt + 1)
        await rt.add(peer, { signal: AbortSignal.timeout(10_000) })
        this.check(peer, protocol, table, attempt + 1)
      })().catch((err: unknown) => { this.deps.logger.debug('routing table re-add failed', 'peer', peer.toString(), 'error', err) })
    }, delay)
    timer.unref?.()
    this.timers.add(timer)
  }
}
