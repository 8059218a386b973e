/*
 * lastSeenVersion is a promise to the application: every message added up to it was delivered, so
 * resuming after it misses nothing. A push of a later commit must not move it (an earlier commit's
 * push may have been lost), nor may a poll that could not load every current head.
 */
import { describe, expect, it } from 'vitest'
import { StickySubscription } from '../../../../src/sticky/topic/subscription.js'
import { silentLogger } from '../../../../src/logger.js'

const msg = (id: string, seq: number): any => ({ id, topic: 't', publisher: 'P', seq, data: id, publishedAt: seq, expiresAt: Date.now() + 60_000 })

describe('sticky subscription lastSeenVersion', () => {
  it('moves only when a poll delivered every current head; pushes do not move it', async () => {
    // the network: heads by id -> version and pages; `loadable` decides which roots can be read
    const heads: Array<{ id: string, head: { version: number, messages: string, state: string } }> = []
    const pages = new Map<string, { id: string, entries: Array<{ v: number, m: any }> }>()
    const loadable = new Set<string>()
    const add = (version: number, ids: string[], ok = true): void => {
      const page = `p${version}`
      pages.set(page, { id: page, entries: ids.map((id, i) => ({ v: version, m: msg(id, version * 10 + i) })) })
      heads.push({ id: `h${version}`, head: { version, messages: `r${version}`, state: 'ACTIVE' } })
      if (ok) loadable.add(`r${version}`)
    }
    const got: string[] = []
    const sub = new StickySubscription({
      store: {
        readHeads: async () => heads,
        isPublisher: () => true,
        getBlob: async (_t: string, id: string) => loadable.has(id) ? { t: 'root', pages: [...pages.keys()].filter((p) => Number(p.slice(1)) <= Number(id.slice(1))) } : null
      } as any,
      loader: {
        currentHeads: (h: typeof heads) => h,
        loadPages: async (_t: string, ids: string[]) => ids.map((id) => pages.get(id)!),
        idOf: (m: any) => m.id
      } as any,
      topic: 't',
      onMessage: (m) => { got.push(m.messageId) },
      logger: silentLogger,
      onClose: async () => {},
      renew: async () => ({ expiresAt: 0 })
    }, { receiveHistory: true, lastSeenVersion: null, pollIntervalMs: 1_000_000, ttlMs: 60_000, expiresAt: Date.now() + 60_000, autoRenew: false, renewAtFraction: 0.8 })

    add(3, ['a'])
    await sub.start()
    expect(got).toEqual(['a'])
    expect(sub.lastSeenVersion).toBe(3)

    // commit 4's push is lost; commit 5's push arrives
    add(4, ['b'], false)
    add(5, ['c'])
    ;(sub as any).polling = new Promise(() => {}) // hold the poll the version gap asks for
    sub.receivePush(5, pages.get('p5')!.entries as any)
    expect(got).toEqual(['a', 'c'])
    expect(sub.lastSeenVersion).toBe(3) // 'b' (version 4) was not delivered: resuming after 5 would skip it
    ;(sub as any).polling = undefined

    // a poll that cannot load head 4 yet delivers what it can but does not move past it
    await (sub as any).sync(0)
    expect(sub.lastSeenVersion).toBe(3)
    loadable.add('r4')
    await (sub as any).sync(0)
    expect(got).toEqual(['a', 'c', 'b'])
    expect(sub.lastSeenVersion).toBe(5)
    await sub.unsubscribe()
  })
})
