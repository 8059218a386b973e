import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Keypair } from '@solana/web3.js'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { canonicalJson, contentId, encodeRecord } from '../../../../src/sticky/core/codec.js'
import { blobKey, headKey, parseKey, pushTopic, topicId } from '../../../../src/sticky/core/keys.js'
import { compareMessages, liveSubscribers, mergeHeadSets, mergeStates, paginate, SUBSCRIBER_TOMBSTONE_MS, TAIL_PAGES_MAX, type TopicState } from '../../../../src/sticky/core/merge.js'
import { LIMITS, type Entry, type HeadRecord, type MessageRecord, type SubscriberEntry } from '../../../../src/sticky/core/records.js'
import { ed25519Signer, headId, messageId, signHead, signMessage, VerifiedSignatures, verifyHead, verifyMessage, type Signer } from '../../../../src/sticky/core/signing.js'
import { createStickyValidator, mergeHeadSetBytes, selectStickyRecord, validateBlob } from '../../../../src/sticky/core/validation.js'

async function signer (): Promise<Signer> {
  const kp = Keypair.generate()
  const key = await generateKeyPairFromSeed('Ed25519', kp.secretKey.subarray(0, 32))
  return { wallet: kp.publicKey.toBase58(), sign: (data) => key.sign(data) }
}

const enc = (v: unknown): Uint8Array => encodeRecord(v)

describe('sticky codec and keys', () => {
  it('encodes canonically: key order does not change the bytes or the id', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 1 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1}')
    expect(contentId(enc({ x: 1, y: 2 }))).toBe(contentId(enc({ y: 2, x: 1 })))
    expect(contentId(enc({ x: 1 }))).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(() => canonicalJson({ n: NaN })).toThrow()
  })

  it('maps keys per database and parses them back; push topics cannot collide with real-time topics', () => {
    const k = headKey('db.1', 'news/today')
    expect(parseKey(k)).toEqual({ kind: 'head', db: 'db.1', topicId: topicId('news/today') })
    expect(parseKey(blobKey('db', 'AAAAAAAAAAAAAAAAAAAAAA'))).toEqual({ kind: 'blob', db: 'db', id: 'AAAAAAAAAAAAAAAAAAAAAA' })
    expect(parseKey(new TextEncoder().encode('/dps/db'))).toBeUndefined()
    expect(parseKey(new TextEncoder().encode('/other/db/h/x'))).toBeUndefined()
    fc.assert(fc.property(fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/), fc.string(), fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/), fc.string({ minLength: 1 }), (db, topic, db2, topic2) => {
      expect(pushTopic(db, topic)).not.toBe(`${db2}_${topic2}`)
    }))
  })
})

