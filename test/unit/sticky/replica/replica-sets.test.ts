import { afterEach, describe, expect, it, vi } from 'vitest'
import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { MIN_QUERY_INTERVAL_MS, QUERY_BACKOFF, ReplicaSets } from '../../../../src/sticky/replica/replica-sets.js'
import { silentLogger } from '../../../../src/index.js'

const KEY = (topic: string): Uint8Array => new TextEncoder().encode(`/dps/db/h/${topic}`)
const OPTIONS = { replicationFactor: 3, replicaRefreshMs: 30_000, requestTimeoutMs: 1_000 }

async function peers (n: number): Promise<PeerId[]> {
  return await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

/** the `count` of `candidates` nearest the topic's key by kad-dht's XOR distance */
function nearest (topic: string, candidates: PeerId[], count: number): string[] {
  const target = createHash('sha256').update(KEY(topic)).digest()
  const d = (p: PeerId): Buffer => Buffer.from(createHash('sha256').update(p.toMultihash().bytes).digest().map((b, i) => b ^ target[i]!))
  return [...candidates].sort((a, b) => Buffer.compare(d(a), d(b))).slice(0, count).map(String)
}

function fixture (all: PeerId[], opts: { tableHoldsAll: boolean }) {
  const connected = new Set(all.map(String))
  const queries: string[] = []
  const gained: string[] = []
  const gainedMembers: string[] = []
  const net = {
    knownPeers: () => (opts.tableHoldsAll ? all : undefined),
    isConnected: (p: PeerId) => connected.has(p.toString()),
    closestPeers: async (key: Uint8Array) => { queries.push(new TextDecoder().decode(key)); return all.filter((p) => connected.has(p.toString())) }
  }
  const sets = new ReplicaSets({ net, keyOf: KEY, onGained: (t, members) => { gained.push(t); gainedMembers.push(...members.map(String)) }, logger: silentLogger }, OPTIONS)
  return { sets, connected, queries, gained, gainedMembers }
}

describe('replica sets', () => {
  it('take the nearest peers from a routing table that holds the whole network, without a DHT query', async () => {
    const all = await peers(6)
    const { sets, queries } = fixture(all, { tableHoldsAll: true })
    expect((await sets.get('t')).map(String)).toEqual(nearest('t', all, 3))
    expect(queries).toEqual([])
    expect(sets.stats).toMatchObject({ refreshes: 1, fromTable: 1, queries: 0, reusedQueries: 0 })
  })

  it('ask the DHT when the routing table cannot stand for the network', async () => {
    const all = await peers(6)
    const { sets, queries } = fixture(all, { tableHoldsAll: false })
    expect((await sets.get('t')).map(String)).toEqual(nearest('t', all, 3))
    expect(queries).toEqual(['/dps/db/h/t'])
    await sets.get('t') // cached
    expect(queries).toHaveLength(1)
  })

  it('replace a member whose connection closed at once and report the new member', async () => {
    const all = await peers(6)
    const { sets, connected, gained, gainedMembers } = fixture(all, { tableHoldsAll: false })
    const first = await sets.get('t')
    const gone = first[0]!
    connected.delete(gone.toString())
    sets.peerDisconnected(gone.toString())
    expect(sets.isSuspect(gone)).toBe(true)
    // while the lookup runs the others are used; then the set holds a replacement
    expect((await sets.get('t')).map(String)).not.toContain(gone.toString())
    await new Promise((resolve) => setTimeout(resolve, 0))
    const after = (await sets.get('t')).map(String)
    expect(after).toEqual(nearest('t', all.filter((p) => p !== gone), 3))
    expect(gained).toEqual(['t'])
    expect(gainedMembers).toEqual(after.filter((p) => !first.map(String).includes(p)))
    // reconnecting clears the suspicion
    connected.add(gone.toString())
    expect(sets.isSuspect(gone)).toBe(false)
  })

  it('do not suspect a peer that failed a request but is still connected; a disconnected one is left out', async () => {
    const all = await peers(5)
    const { sets, connected } = fixture(all, { tableHoldsAll: true })
    const [a, b] = await sets.get('t')
    sets.failed(a!, 't')
    expect(sets.isSuspect(a!)).toBe(false)
    connected.delete(b!.toString())
    sets.failed(b!, 't')
    expect(sets.isSuspect(b!)).toBe(true)
    expect(sets.stats.failures).toBe(2)
  })

  it('a peer disconnecting that holds no topic changes nothing', async () => {
    const all = await peers(6)
    const { sets, gained } = fixture(all, { tableHoldsAll: true })
    const set = await sets.get('t')
    const outsider = all.find((p) => !set.includes(p))!
    sets.peerDisconnected(outsider.toString())
    expect(sets.isSuspect(outsider)).toBe(false)
    expect(gained).toEqual([])
  })

  it('run a topic\'s DHT query at most once per MIN_QUERY_INTERVAL_MS however often a lookup is forced (a commit waiting for its quorum forces one every 250 ms)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const all = await peers(6)
    const { sets, queries, connected } = fixture(all, { tableHoldsAll: false })
    for (let i = 0; i < 8; i++) {
      await sets.get('t', true)
      vi.advanceTimersByTime(250)
    }
    expect(queries).toHaveLength(Math.ceil(8 * 250 / MIN_QUERY_INTERVAL_MS))
    // counted as depin_sticky_replica_set_lookups_total{source}: every forced lookup, most of them reusing a query
    expect(sets.stats).toMatchObject({ refreshes: 8, fromTable: 0, queries: queries.length, reusedQueries: 8 - queries.length })
    // within the interval the last query's peers stand in, suspects still left out
    const gone = (await sets.get('t'))[0]!
    connected.delete(gone.toString())
    sets.peerDisconnected(gone.toString())
    const before = queries.length
    expect((await sets.get('t', true)).map(String)).not.toContain(gone.toString())
    expect(queries).toHaveLength(before)
    vi.advanceTimersByTime(MIN_QUERY_INTERVAL_MS)
    await sets.get('t', true)
    expect(queries).toHaveLength(before + 1)
  })

  it('query a set whose members stay the same less and less often, up to QUERY_BACKOFF refresh intervals apart; a new member starts over', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const all = await peers(6)
    const { sets, queries, connected, gainedMembers } = fixture(all, { tableHoldsAll: false })
    const newcomer = nearest('t', all, 1)[0]!
    connected.delete(newcomer) // not in the network yet
    const tick = async (): Promise<void> => {
      vi.advanceTimersByTime(OPTIONS.replicaRefreshMs)
      await sets.get('t') // a stale set answers at once and refreshes in the background
      await new Promise((resolve) => setTimeout(resolve, 0))
    }
    await sets.get('t')
    for (let i = 0; i < 20; i++) await tick()
    // queries at 0, 30, 90, 210, 450 s: the wait doubled to 240 s (8 x 30 s) and stays there
    expect(QUERY_BACKOFF).toBe(8)
    expect(queries).toHaveLength(5)
    connected.add(newcomer)
    for (let i = 0; i < 3; i++) await tick() // the next query (690 s) finds it
    expect(gainedMembers).toEqual([newcomer])
    const before = queries.length
    await tick() // a changed set is queried again after one interval
    expect(queries).toHaveLength(before + 1)
  })

  afterEach(() => { vi.useRealTimers() })
})
