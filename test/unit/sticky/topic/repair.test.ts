/*
 * Replica repair takes turns: of several nodes writing to a topic whose replica set gained a member,
 * one copies the current version to it and the others, on later turns, find the member repaired
 * (fake clock, fake store).
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createHash } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { REPAIR_STEP_MS, ReplicaRepair } from '../../../../src/sticky/topic/repair.js'
import { silentLogger } from '../../../../src/index.js'

const TOPIC = 't'
const member = { toString: () => 'member' } as unknown as PeerId
const HEAD = { id: 'h1', head: { messages: 'root', subscribers: 'subs' } } as any

/** One network: the gained member holds `memberHeads`; a copy by any node repairs it. */
function network (wallets: string[]) {
  const memberHeads = new Set<string>()
  let memberAnswers = true
  const touches: string[] = []
  const copied: string[][] = []
  const subs = new Map(wallets.map((w) => [w, { client: w, subscribedAt: 0, expiresAt: Date.now() + 3_600_000, updatedAt: 0 }]))
  const node = (wallet: string, opts: { committer?: boolean } = {}) => {
    let pending = false
    const repair = new ReplicaRepair({
      store: {
        replicas: async () => [member],
        readHeads: async () => [],
        headIdsAt: async () => { if (!memberAnswers) throw new Error('timed out'); return new Set(memberHeads) },
        repairPending: () => pending,
        repaired: () => { pending = false },
        copyTo: async (_topic, peer, heads, ids) => {
          touches.push(wallet)
          copied.push([peer.toString(), ...heads.map((h) => h.id), ...ids])
          for (const h of heads) memberHeads.add(h.id)
          return ids.length
        }
      },
      loader: { currentHeads: async () => [HEAD], load: async () => ({ ...HEAD, pages: [{ id: 'p1' }, { id: 'p2' }], state: { subs } }) as any },
      wallet,
      writes: () => opts.committer !== false,
      isClosed: () => false,
      logger: silentLogger
    })
    return {
      repair,
      /** the store saw the gain: its next commit would re-put everything */
      gained: () => { pending = true; repair.replicasGained(TOPIC, [member]) },
      ownCommit: () => { pending = false }
    }
  }
  return { node, touches, copied, memberHeads, silence: () => { memberAnswers = false } }
}

/** wallets ordered the way the repair ranks them for TOPIC */
function ranked (wallets: string[]): string[] {
  const order = (w: string): string => createHash('sha256').update(`${w}\n${TOPIC}`).digest('hex')
  return [...wallets].sort((a, b) => (order(a) < order(b) ? -1 : 1))
}

describe('replica repair', () => {
  afterEach(() => { vi.useRealTimers() })

  it('thirty subscribers notice the same gain: the first in turn copies the current version, the others find the member repaired', async () => {
    vi.useFakeTimers()
    const wallets = Array.from({ length: 30 }, (_, i) => `w${i}`)
    const net = network(wallets)
    const nodes = wallets.map((w) => net.node(w))
    for (const n of nodes) n.gained()
    await vi.advanceTimersByTimeAsync(30 * REPAIR_STEP_MS + 2_000)
    expect(net.touches).toEqual([ranked(wallets)[0]])
    // records first (root, pages, subscriber collection), then the head
    expect(net.copied).toEqual([['member', 'h1', 'root', 'p1', 'p2', 'subs']])
    expect(net.memberHeads.has(HEAD.id)).toBe(true)
  })

  it('the next in turn copies when the first does not (it left without unsubscribing)', async () => {
    vi.useFakeTimers()
    const wallets = ['a', 'b', 'c']
    const [first, second] = ranked(wallets)
    const net = network(wallets)
    const nodes = wallets.filter((w) => w !== first).map((w) => net.node(w))
    for (const n of nodes) n.gained()
    await vi.advanceTimersByTimeAsync(REPAIR_STEP_MS - 100)
    expect(net.touches).toEqual([])
    await vi.advanceTimersByTimeAsync(4 * REPAIR_STEP_MS)
    expect(net.touches).toEqual([second])
  })

  it('gains while a repair waits join it; a commit of its own meanwhile ends it; a member holding a current head or not answering is left alone', async () => {
    vi.useFakeTimers()
    const wallets = ['a', 'b']
    const net = network(wallets)
    const [, last] = ranked(wallets)
    const n = net.node(last!)
    n.gained()
    n.gained()
    await vi.advanceTimersByTimeAsync(3 * REPAIR_STEP_MS)
    expect(net.touches).toEqual([last]) // once for both gains
    n.gained()
    n.ownCommit() // its own commit re-put every record
    await vi.advanceTimersByTimeAsync(3 * REPAIR_STEP_MS)
    expect(net.touches).toHaveLength(1)
    n.gained() // the member holds the current head already
    await vi.advanceTimersByTimeAsync(3 * REPAIR_STEP_MS)
    expect(net.touches).toHaveLength(1)
    net.memberHeads.clear()
    net.silence()
    n.gained()
    await vi.advanceTimersByTimeAsync(3 * REPAIR_STEP_MS)
    expect(net.touches).toHaveLength(1)
  })

  it('a writer that is not a subscriber waits for every subscriber\'s turn; a node without a committer does nothing', async () => {
    vi.useFakeTimers()
    const net = network(['a', 'b'])
    const writer = net.node('writer')
    const reader = net.node('reader', { committer: false })
    writer.gained()
    reader.gained()
    await vi.advanceTimersByTimeAsync(2 * REPAIR_STEP_MS - 100)
    expect(net.touches).toEqual([])
    await vi.advanceTimersByTimeAsync(REPAIR_STEP_MS + 1_100)
    expect(net.touches).toEqual(['writer'])
  })
})
