/*
 * The commit decision (core/commit-plan.ts) without a network: property-based over random loaded
 * heads, batches and clocks, like the merge tests.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { contentId, encodeRecord } from '../../../../src/sticky/core/codec.js'
import { planMerge, planRecords, snapshotLinks, type BatchItem, type PlanHead } from '../../../../src/sticky/core/commit-plan.js'
import { liveSubscribers, type TopicState } from '../../../../src/sticky/core/merge.js'
import { LIMITS, checkTimes, type BlobRecord, type Entry, type HeadRecord, type MessageRecord, type SubscriberEntry } from '../../../../src/sticky/core/records.js'

const NOW = 1_700_000_000_000
const WRITER = 'Writer1111111111111111111111111111111111111'
const idOf = (m: MessageRecord): string => `${m.publisher}:${m.seq}`
const msg = (publisher: string, seq: number, expiresAt = NOW + 60_000): MessageRecord =>
  ({ t: 'msg', db: 'd', topic: 't', publisher, seq, data: { seq }, publishedAt: NOW - 1_000, expiresAt, sig: 'x' })

function loadedHead (i: number, version: number, raw: Entry[], subs: SubscriberEntry[], previous: string | null = null, history: string[] = []): PlanHead {
  // as in a real head: each message once, added at or below the head's version
  const entries = [...new Map(raw.map((e) => [idOf(e.m), { m: e.m, v: Math.min(e.v, version) }])).values()]
  const state: TopicState = {
    version,
    entries: new Map(entries.map((e) => [idOf(e.m), e])),
    subs: new Map(subs.map((s) => [s.client, s])),
    messageHistory: history,
    subscriberHistory: [],
    previous,
    createdAt: NOW - 10_000
  }
  const head = { t: 'head', db: 'd', topic: 't', version, messages: null, subscribers: subs.length > 0 ? `subs${i}` : null, messageHistory: history, subscriberHistory: [], previous, parents: [], createdAt: NOW - 10_000, lastModified: NOW - 5_000, state: 'ACTIVE', retired: false, expiresAt: NOW + 1e6, writer: WRITER, sig: 'x' } as unknown as HeadRecord
  return { id: `head${i}`, head, state, pages: [{ id: `page${i}`, entries }] }
}

// a message is immutable: its expiry follows from its id (every third one has expired)
const arbEntry = fc.record({ p: fc.constantFrom('A', 'B', 'C'), seq: fc.integer({ min: 1, max: 30 }), v: fc.integer({ min: 1, max: 20 }) })
  .map(({ p, seq, v }): Entry => ({ m: msg(p, seq, seq % 3 === 0 ? NOW - 1 : NOW + 60_000), v }))
const arbSub = fc.record({ c: fc.constantFrom('c1', 'c2', 'c3', 'c4', 'c5'), live: fc.boolean(), u: fc.integer({ min: 0, max: 100 }) })
  .map(({ c, live, u }): SubscriberEntry => ({ client: c, subscribedAt: NOW - 100, expiresAt: live ? NOW + 60_000 : NOW - 1, updatedAt: NOW - 1_000 + u }))
const arbHeads = fc.array(fc.record({ version: fc.integer({ min: 1, max: 20 }), entries: fc.array(arbEntry, { maxLength: 12 }), subs: fc.array(arbSub, { maxLength: 4 }) }), { maxLength: 3 })
  .map((hs) => hs.map((h, i) => loadedHead(i, h.version, h.entries, h.subs)))
const arbBatch = fc.array(fc.oneof(
  fc.record({ kind: fc.constant('msg' as const), seq: fc.integer({ min: 100, max: 200 }) }).map(({ seq }): BatchItem => { const m = msg(WRITER, seq); return { kind: 'msg', id: idOf(m), record: m } }),
  arbSub.map((entry): BatchItem => ({ kind: 'sub', entry })),
  fc.constant<BatchItem>({ kind: 'touch' })
), { maxLength: 10 })

/** A prepare that records what it was given, with the real content ids. */
function recorder (): { prepare: (r: any) => Promise<string>, records: Map<string, BlobRecord> } {
  const records = new Map<string, BlobRecord>()
  return { records, prepare: async (r) => { const id = contentId(encodeRecord(r)); records.set(id, r); return id } }
}

