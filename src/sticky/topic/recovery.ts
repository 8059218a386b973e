/*
 * Channel recovery. When a topic's current coordinator version stays unloadable (a record it
 * points at is lost on every replica), recovery reads the coordinator from every replica, takes the
 * highest version whose collections load (asking each head's writer directly too, since it keeps
 * what it wrote) and the next commit is written on top of it, superseding the broken versions.
 * While the search runs the channel is RECOVERING; FAILED when nothing loads and every version seen
 * is broken (publishes are then refused until a recovery succeeds).
 *
 * Two entry points: the committer runs `find` when a head has been unloadable for recoveryAfterMs,
 * and `db.sticky.recover(topic)` runs `recoverNow`.
 */
import { walletToPeerId } from '../../identity.js'
import type { Logger } from '../../logger.js'
import { ChannelFailedError } from '../core/errors.js'
import type { ChannelState } from '../core/records.js'
import type { HeadWithId } from '../core/validation.js'
import type { StickyStore } from '../replica/store.js'
import type { Recovered, TopicCommitter } from './committer.js'
import type { LoadedHead, StateLoader } from './state-loader.js'

export interface RecoveryDeps {
  store: Pick<StickyStore, 'replicas' | 'readHeads' | 'prefetchFrom'>
  loader: StateLoader
  selfPeerId: string
  /** a topic's channel state changed (ACTIVE again, RECOVERING, FAILED) */
  onState: (topic: string, state: ChannelState) => void
  logger: Logger
}

export class Recovery {
  /** per-topic channel state kept by this node (RECOVERING / FAILED while recovery runs or failed) */
  private readonly states = new Map<string, ChannelState>()

  constructor (private readonly deps: RecoveryDeps) {}

  /** This node's view of a topic's channel state, when it is not ACTIVE. */
  state (topic: string): ChannelState | undefined { return this.states.get(topic) }

  /**
   * Recovers a topic's channel now: every version counts as broken, the highest loadable one is
   * committed on top of (a new version with no change). Rejects with ChannelFailedError when no
   * version loads.
   */
  async recoverNow (topic: string, committer: TopicCommitter, signal?: AbortSignal): Promise<{ version: number }> {
    const found = await this.find(topic, () => true, signal)
    if (found == null) throw new ChannelFailedError(topic, 'no coordinator version whose collections load on any replica')
    committer.prime(found)
    const version = await committer.touch()
    return { version }
  }

  /**
   * Recovery search: reads the coordinator from every replica and takes the highest version whose
   * collections load. Only heads `isBroken` accepts are superseded; a failing head that is not (yet)
   * broken stays a sibling. The channel is FAILED when nothing loads and every head seen is broken;
   * it is ACTIVE otherwise.
   */
  async find (topic: string, isBroken: (headId: string) => boolean, signal?: AbortSignal): Promise<Recovered | undefined> {
    this.setState(topic, 'RECOVERING')
    try {
      const replicas = await this.deps.store.replicas(topic, true)
      const answers = await this.deps.store.readHeads(topic, signal, replicas.length)
      const all = new Map<string, HeadWithId>()
      for (const a of answers) for (const h of a.heads) all.set(h.id, h)
      const byVersion = [...all.values()].sort((a, b) => b.head.version - a.head.version || (a.id < b.id ? -1 : 1))
      const failed: HeadWithId[] = []
      for (const h of byVersion) {
        if (signal?.aborted === true) break
        const loaded = await this.loadAskingWriter(h, signal)
        if (loaded == null) { failed.push(h); continue }
        const supersede = failed.filter((x) => isBroken(x.id)).map((x) => x.id)
        if (supersede.length > 0) this.deps.logger.warn('sticky topic recovered from an earlier coordinator version', 'topic', topic, 'version', h.head.version, 'superseded', supersede.length)
        this.setState(topic, 'ACTIVE')
        return { base: h, loaded, supersede, topVersion: byVersion[0]!.head.version }
      }
      const allBroken = failed.length > 0 && failed.every((x) => isBroken(x.id))
      if (allBroken) this.deps.logger.error('sticky topic FAILED: no coordinator version loads on any replica', 'topic', topic, 'versionsSeen', byVersion.length)
      this.setState(topic, allBroken ? 'FAILED' : 'ACTIVE')
      return undefined
    } catch (err) {
      this.setState(topic, 'ACTIVE')
      throw err
    }
  }

  /** Loads a head; when that fails, fetches its collections from the head's writer and tries again. */
  private async loadAskingWriter (h: HeadWithId, signal?: AbortSignal): Promise<LoadedHead | undefined> {
    const { loader, store } = this.deps
    const first = await loader.load(h, signal).catch(() => undefined)
    if (first != null) return first
    let writer
    try { writer = walletToPeerId(h.head.writer) } catch { return undefined }
    if (writer.toString() === this.deps.selfPeerId) return undefined
    const ids = [h.head.messages, h.head.subscribers].filter((x): x is string => x != null)
    const records = await store.prefetchFrom(h.head.topic, writer, ids, signal)
    const root = records.find((r) => r.t === 'root')
    if (root?.t === 'root') await store.prefetchFrom(h.head.topic, writer, root.pages, signal)
    return await loader.load(h, signal).catch(() => undefined)
  }

  private setState (topic: string, state: ChannelState): void {
    if (state === 'ACTIVE') this.states.delete(topic)
    else this.states.set(topic, state)
    this.deps.onState(topic, state)
  }
}