describe('signatures', () => {
  it('signs and verifies messages and heads; any change breaks the signature', async () => {
    const s = await signer()
    const m = await signMessage({ t: 'msg', db: 'd', topic: 't', publisher: s.wallet, seq: 1, data: { x: 1 }, publishedAt: 1, expiresAt: 2 }, s)
    expect(verifyMessage(m)).toBe(true)
    expect(verifyMessage({ ...m, data: { x: 2 } })).toBe(false)
    expect(verifyMessage({ ...m, publisher: (await signer()).wallet })).toBe(false)
    expect(messageId(m)).toBe(messageId({ ...m, sig: 'other' })) // the id covers the signed content
    const h = await signHead(head(s.wallet, 1), s)
    expect(verifyHead(h)).toBe(true)
    expect(verifyHead({ ...h, version: 2 })).toBe(false)
  })

  it('the cached-key signer signs exactly as the libp2p key does (Ed25519 is deterministic)', async () => {
    const kp = Keypair.generate()
    const libp2pKey = await generateKeyPairFromSeed('Ed25519', kp.secretKey.subarray(0, 32))
    const fast = ed25519Signer(kp.publicKey.toBase58(), kp.secretKey)
    const data = new TextEncoder().encode('sticky record bytes')
    expect(Buffer.from(await fast.sign(data))).toEqual(Buffer.from(await libp2pKey.sign(data)))
    const m = await signMessage({ t: 'msg', db: 'd', topic: 't', publisher: fast.wallet, seq: 1, data: 1, publishedAt: 1, expiresAt: 2 }, fast)
    expect(verifyMessage(m)).toBe(true)
    expect(() => ed25519Signer(fast.wallet, kp.secretKey.subarray(0, 32))).toThrow(/64 bytes/)
  })

  it('a verified-signature cache skips only the exact record it verified: a changed record or signature is checked again', async () => {
    const s = await signer()
    const verified = new VerifiedSignatures()
    const m = await signMessage({ t: 'msg', db: 'd', topic: 't', publisher: s.wallet, seq: 1, data: { x: 1 }, publishedAt: 1, expiresAt: 2 }, s)
    expect(verifyMessage(m, verified)).toBe(true)
    expect(verified.size).toBe(1)
    expect(verifyMessage(JSON.parse(JSON.stringify(m)), verified)).toBe(true) // a fresh copy: a hit
    expect(verifyMessage({ ...m, data: { x: 2 } }, verified)).toBe(false)
    const other = await signMessage({ t: 'msg', db: 'd', topic: 't', publisher: s.wallet, seq: 2, data: { x: 1 }, publishedAt: 1, expiresAt: 2 }, s)
    expect(verifyMessage({ ...m, sig: other.sig }, verified)).toBe(false) // a valid signature of something else
    const h = await signHead(head(s.wallet, 1), s)
    expect(verifyHead(h, verified)).toBe(true)
    expect(verifyHead({ ...h, version: 2 }, verified)).toBe(false)
    expect(verifyHead({ ...h, sig: other.sig }, verified)).toBe(false)
    expect(verified.size).toBe(2) // failures are not cached
  })
})

function head (writer: string, version: number, parents: string[] = []): Omit<HeadRecord, 'sig'> {
  const now = Date.now()
  return { t: 'head', db: 'd', topic: 't', version, messages: null, subscribers: null, messageHistory: [], subscriberHistory: [], previous: null, parents, createdAt: now, lastModified: now, state: 'ACTIVE', retired: false, expiresAt: now + 3_600_000, writer }
}

// --- merge properties --------------------------------------------------------------------------

