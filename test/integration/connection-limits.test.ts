/*
 * What an authorized but hostile peer can make a node hold through connections alone, with real
 * nodes over TCP (yamux): at most INBOUND_LIMITS.maxConnectionsPerPeer connections (more forced
 * dials are refused after their handshake and counted), and at most YAMUX_MAX_INBOUND_STREAMS
 * streams per connection, however many it opens without ever naming a protocol (yamux buffers up
 * to 256 KiB for each such stream). An honest peer keeps working meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, waitFor, waitForSubscribers, type Cluster } from '../../support/cluster.js'
import { INBOUND_LIMITS } from '../../src/auth/inbound-limits.js'
import { YAMUX_MAX_INBOUND_STREAMS } from '../../src/host/host.js'
import type { Database } from '../../src/index.js'

describe('connection limits against an authorized peer', () => {
  let cluster: Cluster
  beforeAll(async () => { cluster = await startCluster(3, { fullMesh: true }) })
  afterAll(async () => { await cluster?.stop() })

  it('forced extra connections are refused beyond the per-peer limit, and counted', async () => {
    const [attacker, victim, honest] = cluster.nodes as Database[]
    const tcp = victim!.libp2p.getMultiaddrs().find((a) => a.toString().includes('/tcp/'))!
    const attackerId = attacker!.libp2p.peerId
    const results = []
    for (let i = 0; i < 2 * INBOUND_LIMITS.maxConnectionsPerPeer; i++) {
      results.push(await attacker!.libp2p.dial(tcp, { force: true }).then(() => 'open', (err: Error) => err.name))
    }
    // the victim's own view: never more than the limit, whatever the attacker's dials reported
    await waitFor(() => victim!.libp2p.getConnections(attackerId).length <= INBOUND_LIMITS.maxConnectionsPerPeer, 5_000, 'refused connections closed')
    expect(victim!.libp2p.getConnections(attackerId).length).toBeLessThanOrEqual(INBOUND_LIMITS.maxConnectionsPerPeer)
    expect(victim!.stats().gater.limited.connectionsPerPeer).toBeGreaterThanOrEqual(INBOUND_LIMITS.maxConnectionsPerPeer)
    // the attacker's dials complete on its side (the refusal comes after its half of the handshake); the victim closes them
    expect(results.filter((r) => r === 'open').length).toBeGreaterThan(0)
    await waitFor(() => attacker!.libp2p.getConnections(victim!.libp2p.peerId).length <= INBOUND_LIMITS.maxConnectionsPerPeer, 10_000, 'the attacker sees its extra connections closed')
    // the attacker still has a connection (it is authorized), and an honest peer is unaffected
    expect(victim!.libp2p.getConnections(attackerId).length).toBeGreaterThanOrEqual(1)
    const got: unknown[] = []
    await victim!.subscribe('t', (e) => { got.push(e.message) })
    await waitForSubscribers([honest!], 'testdb_t', 1)
    await honest!.publish('t', { hello: 1 })
    await waitFor(() => got.length === 1, 10_000, 'honest event delivered')
  }, 60_000)

  it('streams opened without naming a protocol stop at the per-connection limit', async () => {
    const [attacker, victim] = cluster.nodes as Database[]
    const tcp = victim!.libp2p.getMultiaddrs().find((a) => a.toString().includes('/tcp/'))!
    // a TCP connection (yamux): an open one of the attacker's, or a new one
    const isTcp = (c: { remoteAddr: { toString: () => string }, status: string }): boolean => c.status === 'open' && c.remoteAddr.toString().includes('/tcp/')
    const conn = attacker!.libp2p.getConnections(victim!.libp2p.peerId).find(isTcp) ?? await attacker!.libp2p.dial(tcp, { force: true })
    expect(isTcp(conn)).toBe(true)
    const victimSide = (): number => victim!.libp2p.getConnections(attacker!.libp2p.peerId)
      .reduce((max, c) => Math.max(max, c.streams.filter((s) => s.direction === 'inbound').length), 0)
    // raw muxer streams: a SYN each, then silence (no multistream-select header)
    const muxer = (conn as unknown as { muxer: { newStream: () => Promise<unknown> } }).muxer
    const attempts = YAMUX_MAX_INBOUND_STREAMS + 72
    for (let i = 0; i < attempts; i++) await muxer.newStream()
    let most = 0
    const until = Date.now() + 2_000
    while (Date.now() < until) {
      most = Math.max(most, victimSide())
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(most).toBeGreaterThan(YAMUX_MAX_INBOUND_STREAMS / 2) // the streams did arrive
    expect(most).toBeLessThanOrEqual(YAMUX_MAX_INBOUND_STREAMS)
  }, 60_000)
})
