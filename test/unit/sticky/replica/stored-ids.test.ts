/* What each topic's replica set is known to hold, and which topics need a repair. */
import { describe, expect, it } from 'vitest'
import { StoredIds } from '../../../../src/sticky/replica/stored-ids.js'

describe('StoredIds', () => {
  it('invalidate forgets a topic\'s ids and asks for one repair', () => {
    const ids = new StoredIds()
    ids.of('t').add('x')
    expect(ids.takeRepair('t')).toBe(false)
    ids.invalidate('t')
    expect(ids.of('t').has('x')).toBe(false)
    expect(ids.takeRepair('t')).toBe(true)
    expect(ids.takeRepair('t')).toBe(false)
  })

  it('forget drops an id from every topic; the number of topics is bounded', () => {
    const ids = new StoredIds()
    ids.of('a').add('x')
    ids.of('b').add('x')
    ids.forget('x')
    expect(ids.of('a').has('x') || ids.of('b').has('x')).toBe(false)
    for (let i = 0; i < 5_000; i++) ids.of(`t${i}`)
    expect(ids.topics).toBeLessThanOrEqual(2_000)
  })
})
