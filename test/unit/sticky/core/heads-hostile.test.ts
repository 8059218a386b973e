/*
 * Hostile heads from an authorized wallet (issue 14, items 1-2): a head may only make a replica
 * drop another head when its content provably includes that head's; versions and expiries are
 * bounded; the head set is bounded by merging (a put that would overflow it is refused), never by
 * dropping a head nothing kept includes. Checked on a replica's real storage path (validator +
 * merging datastore) with validly signed records, and property-tested on the pure merge with more
 * heads than the limit.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { LIMITS } from '../../../../src/sticky/core/records.js'
import { mergeHeadSets } from '../../../../src/sticky/core/merge.js'
import { validateBlob, validateHeadSet } from '../../../../src/sticky/core/validation.js'
import { headKey } from '../../../../src/sticky/core/keys.js'
import { commit, DB, head, message, newSigner, TestReplica, TOPIC } from '../../../fixtures/sticky-forge.js'

describe('a replica drops a head only for a head that provably includes it', () => {
  it('keeps the current head when a signed head claims it as parent but carries none of its messages', async () => {
    const honest = newSigner()
    const attacker = newSigner() // authorized: compromised or buggy
    const replica = new TestReplica([honest.wallet, attacker.wallet])
    const good = await commit(honest, [await message(honest, 1), await message(honest, 2)])
    await replica.putBlobs(good.blobs)
    expect(await replica.putHead(good.bytes)).toBeNull()
    const eraser = await head(attacker, { version: 2, messages: null, parents: [good.id] })
    await replica.putHead(eraser.bytes)
    expect(await replica.headIds()).toContain(good.id)
  })

  it('drops the parent when the new head holds all of its messages (the honest case)', async () => {
    const a = newSigner()
    const replica = new TestReplica([a.wallet])
    const m1 = await message(a, 1)
    const first = await commit(a, [m1])
    await replica.putBlobs(first.blobs)
    await replica.putHead(first.bytes)
    const second = await commit(a, [m1, await message(a, 2)], { parents: [first.id] }, 2)
    await replica.putBlobs(second.blobs)
    expect(await replica.putHead(second.bytes)).toBeNull()
    expect(await replica.headIds()).toEqual([second.id])
  })

  it('refuses a head whose records the replica does not hold', async () => {
    const a = newSigner()
    const replica = new TestReplica([a.wallet])
    const c = await commit(a, [await message(a, 1)])
    expect(await replica.putHead(c.bytes)).toMatch(/not held/)
  })

  it('refuses absurd versions and expiries', async () => {
    const a = newSigner()
    const replica = new TestReplica([a.wallet])
    const now = Date.now()
    expect(await replica.putHead((await head(a, { version: 2 ** 53 - 1 })).bytes)).toMatch(/version/)
    expect(await replica.putHead((await head(a, { expiresAt: 1e308 })).bytes)).toMatch(/expir/)
    expect(await replica.putHead((await head(a, { lastModified: now + 3_600_000 })).bytes)).toMatch(/future/)
    const ok = await head(a, { version: 5 })
    expect(await replica.putHead(ok.bytes)).toBeNull()
    // a big jump above what the replica holds is refused even when the timestamps would allow it
    expect(await replica.putHead((await head(a, { version: 5 + LIMITS.MAX_VERSION_STEP + 1, createdAt: 0 })).bytes)).toMatch(/version/)
  })
})

describe('the head set is bounded by merging, not truncation', () => {
  it('refuses a head that would overflow the set, keeps every legitimate head, and accepts the merge', async () => {
    const writers = Array.from({ length: LIMITS.MAX_HEADS + 1 }, () => newSigner())
    const replica = new TestReplica(writers.map((w) => w.wallet))
    const commits = []
    for (const [i, w] of writers.entries()) {
      const c = await commit(w, [await message(w, 1)], {}, 1 + (i === 0 ? 0 : 10 + i)) // later siblings have higher versions
      commits.push(c)
      await replica.putBlobs(c.blobs)
    }
    for (const c of commits.slice(0, LIMITS.MAX_HEADS)) expect(await replica.putHead(c.bytes)).toBeNull()
    expect(await replica.putHead(commits[LIMITS.MAX_HEADS]!.bytes)).toMatch(/merge/)
    expect(await replica.headIds()).toContain(commits[0]!.id) // the lowest version is still there
    expect(await replica.heads()).toHaveLength(LIMITS.MAX_HEADS)
    // a writer that merged everything replaces them all
    const w = writers[0]!
    const all = await Promise.all(commits.map(async (c) => (c.blobs[0]!.record.entries[0].m)))
    const merged = await commit(w, all, { parents: commits.map((c) => c.id).sort() }, 100)
    await replica.putBlobs(merged.blobs)
    expect(await replica.putHead(merged.bytes)).toBeNull()
    expect(await replica.headIds()).toEqual([merged.id])
  })
})

describe('mergeHeadSets with more heads than the limit (property-based)', () => {
  // heads form a DAG; a head's content = its own message plus its parents' content. Some heads also
  // claim parents whose content they do not hold (hostile claims).
  const dagArb = fc.array(fc.record({ picks: fc.array(fc.nat(), { maxLength: 3 }), hostile: fc.array(fc.nat(), { maxLength: 2 }) }), { minLength: 1, maxLength: 3 * LIMITS.MAX_HEADS }).map((specs) => {
    const heads: Array<{ id: string, head: { version: number, parents: string[] }, content: Set<number> }> = []
    specs.forEach(({ picks, hostile }, i) => {
      const parents = heads.length === 0 ? [] : [...new Set(picks.map((p) => heads[p % heads.length]!))]
      const claimed = heads.length === 0 ? [] : hostile.map((p) => heads[p % heads.length]!.id)
      const content = new Set<number>([i])
      for (const p of parents) for (const c of p.content) content.add(c)
      heads.push({ id: `h${i}`, head: { version: 1 + Math.max(0, ...parents.map((p) => p.head.version)), parents: [...new Set([...parents.map((p) => p.id), ...claimed])] }, content })
    })
    return heads
  })

  it('never drops a head whose content no kept head includes, whatever the order; never truncates', () => {
    fc.assert(fc.property(dagArb, fc.array(fc.nat(), { minLength: 1, maxLength: 80 }), (heads, order) => {
      const byId = new Map(heads.map((h) => [h.id, h]))
      const includes = (child: { id: string }, parent: string): boolean => [...byId.get(parent)!.content].every((c) => byId.get(child.id)!.content.has(c))
      let stored: Array<{ id: string, head: { version: number, parents: string[] } }> = []
      const delivered = order.map((o) => heads[o % heads.length]!)
      for (const h of delivered) stored = mergeHeadSets(stored, [h], includes)
      const kept = new Set<number>()
      for (const h of stored) for (const c of byId.get(h.id)!.content) kept.add(c)
      for (const h of delivered) for (const c of h.content) expect(kept.has(c)).toBe(true)
      // no truncation: every delivered head is kept or included by a kept head
      for (const h of delivered) expect(stored.some((s) => s.id === h.id || includes(s, h.id))).toBe(true)
    }), { seed: 14, numRuns: 300 })
  })

  it('is commutative and idempotent', () => {
    fc.assert(fc.property(dagArb, (heads) => {
      const byId = new Map(heads.map((h) => [h.id, h]))
      const includes = (child: { id: string }, parent: string): boolean => [...byId.get(parent)!.content].every((c) => byId.get(child.id)!.content.has(c))
      const a = heads.filter((_, i) => i % 2 === 0)
      const b = heads.filter((_, i) => i % 2 === 1)
      const ids = (x: Array<{ id: string }>): string[] => x.map((h) => h.id).sort()
      const ab = mergeHeadSets(a, b, includes)
      expect(ids(ab)).toEqual(ids(mergeHeadSets(b, a, includes)))
      expect(ids(mergeHeadSets(ab, ab, includes))).toEqual(ids(ab))
    }), { seed: 14, numRuns: 200 })
  })
})

describe('a wallet that left the registry (item 3)', () => {
  it('a stored page or head set with its records stays readable; new records by it are refused', async () => {
    const stays = newSigner()
    const gone = newSigner()
    const replica = new TestReplica([stays.wallet, gone.wallet])
    const mixed = await commit(gone, [await message(stays, 1), await message(gone, 1)])
    await replica.putBlobs(mixed.blobs)
    expect(await replica.putHead(mixed.bytes)).toBeNull()
    replica.authorized.delete(gone.wallet)
    const [pageBlob] = mixed.blobs
    // read: the page and the head still validate (the loader then skips the removed publisher's message)
    expect(validateBlob(DB, pageBlob!.id, pageBlob!.bytes, replica.policy, 'read').t).toBe('page')
    expect(validateHeadSet(headKey(DB, TOPIC), DB, mixed.bytes, replica.policy, 'read')).toHaveLength(1)
    // put: refused
    expect(() => validateBlob(DB, pageBlob!.id, pageBlob!.bytes, replica.policy, 'put')).toThrow(/not authorized/)
    expect(await replica.putHead((await head(gone, { version: 2 })).bytes)).toMatch(/not authorized/)
    // a head that drops the removed publisher's message still supersedes the old one
    const next = await commit(stays, [mixed.blobs[0]!.record.entries[0].m], { parents: [mixed.id] }, 2)
    await replica.putBlobs(next.blobs)
    expect(await replica.putHead(next.bytes)).toBeNull()
    expect(await replica.headIds()).toEqual([next.id])
  })
})

describe('clock skew (item 8)', () => {
  it('a writer whose clock is far ahead cannot drop live messages: its heads are refused, and within the window a head lacking them supersedes nothing', async () => {
    const honest = newSigner()
    const skewed = newSigner()
    const replica = new TestReplica([honest.wallet, skewed.wallet])
    const now = Date.now()
    // a message with 10 minutes to live, which a writer 2 h ahead believes expired
    const p = await commit(honest, [await message(honest, 1, 'live', { publishedAt: now, expiresAt: now + 600_000 })])
    await replica.putBlobs(p.blobs)
    await replica.putHead(p.bytes)
    const ahead = now + 2 * 3_600_000
    const dropped = await head(skewed, { version: 2, parents: [p.id], createdAt: now, lastModified: ahead, expiresAt: ahead + 3_600_000 })
    expect(await replica.putHead(dropped.bytes)).toMatch(/future/)
    const within = await head(skewed, { version: 2, parents: [p.id], lastModified: now + LIMITS.MAX_CLOCK_SKEW_MS - 5_000 })
    expect(await replica.putHead(within.bytes)).toBeNull()
    expect(await replica.headIds()).toEqual([p.id, within.id].sort())
  })
})