describe('commit plan: merge decision', () => {
  it('the new version is above every head seen and any recovered version; every batch message is in the content', () => {
    fc.assert(fc.property(arbHeads, arbBatch, fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 3 }), fc.integer({ min: 0, max: 40 }), (loaded, batch, unloadedVersions, floor) => {
      const headVersions = [...loaded.map((l) => l.head.version), ...unloadedVersions]
      const plan = planMerge({ topic: 't', headVersions, loaded, versionFloor: floor, batch, now: NOW, maxSubscribers: 1000, idOf })
      expect(plan.merged.version).toBeGreaterThan(Math.max(floor, 0, ...headVersions))
      const msgs = batch.filter((b): b is Extract<BatchItem, { kind: 'msg' }> => b.kind === 'msg')
      expect(plan.added.map((e) => idOf(e.m))).toEqual(msgs.map((m) => m.id))
      for (const m of msgs) expect(plan.entries.get(m.id)).toBeDefined()
      // a new message carries the new version; a message already present keeps its entry
      for (const e of plan.added) {
        const before = loaded.find((l) => l.state.entries.has(idOf(e.m)))
        if (before == null) expect(e.v).toBe(plan.merged.version)
      }
      // every live message of every loaded head survives, and the pages hold exactly the content
      for (const l of loaded) for (const [id, e] of l.state.entries) if (e.m.expiresAt > NOW) expect(plan.entries.has(id)).toBe(true)
      const paged = plan.pages.flatMap((p) => p.entries).filter((e) => e.m.expiresAt > NOW).map((e) => idOf(e.m)).sort()
      expect(paged).toEqual([...plan.entries.keys()].sort())
      expect(plan.refused).toHaveLength(batch.length)
    }))
  })

  it('refuses a joining subscriber beyond maxSubscribers and never an update of a live one or a leave', () => {
    fc.assert(fc.property(arbHeads, arbBatch, fc.integer({ min: 0, max: 4 }), (loaded, batch, max) => {
      const plan = planMerge({ topic: 't', headVersions: loaded.map((l) => l.head.version), loaded, versionFloor: 0, batch, now: NOW, maxSubscribers: max, idOf })
      const before = liveSubscribers(plan.merged.subs, NOW).length // the merged heads, before the batch
      expect(liveSubscribers(plan.subs, NOW).length).toBeLessThanOrEqual(Math.max(max, before))
      batch.forEach((b, i) => {
        const refusal = plan.refused[i]
        if (b.kind !== 'sub') { expect(refusal).toBeUndefined(); return }
        if (b.entry.expiresAt <= NOW) expect(refusal).toBeUndefined() // a leave is never refused
        if (refusal != null) {
          expect(refusal.code).toBe('ERR_TOO_MANY_SUBSCRIBERS')
          expect(plan.subs.get(b.entry.client)).not.toBe(b.entry)
        }
      })
    }))
  })

  it('keeps referencing the pages it did not change and the loaded subscriber collections', () => {
    const e1: Entry = { m: msg('A', 1), v: 1 }
    const loaded = [loadedHead(0, 1, [e1], [{ client: 'c1', subscribedAt: NOW, expiresAt: NOW + 1e6, updatedAt: NOW }])]
    const m = msg(WRITER, 1)
    const plan = planMerge({ topic: 't', headVersions: [1], loaded, versionFloor: 0, batch: [{ kind: 'msg', id: idOf(m), record: m }], now: NOW, maxSubscribers: 10, idOf })
    expect(plan.keep).toEqual(['page0', 'subs0'])
    expect(plan.pages.map((p) => p.id)).toEqual(['page0', undefined])
    expect(plan.pages[1]!.entries.map((e) => idOf(e.m))).toEqual([idOf(m)])
  })
})