const fakeMsg = (id: number, publisher = 'P', expiresAt = 1e15): MessageRecord => ({ t: 'msg', db: 'd', topic: 't', publisher, seq: id, data: id, publishedAt: id, expiresAt, sig: String(id) })
const stateArb = fc.record({
  version: fc.integer({ min: 1, max: 50 }),
  ids: fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 15 }),
  subs: fc.array(fc.record({ client: fc.constantFrom('a', 'b', 'c', 'd'), updatedAt: fc.integer({ min: 1, max: 100 }), expiresAt: fc.integer({ min: 1, max: 300 }) }), { maxLength: 4 }),
  hist: fc.uniqueArray(fc.constantFrom('h1', 'h2', 'h3', 'h4', 'h5'), { maxLength: 3 })
}).map(({ version, ids, subs, hist }): TopicState => ({
  version,
  entries: new Map(ids.map((i) => [String(i), { m: fakeMsg(i), v: Math.min(version, i) } satisfies Entry])),
  subs: new Map(subs.map((s) => [s.client, { ...s, subscribedAt: 1 } satisfies SubscriberEntry])),
  messageHistory: hist,
  subscriberHistory: [],
  previous: null,
  createdAt: 1
}))
const NOW = 150
const content = (s: TopicState): unknown => ({
  ids: [...s.entries.keys()].sort(),
  subs: [...s.subs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
  hist: [...s.messageHistory].sort()
})

describe('mergeStates (property-based)', () => {
  it('is commutative, associative and idempotent on content; version is above every input', () => {
    fc.assert(fc.property(stateArb, stateArb, stateArb, (a, b, c) => {
      const ab = mergeStates([a, b], NOW)
      expect(content(ab)).toEqual(content(mergeStates([b, a], NOW)))
      expect(content(mergeStates([ab, c], NOW))).toEqual(content(mergeStates([a, mergeStates([b, c], NOW)], NOW)))
      expect(content(mergeStates([a, a], NOW))).toEqual(content(mergeStates([a], NOW)))
      expect(ab.version).toBeGreaterThan(Math.max(a.version, b.version))
    }))
  })

  it('never loses a message: the result holds the union of unexpired messages', () => {
    fc.assert(fc.property(fc.array(stateArb, { minLength: 1, maxLength: 5 }), (states) => {
      const merged = mergeStates(states, NOW)
      for (const s of states) for (const id of s.entries.keys()) expect(merged.entries.has(id)).toBe(true)
    }))
  })

  it('keeps deltas complete: for a reader who synced any parent, everything that parent lacks has a version above it', () => {
    fc.assert(fc.property(fc.array(stateArb, { minLength: 2, maxLength: 4 }), (parents) => {
      const merged = mergeStates(parents, NOW)
      for (const [id, e] of merged.entries) {
        for (const p of parents) if (!p.entries.has(id)) expect(e.v).toBeGreaterThan(p.version)
        // an entry is only re-stamped (new version) or kept at a version it had in a parent
        expect(e.v === merged.version || parents.some((p) => p.entries.get(id)?.v === e.v)).toBe(true)
      }
    }))
  })

  it('merging an ancestor with its descendant re-stamps nothing (the descendant\'s pages stay valid)', () => {
    fc.assert(fc.property(stateArb, fc.uniqueArray(fc.integer({ min: 41, max: 80 }), { minLength: 1, maxLength: 10 }), (ancestor, added) => {
      const descendant: TopicState = { ...ancestor, version: ancestor.version + 1, entries: new Map([...ancestor.entries, ...added.map((i): [string, Entry] => [String(i), { m: fakeMsg(i), v: ancestor.version + 1 }])]) }
      const merged = mergeStates([ancestor, descendant], NOW)
      for (const [id, e] of merged.entries) expect(e.v).toBe(descendant.entries.get(id)!.v)
    }))
  })

  it('keeps the latest subscriber update and drops expired subscribers and messages', () => {
    const s1: TopicState = { ...mergeStates([], NOW), version: 1, subs: new Map([['a', { client: 'a', subscribedAt: 1, expiresAt: 500, updatedAt: 10 }]]), entries: new Map([['1', { m: fakeMsg(1, 'P', 100), v: 1 }], ['2', { m: fakeMsg(2), v: 1 }]]) }
    const s2: TopicState = { ...s1, subs: new Map([['a', { client: 'a', subscribedAt: 1, expiresAt: 120, updatedAt: 20 }]]) }
    const merged = mergeStates([s1, s2], NOW)
    expect(merged.subs.get('a')!.expiresAt).toBe(120) // the later update wins...
    expect(liveSubscribers(merged.subs, NOW)).toEqual([]) // ...and is expired at 150: kept only as a tombstone
    expect(mergeStates([s1, s2], 120 + SUBSCRIBER_TOMBSTONE_MS).subs.size).toBe(0)
    expect([...merged.entries.keys()]).toEqual(['2'])
  })
})

describe('replica head sets (property-based)', () => {
  // heads form a DAG; a head's content = its own message plus its parents' content
  const dagArb = fc.array(fc.array(fc.nat(), { maxLength: 3 }), { minLength: 1, maxLength: 12 }).map((parentPicks) => {
    const heads: Array<{ id: string, head: { version: number, parents: string[] }, content: Set<number> }> = []
    parentPicks.forEach((picks, i) => {
      const parents = heads.length === 0 ? [] : [...new Set(picks.map((p) => heads[p % heads.length]!))]
      const contentSet = new Set<number>([i])
      for (const p of parents) for (const c of p.content) contentSet.add(c)
      heads.push({ id: `h${i}`, head: { version: 1 + Math.max(0, ...parents.map((p) => p.head.version)), parents: parents.map((p) => p.id) }, content: contentSet })
    })
    return heads
  })

  it('never drops a head whose content is not included in a kept head, whatever the merge order', () => {
    fc.assert(fc.property(dagArb, fc.array(fc.nat(), { minLength: 1, maxLength: 30 }), (heads, order) => {
      fc.pre(heads.length <= LIMITS.MAX_HEADS)
      const byId = new Map(heads.map((h) => [h.id, h]))
      const includes = (child: { id: string }, parent: string): boolean => [...byId.get(parent)!.content].every((c) => byId.get(child.id)!.content.has(c))
      // replicas receive heads in arbitrary order and groupings
      let stored: Array<{ id: string, head: { version: number, parents: string[] } }> = []
      const delivered = order.map((o) => heads[o % heads.length]!)
      for (const h of delivered) stored = mergeHeadSets(stored, [h], includes)
      const kept = new Set<number>()
      for (const h of stored) for (const c of byId.get(h.id)!.content) kept.add(c)
      for (const h of delivered) for (const c of h.content) expect(kept.has(c)).toBe(true)
    }))
  })

  it('is commutative and idempotent', () => {
    fc.assert(fc.property(dagArb, (heads) => {
      const byId = new Map(heads.map((h) => [h.id, h]))
      const includes = (child: { id: string }, parent: string): boolean => [...byId.get(parent)!.content].every((c) => byId.get(child.id)!.content.has(c))
      const a = heads.filter((_, i) => i % 2 === 0)
      const b = heads.filter((_, i) => i % 2 === 1)
      const ids = (x: Array<{ id: string }>): string[] => x.map((h) => h.id).sort()
      expect(ids(mergeHeadSets(a, b, includes))).toEqual(ids(mergeHeadSets(b, a, includes)))
      const ab = mergeHeadSets(a, b, includes)
      expect(ids(mergeHeadSets(ab, ab, includes))).toEqual(ids(ab))
    }))
  })
})

describe('ordering and pages', () => {
  it('orders by publishedAt, then publisher, then sequence', () => {
    const ms = [fakeMsg(3, 'B'), { ...fakeMsg(2, 'A'), publishedAt: 3 }, fakeMsg(1, 'Z'), { ...fakeMsg(5, 'A'), publishedAt: 3 }]
    expect(ms.sort(compareMessages).map((m) => `${m.publishedAt}${m.publisher}${m.seq}`)).toEqual(['1Z1', '3A2', '3A5', '3B3'])
  })

  it('keeps existing pages unchanged when messages are appended, compacts the tail, and drops pages whose messages all expired', () => {
    const entries = new Map<string, Entry>()
    for (let i = 1; i <= 300; i++) entries.set(String(i), { m: fakeMsg(i, 'P', i <= 128 ? 50 : 1e15), v: i })
    const idOf = (m: MessageRecord): string => String(m.seq)
    let layout = paginate(entries, [], idOf, 0).map((p, i) => ({ ...p, id: `p${i}` }))
    expect(layout.map((p) => p.entries.length)).toEqual([128, 128, 44])
    for (let i = 301; i <= 310; i++) entries.set(String(i), { m: fakeMsg(i), v: i })
    const second = paginate(entries, layout, idOf, 0)
    expect(second.map((p) => p.id)).toEqual(['p0', 'p1', 'p2', undefined]) // only the new entries are written
    expect(second[3]!.entries).toHaveLength(10)
    // many one-message commits: the tail never grows past TAIL_PAGES_MAX small pages
    layout = second.map((p, i) => ({ ...p, id: p.id ?? `q${i}` }))
    for (let i = 311; i <= 340; i++) {
      entries.set(String(i), { m: fakeMsg(i), v: i })
      layout = paginate(entries, layout, idOf, 0).map((p, j) => ({ ...p, id: p.id ?? `r${i}-${j}` }))
      expect(layout.length).toBeLessThanOrEqual(2 + TAIL_PAGES_MAX)
    }
    expect(layout.flatMap((p) => p.entries).map((e) => e.m.seq)).toEqual(Array.from({ length: 340 }, (_, i) => i + 1))
    const later = paginate(entries, layout, idOf, 100) // the first page's messages all expired at 50
    expect(later[0]!.id).toBe('p1')
  })
})

describe('record validation (what every node checks before storing)', () => {
  const policy = { servesDatabase: (db: string) => db === 'd', isAuthorized: () => true }

  it('accepts a valid page and refuses forged, unsigned, oversize, malformed or misfiled records', async () => {
    const s = await signer()
    const m = await signMessage({ t: 'msg', db: 'd', topic: 't', publisher: s.wallet, seq: 1, data: 'hi', publishedAt: 1, expiresAt: 2 }, s)
    const page = { t: 'page', db: 'd', topic: 't', entries: [{ m, v: 1 }], expiresAt: Date.now() + 3_600_000 }
    const ok = enc(page)
    expect(validateBlob('d', contentId(ok), ok, policy).t).toBe('page')
    const validator = createStickyValidator(policy)
    await expect(validator(blobKey('d', contentId(ok)), ok)).resolves.toBeUndefined()
    const forged = enc({ ...page, entries: [{ m: { ...m, data: 'changed' }, v: 1 }] })
    await expect(validator(blobKey('d', contentId(forged)), forged)).rejects.toThrow(/signature/)
    const unsigned = enc({ ...page, entries: [{ m: { ...m, sig: '' }, v: 1 }] })
    await expect(validator(blobKey('d', contentId(unsigned)), unsigned)).rejects.toThrow(/unsigned/)
    await expect(validator(blobKey('d', 'AAAAAAAAAAAAAAAAAAAAAA'), ok)).rejects.toThrow(/content does not match/)
    await expect(validator(blobKey('other', contentId(ok)), ok)).rejects.toThrow(/not served/)
    const junk = new TextEncoder().encode('{not json')
    await expect(validator(blobKey('d', contentId(junk)), junk)).rejects.toThrow()
    const huge = enc({ t: 'root', db: 'd', topic: 't', pages: [], count: 0, expiresAt: 1e15, pad: 'x'.repeat(600 * 1024) })
    await expect(validator(blobKey('d', contentId(huge)), huge)).rejects.toThrow(/too large/)
    const noAuth = createStickyValidator({ ...policy, isAuthorized: () => false })
    await expect(noAuth(blobKey('d', contentId(ok)), ok)).rejects.toThrow(/not authorized/)
  })

  it('refuses head sets with forged heads, foreign topics or unauthorized writers, and merges valid ones', async () => {
    const s = await signer()
    const validator = createStickyValidator(policy)
    const h1 = await signHead(head(s.wallet, 1), s)
    const h2 = await signHead(head(s.wallet, 2, [headId(h1)]), s)
    const set = (...heads: unknown[]): Uint8Array => new TextEncoder().encode(JSON.stringify({ t: 'heads', heads }))
    await expect(validator(headKey('d', 't'), set(h1))).resolves.toBeUndefined()
    await expect(validator(headKey('d', 'other'), set(h1))).rejects.toThrow(/another topic/)
    await expect(validator(headKey('d', 't'), set({ ...h1, version: 9 }))).rejects.toThrow(/signature/)
    await expect(createStickyValidator({ ...policy, isAuthorized: () => false })(headKey('d', 't'), set(h1))).rejects.toThrow(/not authorized/)
    const merged = JSON.parse(new TextDecoder().decode(await mergeHeadSetBytes(set(h1), set(h2), async () => true)))
    expect(merged.heads.map((h: HeadRecord) => h.version)).toEqual([2]) // h2 supersedes h1 (its content includes h1's)
    const unproven = JSON.parse(new TextDecoder().decode(await mergeHeadSetBytes(set(h1), set(h2), async () => false)))
    expect(unproven.heads.map((h: HeadRecord) => h.version)).toEqual([2, 1]) // a claim alone drops nothing
    expect(selectStickyRecord(headKey('d', 't'), [set(h1), set(h2)])).toBe(1)
  })
})
