/*
 * Which connected peers can hold sticky records: those whose identify lists the replica protocol.
 * In a mixed network Go nodes (built on the Go library) are authorized peers too, but they neither
 * speak `/depin/sticky/replica/1.0.0` nor accept sticky records over kad-dht (go-libp2p-kad-dht has
 * validators for the `pk` and `ipns` namespaces only), so replica sets and the write quorum are
 * sized on replica-capable peers alone. A peer that refuses the protocol when asked (multistream
 * answers "na") is never picked again, whatever its identify says later.
 */
import type { PeerId } from '@libp2p/interface'
import { REPLICA_PROTOCOL } from './replica-protocol.js'

/** refusals remembered at most (oldest forgotten first): a bound on what peers can make us hold */
const MAX_REFUSED = 10_000

export class ReplicaPeers {
  private readonly speaking = new Set<string>()
  /** connected peers whose identify has run (speaking the protocol or not); bounded by connections */
  private readonly told = new Set<string>()
  private readonly refusing = new Set<string>()

  /** identify told us the peer's protocols (it runs on every new connection) */
  identified (peer: PeerId, protocols: readonly string[]): void {
    this.told.add(peer.toString())
    if (protocols.includes(REPLICA_PROTOCOL)) this.speaking.add(peer.toString())
    else this.speaking.delete(peer.toString())
  }

  /** the peer's last connection closed; its next identify tells again */
  disconnected (peer: string): void {
    this.speaking.delete(peer)
    this.told.delete(peer)
  }

  /**
   * Identify has run for the peer since it connected. Until then a connected peer's protocols are
   * unknown: it may well be a replica (right after a node starts most of its peers are in this state).
   */
  isIdentified (peer: PeerId | string): boolean { return this.told.has(peer.toString()) }

  /** the peer refused a replica stream: never a replica again */
  refused (peer: PeerId): void {
    const id = peer.toString()
    this.speaking.delete(id)
    if (this.refusing.has(id)) return
    if (this.refusing.size >= MAX_REFUSED) this.refusing.delete(this.refusing.values().next().value!)
    this.refusing.add(id)
  }

  speaks (peer: PeerId | string): boolean {
    const id = peer.toString()
    return this.speaking.has(id) && !this.refusing.has(id)
  }
}

/** True when a dial failed because the remote does not speak the protocol (not a network error). */
export function isProtocolRefusal (err: unknown): boolean {
  return err instanceof Error && err.name === 'UnsupportedProtocolError'
}