describe('commit plan: records and head', () => {
  it('the head references exactly the new records, lists the loaded and superseded heads as parents, and expires with its content', async () => {
    await fc.assert(fc.asyncProperty(arbHeads, arbBatch, fc.array(fc.constantFrom('broken1', 'broken2'), { maxLength: 2 }), async (loaded, batch, supersede) => {
      const plan = planMerge({ topic: 't', headVersions: loaded.map((l) => l.head.version), loaded, versionFloor: 0, batch, now: NOW, maxSubscribers: 1000, idOf })
      const { prepare, records } = recorder()
      const { head, snapshot } = await planRecords({ db: 'd', topic: 't', writer: WRITER, plan, loaded, supersede, chains: [], now: NOW, gcGraceMs: 3_600_000, prepare })
      expect(head.version).toBe(plan.merged.version)
      expect(head.writer).toBe(WRITER)
      expect(head.parents).toEqual([...new Set([...loaded.map((l) => l.id), ...supersede])].sort())
      const root = records.get(head.messages!)
      expect(root?.t).toBe('root')
      if (root?.t !== 'root') return
      expect(root.count).toBe(plan.entries.size)
      // kept pages are referenced by id and not written again; every new page is written once
      expect(root.pages).toEqual(plan.pages.map((p) => p.id ?? contentId(encodeRecord({ t: 'page', db: 'd', topic: 't', entries: p.entries, expiresAt: Math.max(0, ...p.entries.map((e) => e.m.expiresAt + 3_600_000)) }))))
      const written = [...records.values()]
      expect(written.filter((r) => r.t === 'page')).toHaveLength(plan.pages.filter((p) => p.id == null).length)
      if (plan.subs.size > 0) expect(records.get(head.subscribers!)).toMatchObject({ t: 'subs', subs: [...plan.subs.values()].sort((a, b) => (a.client < b.client ? -1 : 1)) })
      else expect(head.subscribers).toBeNull()
      expect(head.messageHistory.at(-1)).toBe(head.messages)
      expect(snapshot).toBe(written.some((r) => r.t === 'snap'))
      const rootExpiry = (root as { expiresAt: number }).expiresAt
      expect(head.expiresAt).toBeGreaterThanOrEqual(rootExpiry)
      expect(head.expiresAt).toBeGreaterThanOrEqual(NOW)
    }))
  })

  it('dates the head no earlier than the topic it continues: a parent created after this attempt read its clock is merged into a valid head', async () => {
    // two writers create a topic at once: B's first head (created 40 ms after A's attempt began,
    // e.g. while A waited for the heads on a loaded machine) is what A loads and continues
    const parent = loadedHead(0, 1, [{ m: msg('B', 1), v: 1 }], [])
    const bCreated = NOW + 40
    parent.state.createdAt = bCreated
    Object.assign(parent.head, { createdAt: bCreated, lastModified: bCreated })
    const m = msg(WRITER, 1)
    const plan = planMerge({ topic: 't', headVersions: [1], loaded: [parent], versionFloor: 0, batch: [{ kind: 'msg', id: idOf(m), record: m }], now: NOW, maxSubscribers: 10, idOf })
    const { head } = await planRecords({ db: 'd', topic: 't', writer: WRITER, plan, loaded: [parent], supersede: [], chains: [], now: NOW, gcGraceMs: 0, prepare: recorder().prepare })
    expect(head.createdAt).toBe(bCreated)
    expect(head.lastModified).toBeGreaterThanOrEqual(head.createdAt)
    // what a replica checks, with A's clock and with a clock that reads the same
    expect(checkTimes({ ...head, sig: 'x' }, NOW)).toBeUndefined()
  })

  it('moves old history into a snapshot when the head would outgrow its target, losing none of it', async () => {
    const history = Array.from({ length: LIMITS.HISTORY_MAX }, (_, i) => contentId(encodeRecord({ i })))
    const loaded = [loadedHead(0, 5, [{ m: msg('A', 1), v: 1 }], [], 'prevSnapshotId00000000', history)]
    const plan = planMerge({ topic: 't', headVersions: [5], loaded, versionFloor: 0, batch: [{ kind: 'touch' }], now: NOW, maxSubscribers: 10, idOf })
    const { prepare, records } = recorder()
    const { head, snapshot } = await planRecords({ db: 'd', topic: 't', writer: WRITER, plan, loaded, supersede: [], chains: [], now: NOW, gcGraceMs: 0, prepare })
    expect(snapshot).toBe(true)
    const snap = records.get(head.previous!)
    // the content's 60 s TTL: the snapshot expires with the head, not an hour after its creation
    expect(head.expiresAt).toBeLessThan(NOW + LIMITS.SNAPSHOT_TTL_MS)
    expect(snap).toMatchObject({ t: 'snap', previous: 'prevSnapshotId00000000', expiresAt: head.expiresAt })
    if (snap?.t !== 'snap') return
    expect([...snap.messageHistory, ...head.messageHistory]).toEqual([...history, head.messages])
    expect(head.messageHistory.length).toBeLessThanOrEqual(LIMITS.HISTORY_KEEP)
  })

  it('a snapshot of long-lived content expires SNAPSHOT_TTL_MS after its creation, before the head', async () => {
    const history = Array.from({ length: LIMITS.HISTORY_MAX }, (_, i) => contentId(encodeRecord({ i })))
    const loaded = [loadedHead(0, 5, [{ m: msg('A', 1, NOW + 48 * 3_600_000), v: 1 }], [], null, history)]
    const plan = planMerge({ topic: 't', headVersions: [5], loaded, versionFloor: 0, batch: [{ kind: 'touch' }], now: NOW, maxSubscribers: 10, idOf })
    const { prepare, records } = recorder()
    const { head } = await planRecords({ db: 'd', topic: 't', writer: WRITER, plan, loaded, supersede: [], chains: [], now: NOW, gcGraceMs: 0, prepare })
    expect(head.expiresAt).toBe(NOW + 48 * 3_600_000)
    expect(records.get(head.previous!)).toMatchObject({ t: 'snap', expiresAt: NOW + LIMITS.SNAPSHOT_TTL_MS })
  })

  it('joins the chains of heads that link different snapshots into one snapshot', async () => {
    const loaded = [loadedHead(0, 3, [], [], 'snapA000000000000000000'), loadedHead(1, 4, [], [], 'snapB000000000000000000')]
    expect(snapshotLinks(loaded)).toEqual(['snapA000000000000000000', 'snapB000000000000000000'])
    const plan = planMerge({ topic: 't', headVersions: [3, 4], loaded, versionFloor: 0, batch: [], now: NOW, maxSubscribers: 10, idOf })
    const { prepare, records } = recorder()
    const chains = [{ messageHistory: ['r1', 'r2'], subscriberHistory: ['s1'] }, { messageHistory: ['r1', 'r3'], subscriberHistory: [] }]
    const { head } = await planRecords({ db: 'd', topic: 't', writer: WRITER, plan, loaded, supersede: [], chains, now: NOW, gcGraceMs: 0, prepare })
    const snap = records.get(head.previous!)
    expect(snap).toMatchObject({ t: 'snap', previous: null })
    if (snap?.t !== 'snap') return
    for (const id of ['r1', 'r2', 'r3']) expect(snap.messageHistory).toContain(id)
    expect(snap.subscriberHistory).toContain('s1')
  })
})
