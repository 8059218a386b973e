/*
 * An authorized but hostile peer against the replica protocol's resource bounds, with real nodes:
 * it opens twice as many streams as a connection may carry, starts a frame of the largest size on
 * each and stalls. The victim never holds more than the inbound byte budget allows that peer, never
 * more than MAX_INBOUND_STREAMS of its streams, refuses the rest (counted), releases everything when
 * the streams end, and serves honest requests meanwhile.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Stream } from '@libp2p/interface'
import { startCluster, waitFor, type Cluster } from '../../support/cluster.js'
import { MAX_FRAME_BYTES, MAX_INBOUND_STREAMS, REPLICA_PROTOCOL, sendReplicaRequest } from '../../src/sticky/replica/replica-protocol.js'
import { inboundBudget, INBOUND_BUDGET_DEFAULTS } from '../../src/sticky/replica/inbound-budget.js'
import { blobKey } from '../../src/sticky/core/keys.js'
import type { Database } from '../../src/index.js'

function varint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80) }
  out.push(n)
  return Uint8Array.from(out)
}
const frame = (bytes: Uint8Array): Uint8Array => Buffer.concat([varint(bytes.length), bytes])
const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

describe('replica protocol: what a hostile peer can make a node hold', () => {
  let cluster: Cluster
  beforeAll(async () => { cluster = await startCluster(3, { fullMesh: true }) })
  afterAll(async () => { await cluster?.stop() })
  afterEach(() => { inboundBudget.limits = { ...INBOUND_BUDGET_DEFAULTS } })

  it('many streams with large stalled frames: held bytes and streams stay bounded, the rest is refused, honest requests are served', async () => {
    const [attacker, victim, honest] = cluster.nodes as Database[]
    const perPeer = 2 * 1024 * 1024
    inboundBudget.limits = { totalBytes: 3 * 1024 * 1024, perPeerBytes: perPeer }
    expect(inboundBudget.held).toBe(0)
    const before = victim!.stats().replicaService
    const pid = victim!.libp2p.peerId
    const attackerId = attacker!.libp2p.peerId.toString()

    // each stream: a put header, a key, then the prefix of a frame of the largest size and part of its body, then nothing
    let release!: () => void
    const stall = new Promise<void>((resolve) => { release = resolve })
    const streams: Stream[] = []
    let maxInbound = 0
    let maxHeld = 0
    const sample = (): void => { maxInbound = Math.max(maxInbound, inboundNow()); maxHeld = Math.max(maxHeld, inboundBudget.heldBy(attackerId)) }
    const inboundNow = (): number => victim!.libp2p.getConnections(attacker!.libp2p.peerId)
      .flatMap((c) => c.streams).filter((s) => s.protocol === REPLICA_PROTOCOL && s.direction === 'inbound').length
    const attempts = 2 * MAX_INBOUND_STREAMS
    for (let i = 0; i < attempts; i++) {
      const stream = await attacker!.libp2p.dialProtocol(pid, REPLICA_PROTOCOL).catch(() => undefined)
      if (stream == null) continue
      streams.push(stream)
      void stream.sink((async function * () {
        yield frame(json({ op: 'put', n: 1 }))
        yield frame(blobKey('testdb', `k${i}`))
        yield Buffer.concat([varint(MAX_FRAME_BYTES), new Uint8Array(100 * 1024)])
        await stall
      })()).catch(() => {})
      sample()
    }
    // the victim reads what it accepted, and refuses frames past the peer's share
    await waitFor(() => inboundBudget.heldBy(attackerId) > 0, 10_000, 'hostile frames read')
    for (let i = 0; i < 20; i++) { await new Promise((resolve) => setTimeout(resolve, 50)); sample() }

    expect(maxHeld).toBeLessThanOrEqual(perPeer)
    expect(inboundBudget.heldBy(attackerId)).toBeGreaterThan(0) // the stalled frames it accepted are held until they end
    expect(maxInbound).toBeLessThanOrEqual(MAX_INBOUND_STREAMS)
    const after = victim!.stats().replicaService
    expect(after.overBudget).toBeGreaterThan(before.overBudget)
    expect(after.refused - before.refused).toBeGreaterThanOrEqual(after.overBudget - before.overBudget)

    // honest requests are served while the hostile streams stall
    expect(await sendReplicaRequest(honest!.libp2p, pid, 'get', [{ key: blobKey('testdb', 'absent') }], AbortSignal.timeout(5_000))).toEqual([undefined])
    const got: string[] = []
    await honest!.sticky.subscribe('after-flood', { onMessage: (m) => { got.push(m.data as string) } })
    await victim!.sticky.publish('after-flood', 'fine')
    await waitFor(() => got.length === 1, 15_000, 'delivery during the flood')
    expect(got).toEqual(['fine'])

    // the attacker gives up: everything it made the victim hold is released
    release()
    for (const s of streams) s.abort(new Error('done'))
    await waitFor(() => inboundBudget.heldBy(attackerId) === 0, 10_000, 'hostile frames released')
  })

  it('silent streams: at most MAX_INBOUND_STREAMS per connection are kept, the others are reset', async () => {
    const [attacker, victim] = cluster.nodes as Database[]
    const inboundNow = (): number => victim!.libp2p.getConnections(attacker!.libp2p.peerId)
      .flatMap((c) => c.streams).filter((s) => s.protocol === REPLICA_PROTOCOL && s.direction === 'inbound').length
    const streams: Stream[] = []
    let maxInbound = 0
    for (let i = 0; i < 2 * MAX_INBOUND_STREAMS; i++) {
      const stream = await attacker!.libp2p.dialProtocol(victim!.libp2p.peerId, REPLICA_PROTOCOL).catch(() => undefined)
      if (stream != null) streams.push(stream)
      maxInbound = Math.max(maxInbound, inboundNow())
    }
    for (let i = 0; i < 10; i++) { await new Promise((resolve) => setTimeout(resolve, 50)); maxInbound = Math.max(maxInbound, inboundNow()) }
    expect(maxInbound).toBeLessThanOrEqual(MAX_INBOUND_STREAMS)
    expect(maxInbound).toBeGreaterThan(MAX_INBOUND_STREAMS / 2) // the silent streams are held until their deadline
    for (const s of streams) s.abort(new Error('done'))
  })
})
