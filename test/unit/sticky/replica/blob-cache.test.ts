/* The verified-record cache: bounded by encoded bytes, least recently stored evicted first. */
import { describe, expect, it } from 'vitest'
import { BlobCache } from '../../../../src/sticky/replica/blob-cache.js'
import type { BlobRecord } from '../../../../src/sticky/core/records.js'

const rec = (n: number): BlobRecord => ({ t: 'subs', n } as unknown as BlobRecord)

describe('BlobCache', () => {
  it('evicts the least recently stored records once over its byte bound; storing again refreshes', () => {
    const cache = new BlobCache(100)
    cache.set('a', rec(1), 40)
    cache.set('b', rec(2), 40)
    cache.set('a', rec(1), 40) // a is now the newest
    cache.set('c', rec(3), 40)
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('a')).toEqual(rec(1))
    expect(cache.get('c')).toEqual(rec(3))
    expect(cache.bytes).toBe(80)
    expect(cache.size).toBe(2)
  })

  it('delete and clear give the bytes back', () => {
    const cache = new BlobCache(100)
    cache.set('a', rec(1), 30)
    cache.set('b', rec(2), 30)
    cache.delete('a')
    cache.delete('missing')
    expect(cache.bytes).toBe(30)
    cache.clear()
    expect(cache.bytes).toBe(0)
    expect(cache.size).toBe(0)
  })
})
