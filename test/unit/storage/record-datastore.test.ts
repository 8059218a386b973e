/*
 * The in-memory side of the record datastore keeps values that own their bytes: a value that is a
 * view into a larger buffer (what a network read hands over) must not keep that buffer alive.
 */
import { describe, expect, it } from 'vitest'
import { Key } from 'interface-datastore'
import { RecordDatastore } from '../../../src/storage/record-datastore.js'

describe('record datastore (memory)', () => {
  it('stores a copy of a value that is a view into a larger buffer, and the value itself otherwise', async () => {
    const store = new RecordDatastore()
    const chunk = new Uint8Array(64 * 1024).fill(7)
    const view = chunk.subarray(100, 600)
    await store.put(new Key('/dht/record/a'), view)
    const got = await store.get(new Key('/dht/record/a'))
    expect(got).toEqual(view)
    expect(got.buffer.byteLength).toBe(500) // not the 64 KiB chunk
    const own = new Uint8Array([1, 2, 3])
    await store.put(new Key('/dht/record/b'), own)
    expect(await store.get(new Key('/dht/record/b'))).toBe(own)
  })
})
