/*
 * Replica repair. When a topic's replica set gains members (a replica left and another took its
 * place, see replica-sets.ts), the new members hold none of the topic's records. Every node using
 * the topic notices the same change, so each waits a random moment (up to REPAIR_JITTER_MS) and then,
 * only if some replica still lacks the current heads, commits a version with no change: a commit
 * re-puts every record the version references to every replica (see StickyStore.ensureReplicated).
 * Only topics this node writes to (has a committer for) are repaired here.
 */
import { sleep } from '../../abort.js'
import type { Logger } from '../../logger.js'
import type { StickyStore } from '../replica/store.js'
import type { TopicCommitter } from './committer.js'
import type { StateLoader } from './state-loader.js'

/** nodes repairing a topic's new replica-set members start within this many ms of each other */
const REPAIR_JITTER_MS = 2_000

export interface RepairDeps {
  store: Pick<StickyStore, 'replicas' | 'readHeads'>
  loader: Pick<StateLoader, 'currentHeads'>
  /** this node's committer for the topic, if it writes to it */
  committerOf: (topic: string) => TopicCommitter | undefined
  isClosed: () => boolean
  logger: Logger
}

export class ReplicaRepair {
  constructor (private readonly deps: RepairDeps) {}

  /** The topic's replica set gained members (the store's onReplicasGained). */
  replicasGained (topic: string): void {
    const committer = this.deps.committerOf(topic)
    if (committer == null || this.deps.isClosed()) return
    void (async () => {
      await sleep(Math.random() * REPAIR_JITTER_MS)
      if (this.deps.isClosed()) return
      const replicas = await this.deps.store.replicas(topic)
      const answers = await this.deps.store.readHeads(topic)
      const current = await this.deps.loader.currentHeads(answers)
      const holding = answers.filter((a) => current.every((h) => a.heads.some((x) => x.id === h.id))).length
      if (holding >= replicas.length + 1) return // every replica and this node hold the current version
      await committer.touch()
    })().catch((err: unknown) => { this.deps.logger.debug('replica repair failed', 'topic', topic, 'error', err) })
  }
}
