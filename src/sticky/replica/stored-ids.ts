/*
 * What this node believes each topic's replica set holds: the ids of immutable records put there
 * (so a commit does not put them again), and the topics that need a repair because the set gained
 * members or a replica said it lacks a record an earlier put carried; their next commit puts every
 * record the head references again. Bounded: forgetting only costs a re-put.
 */

/** topics whose stored-record ids are remembered, and ids per topic */
const MAX_STORED_TOPICS = 2_000
const MAX_STORED_IDS = 20_000

export class StoredIds {
  private readonly byTopic = new Map<string, Set<string>>()
  /** topics whose replica set may lack records (see invalidate) */
  private readonly repair = new Set<string>()

  /** Ids known stored on a topic's replica set (the live set: callers add to it). */
  of (topic: string): Set<string> {
    let s = this.byTopic.get(topic)
    if (s == null) {
      if (this.byTopic.size >= MAX_STORED_TOPICS) this.byTopic.delete(this.byTopic.keys().next().value!)
      s = new Set()
      this.byTopic.set(topic, s)
    } else if (s.size > MAX_STORED_IDS) {
      s.clear()
    }
    return s
  }

  /** The topic's replica set may lack records: nothing counts as stored, the next commit repairs. */
  invalidate (topic: string): void {
    this.byTopic.delete(topic)
    this.repair.add(topic)
  }

  /** The topic needs a repair (without taking it). */
  needsRepair (topic: string): boolean { return this.repair.has(topic) }

  /** True (once) when the topic needs a repair. */
  takeRepair (topic: string): boolean { return this.repair.delete(topic) }

  /** A swept record is no longer stored anywhere this node knows of. */
  forget (id: string): void {
    for (const set of this.byTopic.values()) set.delete(id)
  }

  /** topics with a remembered id set */
  get topics (): number { return this.byTopic.size }
}
