/*
 * Snapshot chains. A head keeps only its recent collection ids; older ones live in snapshot
 * records linked by `previous`. This walks such a chain (bounded depth) for the committer, which
 * joins concurrent chains into one snapshot, and for `loadFullHistory`.
 */
import type { BlobRecord, HeadRecord } from '../core/records.js'
import type { StickyStore } from '../replica/store.js'

export interface HistoryLists { messageHistory: string[], subscriberHistory: string[] }

export class SnapshotHistory {
  constructor (private readonly store: Pick<StickyStore, 'getBlob'>) {}

  /** The histories of a snapshot chain, oldest first; a snapshot that cannot be loaded ends the walk. */
  async walk (topic: string, snapshotId: string, maxDepth: number): Promise<HistoryLists> {
    const chain: HistoryLists[] = []
    let next: string | null = snapshotId
    for (let depth = 0; next != null && depth < maxDepth; depth++) {
      const snap: BlobRecord | undefined = await this.store.getBlob(topic, next).catch(() => undefined)
      if (snap?.t !== 'snap') break
      chain.unshift(snap)
      next = snap.previous
    }
    return { messageHistory: dedupe(chain.flatMap((c) => c.messageHistory)), subscriberHistory: dedupe(chain.flatMap((c) => c.subscriberHistory)) }
  }

  /**
   * The message-collection history of a head, oldest first: its own recent entries preceded by those
   * of up to `maxDepth` snapshots down its `previous` chain.
   */
  async full (head: HeadRecord, maxDepth = 10): Promise<string[]> {
    if (head.previous == null) return [...head.messageHistory]
    const older = await this.walk(head.topic, head.previous, maxDepth)
    return dedupe([...older.messageHistory, ...head.messageHistory])
  }
}

function dedupe (ids: string[]): string[] { return [...new Set(ids)] }
