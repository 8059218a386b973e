/*
 * Turns coordinator heads into topic content: loads a head's message root, its pages (in
 * parallel) and its subscriber collection, verified, and caches the result per head id (heads are
 * immutable). Also merges what several replicas returned into one set of current heads.
 */
import { contentIncludes, mergeHeadSets, mergeStates, type Page, type TopicState } from '../core/merge.js'
import { LIMITS, type Entry, type HeadRecord, type SubscriberEntry } from '../core/records.js'
import { messageId } from '../core/signing.js'
import type { StickyStore, ReplicaHeads } from '../replica/store.js'
import type { HeadWithId } from '../core/validation.js'

export interface LoadedHead { id: string, head: HeadRecord, state: TopicState, pages: Page[], publishers: Set<string> }

const PAGE_CONCURRENCY = 32

export class StateLoader {
  private readonly loaded = new Map<string, LoadedHead>()
  private readonly ids = new WeakMap<object, string>()
  /** child>parent pairs whose inclusion was proven (heads are immutable: stays true, up to expiry) */
  private readonly inclusions = new Set<string>()

  constructor (private readonly store: StickyStore) {}

  /** Id of a message, memoized per record object. */
  idOf = (m: object): string => {
    let id = this.ids.get(m)
    if (id == null) { id = messageId(m as any); this.ids.set(m, id) }
    return id
  }

  /**
   * The current heads across replicas: their union, minus each head another one lists as a parent
   * AND provably includes (both loaded, compared message by message; see merge.ts contentIncludes).
   * A claimed parent that cannot be loaded anywhere is dropped (replicas only store heads whose
   * records they hold, so its records expired); a claimant that cannot be loaded proves nothing.
   */
  async currentHeads (replicas: ReplicaHeads[], signal?: AbortSignal): Promise<HeadWithId[]> {
    const union = new Map<string, HeadWithId>()
    for (const r of replicas) for (const h of r.heads) union.set(h.id, h)
    const proven = new Set<string>()
    for (const child of union.values()) {
      for (const p of child.head.parents) {
        const parent = union.get(p)
        if (parent != null && p !== child.id && await this.includes(child, parent, signal)) proven.add(`${child.id}>${p}`)
      }
    }
    return mergeHeadSets([...union.values()], [], (child, p) => proven.has(`${child.id}>${p}`))
  }

  private async includes (child: HeadWithId, parent: HeadWithId, signal?: AbortSignal): Promise<boolean> {
    const key = `${child.id}>${parent.id}`
    if (this.inclusions.has(key)) return true
    const c = await this.load(child, signal).catch(() => undefined)
    if (c == null) return false
    const p = await this.load(parent, signal).catch(() => undefined)
    const ok = p == null || contentIncludes(c.state, p.state, Date.now(), LIMITS.MAX_CLOCK_SKEW_MS)
    if (ok) {
      if (this.inclusions.size >= 4_096) this.inclusions.clear()
      this.inclusions.add(key)
    }
    return ok
  }

  /** Current heads of a topic across replicas (siblings included). */
  async readCurrentHeads (topic: string): Promise<HeadWithId[]> {
    return await this.currentHeads(await this.store.readHeads(topic))
  }

  /** The topic's current heads and the merged content of those that load. */
  async currentState (topic: string, now = Date.now()): Promise<{ heads: HeadWithId[], merged: TopicState }> {
    const heads = await this.readCurrentHeads(topic)
    const loaded = (await Promise.all(heads.map(async (h) => await this.load(h)))).filter((x) => x != null)
    return { heads, merged: mergeStates(loaded.map((l) => l!.state), now) }
  }

  /** Loads pages by id, in parallel batches; undefined if any is missing or invalid. */
  async loadPages (topic: string, pageIds: readonly string[], signal?: AbortSignal): Promise<Page[] | undefined> {
    const pages: Page[] = new Array(pageIds.length)
    let missing = false
    for (let i = 0; i < pageIds.length && !missing; i += PAGE_CONCURRENCY) {
      await Promise.all(pageIds.slice(i, i + PAGE_CONCURRENCY).map(async (id, j) => {
        const rec = await this.store.getBlob(topic, id, signal)
        if (rec?.t !== 'page') { missing = true; return }
        pages[i + j] = { id, entries: rec.entries }
      }))
    }
    return missing ? undefined : pages
  }

  /** Loads a head's full content; undefined when a record it points at cannot be loaded. */
  async load (h: HeadWithId, signal?: AbortSignal): Promise<LoadedHead | undefined> {
    const cached = this.loaded.get(h.id)
    if (cached != null) {
      // a publisher of its messages may have left the registry since it was loaded
      if ([...cached.publishers].every((p) => this.store.isPublisher(p))) return cached
      this.loaded.delete(h.id)
    }
    const { head } = h
    let pages: Page[] = []
    if (head.messages != null) {
      const root = await this.store.getBlob(head.topic, head.messages, signal)
      if (root?.t !== 'root') return undefined
      const loaded = await this.loadPages(head.topic, root.pages, signal)
      if (loaded == null) return undefined
      pages = loaded
    }
    const subs = new Map<string, SubscriberEntry>()
    if (head.subscribers != null) {
      const rec = await this.store.getBlob(head.topic, head.subscribers, signal)
      if (rec?.t !== 'subs') return undefined
      for (const s of rec.subs) subs.set(s.client, s)
    }
    const entries = new Map<string, Entry>()
    // a publisher removed from the registry: its messages are skipped one by one (and the next
    // write drops them; pages keep their raw entries so the layout sees them as changed)
    const publishers = new Set<string>()
    for (const p of pages) {
      for (const e of p.entries) {
        if (!this.store.isPublisher(e.m.publisher)) continue
        publishers.add(e.m.publisher)
        entries.set(this.idOf(e.m), e)
      }
    }
    const state: TopicState = {
      version: head.version,
      entries,
      subs,
      messageHistory: head.messageHistory,
      subscriberHistory: head.subscriberHistory,
      previous: head.previous,
      createdAt: head.createdAt
    }
    const result = { id: h.id, head, state, pages, publishers }
    if (this.loaded.size > 256) this.loaded.clear()
    this.loaded.set(h.id, result)
    return result
  }
}
