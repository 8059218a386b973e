/*
 * Dial order: QUIC first, TCP fallback, with libp2p's other criteria (loopback last, public before
 * private, relayed last, certified first) still above the transport.
 */
import { describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { quicFirst } from '../../../src/host/address-sorter.js'

const addr = (s: string, isCertified = false): { multiaddr: ReturnType<typeof multiaddr>, isCertified: boolean } => ({ multiaddr: multiaddr(s), isCertified })
const order = (addrs: Array<ReturnType<typeof addr>>): string[] => [...addrs].sort(quicFirst).map((a) => a.multiaddr.toString())

describe('address sorter', () => {
  it('dials QUIC before TCP (libp2p\'s default dials TCP first)', () => {
    expect(order([addr('/ip4/8.8.4.4/tcp/4001'), addr('/ip4/8.8.4.4/udp/4001/quic-v1')])).toEqual(['/ip4/8.8.4.4/udp/4001/quic-v1', '/ip4/8.8.4.4/tcp/4001'])
    expect(order([addr('/ip4/127.0.0.1/tcp/4001'), addr('/ip4/127.0.0.1/udp/4001/quic-v1')])).toEqual(['/ip4/127.0.0.1/udp/4001/quic-v1', '/ip4/127.0.0.1/tcp/4001'])
  })

  it('keeps public before private before loopback, relayed last, whatever the transport', () => {
    const relay = '/ip4/8.8.8.8/udp/4001/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit'
    expect(order([
      addr('/ip4/127.0.0.1/udp/4001/quic-v1'),
      addr(relay),
      addr('/ip4/10.0.0.2/udp/4001/quic-v1'),
      addr('/ip4/8.8.4.4/tcp/4001'),
      addr('/ip4/8.8.4.4/udp/4001/quic-v1')
    ])).toEqual(['/ip4/8.8.4.4/udp/4001/quic-v1', '/ip4/8.8.4.4/tcp/4001', relay, '/ip4/10.0.0.2/udp/4001/quic-v1', '/ip4/127.0.0.1/udp/4001/quic-v1'])
  })

  it('puts certified addresses first among equals', () => {
    expect(order([addr('/ip4/8.8.4.4/udp/4001/quic-v1'), addr('/ip4/8.8.8.8/tcp/4001', true), addr('/ip4/8.8.8.8/udp/4001/quic-v1', true)]))
      .toEqual(['/ip4/8.8.8.8/udp/4001/quic-v1', '/ip4/8.8.8.8/tcp/4001', '/ip4/8.8.4.4/udp/4001/quic-v1'])
  })
})
