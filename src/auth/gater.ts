/*
 * Connection gater: admits a peer only when its Ed25519 key is a wallet that at least one open
 * database on this host authorizes (the rule itself is policy.ts). It answers on every hook that
 * names a peer, because QUIC connections never pass the encrypted-connection hooks (libp2p's QUIC
 * transport encrypts inside QUIC, not through a connection encrypter): the upgraded-connection hooks
 * fire for every transport, relayed included. Inbound accepts are allowed until the handshake tells us
 * who the peer is, as in the Go library, within a per-IP limit on unfinished handshakes; an admitted
 * peer may hold a bounded number of connections to us (both limits in inbound-limits.ts, refusals
 * counted in `limited`).
 */
import type { ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'

/** What the gater needs from the host's policy (policy.ts AccessPolicy): a fast cached answer and a slower one that may ask the registry. */
export interface ConnectPolicy {
  mayConnect(peer: PeerId): boolean
  mayConnectChecked(peer: PeerId): Promise<boolean>
}

export type GaterHook = 'dialPeer' | 'dialMultiaddr' | 'outboundConnection' | 'inboundEncrypted' | 'outboundEncrypted' |
'inboundUpgraded' | 'outboundUpgraded' | 'relayReservation' | 'relayOutbound' | 'relayInbound'

export interface GaterStats {
  allowed: Record<GaterHook, number>
  denied: Record<GaterHook, number>
  /** connections refused by a limit rather than by the registry */
  limited: { pendingPerIp: number, connectionsPerPeer: number }
}

/** The inbound limits the gater applies (inbound-limits.ts InboundLimiter). */
export interface InboundAdmission {
  /** before the handshake: false when the connection's IP already holds its share of unfinished handshakes */
  admit(conn: MultiaddrConnection): boolean
  /** after it: false when the (authorized) peer already holds its share of connections to us */
  admitPeer(peer: PeerId): boolean
}

export function createGaterStats (): GaterStats {
  const zero = (): Record<GaterHook, number> => ({
    dialPeer: 0, dialMultiaddr: 0, outboundConnection: 0, inboundEncrypted: 0, outboundEncrypted: 0, inboundUpgraded: 0, outboundUpgraded: 0, relayReservation: 0, relayOutbound: 0, relayInbound: 0
  })
  return { allowed: zero(), denied: zero(), limited: { pendingPerIp: 0, connectionsPerPeer: 0 } }
}

export function createConnectionGater (auth: ConnectPolicy, stats: GaterStats, onDeny?: (hook: GaterHook, peer: PeerId) => void,
  limits?: InboundAdmission): ConnectionGater {
  /** true (deny) unless the registry authorizes every peer; `refusedByLimit` runs after it (counted in `limited`, not as a decision) */
  const deny = async (hook: GaterHook, peers: PeerId[], refusedByLimit?: () => boolean): Promise<boolean> => {
    for (const peer of peers) {
      const ok = auth.mayConnect(peer) || await auth.mayConnectChecked(peer)
      if (!ok) {
        stats.denied[hook]++
        onDeny?.(hook, peer)
        return true
      }
    }
    if (refusedByLimit?.() === true) {
      onDeny?.(hook, peers[0]!)
      return true
    }
    stats.allowed[hook]++
    return false
  }
  return {
    denyDialPeer: async (peer) => await deny('dialPeer', [peer]),
    denyDialMultiaddr: async (ma: Multiaddr) => {
      const peer = peerInMultiaddr(ma)
      return peer == null ? false : await deny('dialMultiaddr', [peer])
    },
    // before the handshake names the peer: only the per-IP limit on pending connections applies
    denyInboundConnection: (conn) => {
      if (limits == null || limits.admit(conn)) return false
      stats.limited.pendingPerIp++
      return true
    },
    denyOutboundConnection: async (peer) => await deny('outboundConnection', [peer]),
    denyInboundEncryptedConnection: async (peer) => await deny('inboundEncrypted', [peer]),
    denyOutboundEncryptedConnection: async (peer) => await deny('outboundEncrypted', [peer]),
    denyInboundUpgradedConnection: async (peer) => await deny('inboundUpgraded', [peer], () => {
      if (limits == null || limits.admitPeer(peer)) return false
      stats.limited.connectionsPerPeer++
      return true
    }),
    denyOutboundUpgradedConnection: async (peer) => await deny('outboundUpgraded', [peer]),
    denyInboundRelayReservation: async (source) => await deny('relayReservation', [source]),
    denyOutboundRelayedConnection: async (source, destination) => await deny('relayOutbound', [source, destination]),
    denyInboundRelayedConnection: async (relay, remote) => await deny('relayInbound', [relay, remote]),
    filterMultiaddrForPeer: () => true
  }
}

/** The last /p2p/<id> in a multiaddr (the target, also for circuit addresses), if any. */
function peerInMultiaddr (ma: Multiaddr): PeerId | undefined {
  const id = ma.getPeerId()
  if (id == null) return undefined
  try { return peerIdFromString(id) } catch { return undefined }
}
