import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, waitFor, type Cluster } from '../fixtures/cluster.js'

describe('sticky smoke', () => {
  let cluster: Cluster
  beforeAll(async () => { cluster = await startCluster(5, { fullMesh: true }) })
  afterAll(async () => { await cluster?.stop() })

  it('publishes and a late subscriber gets the history', async () => {
    const [a, b, c] = cluster.nodes as [any, any, any]
    const t0 = Date.now()
    const r1 = await a.sticky.publish('news', { n: 1 })
    console.error('first publish ms', Date.now() - t0, r1)
    const t1 = Date.now()
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => b.sticky.publish('news', { n: 2 + i })))
    console.error('50 concurrent ms', Date.now() - t1, rs.at(-1), b.sticky.stats())
    const got: any[] = []
    const t2 = Date.now()
    const sub = await c.sticky.subscribe('news', { onMessage: (m: any) => { got.push(m) } })
    console.error('subscribe ms', Date.now() - t2, got.length)
    expect(got.length).toBe(51)
    await a.sticky.publish('news', { n: 'live' })
    await waitFor(() => got.length === 52, 10_000, 'live')
    console.error('info', await c.sticky.topicInfo('news'))
    await sub.unsubscribe()
  })
})
