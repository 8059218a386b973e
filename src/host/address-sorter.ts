/*
 * The order in which a peer's addresses are dialled. libp2p's default sorter puts TCP before every
 * other transport ("reliable transports first"), so every dial after the bootstrap one (discovery,
 * kad-dht, redials) went over TCP although the peer listens on QUIC too. The mission is QUIC first,
 * TCP fallback: QUIC's encryption and stream muxing run in native code, where TCP connections run
 * noise and yamux on the event loop (8 idle daemons on loopback used about twice the CPU of plain
 * nodes connected over QUIC, most of it socket writes and frame handling). This sorter keeps the
 * rest of libp2p's default order (loopback last, public before private, relayed last, certified
 * first) and ranks direct QUIC before direct TCP before anything else; libp2p dials the sorted
 * addresses one after another, so TCP is tried when QUIC fails.
 */
import type { Address } from '@libp2p/interface'
import { isLoopback } from '@libp2p/utils/multiaddr/is-loopback'
import { isPrivate } from '@libp2p/utils/multiaddr/is-private'

const relayed = (a: Address): boolean => a.multiaddr.protoNames().includes('p2p-circuit')

function transportRank (a: Address): number {
  if (relayed(a)) return 2
  const names = a.multiaddr.protoNames()
  if (names.includes('quic-v1')) return 0
  if (names.includes('tcp') && !names.includes('ws') && !names.includes('wss') && !names.includes('tls')) return 1
  return 2
}

/**
 * libp2p `connectionManager.addressSorter` (a comparator): loopback last, public before private,
 * relayed last, certified first, then QUIC before TCP before anything else.
 */
export function quicFirst (a: Address, b: Address): -1 | 0 | 1 {
  const keys = (x: Address): number[] => [
    isLoopback(x.multiaddr) ? 1 : 0,
    isPrivate(x.multiaddr) ? 1 : 0,
    relayed(x) ? 1 : 0,
    x.isCertified ? 0 : 1,
    transportRank(x)
  ]
  const ka = keys(a)
  const kb = keys(b)
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1
  return 0
}
