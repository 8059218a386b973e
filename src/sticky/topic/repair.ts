/*
 * Replica repair. When a topic's replica set gains members (a replica left and another took its
 * place, or a peer closer to the topic's key arrived; see replica-sets.ts), the new members hold
 * none of the topic's records. Repair copies the current heads' records (root, pages, subscriber
 * collection), then the heads, to each new member that holds none of the current heads: no new
 * version, so no conflict with other writers and nothing for subscribers to load. (A replica takes
 * a head only with its records, so a member holding one current head holds its content; the next
 * write merges the siblings.)
 * Every node writing to the topic notices the same change and one copy is enough, so they take
 * turns: each ranks itself among the topic's live subscribers by a hash of wallet and topic (the
 * same order on every node; a writer that is not a subscriber comes last), waits its rank times
 * REPAIR_STEP_MS (plus a little jitter), then asks only the gained members for their heads. Nodes
 * whose turn comes later find the members repaired; a commit this node made meanwhile re-put every
 * record (StickyStore.ensureReplicated) and ends its turn. One repair per topic waits at a time.
 * Measured before (every writer committing a version with no change within 2 s of each change of
 * the set): 30 idle daemons in one topic made 34 such commits a minute 150-210 s after start, each
 * a new sibling head that made the next checks fail, 5.5 % of a core per node (3.8 % without repair).
 * Only topics this node writes to (has a committer for) are repaired here.
 */
import { createHash } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { sleep } from '../../abort.js'
import type { Logger } from '../../logger.js'
import { liveSubscribers } from '../core/merge.js'
import type { StickyStore } from '../replica/store.js'
import type { StateLoader } from './state-loader.js'

/** the wait between two nodes' turns at repairing the same change */
export const REPAIR_STEP_MS = 3_000
/** turns beyond this one all start at its time (a topic with thousands of subscribers) */
const MAX_TURN = 20
/** random wait added to a turn, so that nodes on equal turns (not subscribers) do not start together */
const REPAIR_JITTER_MS = 1_000

export interface RepairDeps {
  store: Pick<StickyStore, 'replicas' | 'readHeads' | 'headIdsAt' | 'repairPending' | 'repaired' | 'copyTo'>
  loader: Pick<StateLoader, 'currentHeads' | 'load'>
  /** this node's wallet: its place among the topic's subscribers */
  wallet: string
  /** this node writes to the topic (has a committer for it) */
  writes: (topic: string) => boolean
  isClosed: () => boolean
  logger: Logger
}

export class ReplicaRepair {
  /** per topic, the gained members a waiting repair will check (later gains join the wait) */
  private readonly waiting = new Map<string, Map<string, PeerId>>()

  constructor (private readonly deps: RepairDeps) {}

  /** The topic's replica set gained members (the store's onReplicasGained). */
  replicasGained (topic: string, gained: PeerId[]): void {
    if (!this.deps.writes(topic) || this.deps.isClosed()) return
    const pending = this.waiting.get(topic)
    if (pending != null) { for (const p of gained) pending.set(p.toString(), p); return }
    const members = new Map(gained.map((p) => [p.toString(), p]))
    this.waiting.set(topic, members)
    void this.repair(topic, members)
      .catch((err: unknown) => { this.deps.logger.debug('replica repair failed', 'topic', topic, 'error', err) })
      .finally(() => { if (this.waiting.get(topic) === members) this.waiting.delete(topic) })
  }

  private async repair (topic: string, members: Map<string, PeerId>): Promise<void> {
    const { store, loader } = this.deps
    const current = await loader.currentHeads(await store.readHeads(topic))
    const turn = await this.turn(topic, current)
    await sleep(turn * REPAIR_STEP_MS + Math.random() * REPAIR_JITTER_MS)
    // a commit of ours since the change re-put every record (it took the pending repair)
    if (this.deps.isClosed() || !store.repairPending(topic)) return
    this.waiting.delete(topic) // gains from here on start a new turn
    const replicas = new Set((await store.replicas(topic)).map(String))
    const heads = turn === 0 ? current : await loader.currentHeads(await store.readHeads(topic))
    const loaded = (await Promise.all(heads.map(async (h) => await loader.load(h).catch(() => undefined)))).filter((l) => l != null)
    if (loaded.length === 0) return // nothing this node can copy (yet): its next commit re-puts what it loads
    const ids = loaded.flatMap((l) => [l.head.messages, ...l.pages.map((p) => p.id), l.head.subscribers]).filter((id): id is string => id != null)
    const results = await Promise.all([...members.values()].filter((p) => replicas.has(p.toString())).map(async (peer) => {
      const held = await store.headIdsAt(topic, peer).catch(() => undefined)
      if (held == null) return false // no answer: nothing a copy could fix now
      if (heads.some((h) => held.has(h.id))) return true
      const copied = await store.copyTo(topic, peer, loaded, ids).catch((err: unknown) => { this.deps.logger.debug('replica repair copy failed', 'topic', topic, 'peer', peer.toString(), 'error', err) })
      if (copied != null) this.deps.logger.debug('replica repaired: copied the current version to a new member', 'topic', topic, 'peer', peer.toString(), 'records', copied)
      return copied != null
    }))
    if (results.every(Boolean)) store.repaired(topic)
  }

  /** This node's turn: its place among the live subscribers of the current version (the count of them when it is not one). */
  private async turn (topic: string, current: Awaited<ReturnType<StateLoader['currentHeads']>>): Promise<number> {
    const order = (wallet: string): string => createHash('sha256').update(`${wallet}\n${topic}`).digest('hex')
    const clients = new Set<string>()
    for (const h of current) {
      const loaded = await this.deps.loader.load(h).catch(() => undefined)
      for (const s of liveSubscribers(loaded?.state.subs ?? new Map(), Date.now())) clients.add(s.client)
    }
    const ranked = [...clients].map(order).sort()
    const mine = clients.has(this.deps.wallet) ? ranked.indexOf(order(this.deps.wallet)) : ranked.length
    return Math.min(mine, MAX_TURN)
  }
}
