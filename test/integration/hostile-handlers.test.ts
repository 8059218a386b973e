/*
 * Application handlers that misbehave: a `db.on(...)` listener that throws or rejects must be logged
 * and must not become an uncaught exception (which would take the whole process down), and the
 * other listeners and the node itself carry on.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { TestRegistry, bootstrapEntry, newWallet, startNode, waitFor } from '../../support/cluster.js'
import type { Database } from '../../src/index.js'

describe('throwing db.on handlers', () => {
  const open: Database[] = []
  afterAll(async () => { await Promise.allSettled(open.map(async (d) => { await d.disconnect() })) })

  it('logs a throwing or rejecting listener; no uncaught exception, other listeners still called', async () => {
    const uncaught: unknown[] = []
    const onUncaught = (err: unknown): void => { uncaught.push(err) }
    process.on('uncaughtException', onUncaught)
    process.on('unhandledRejection', onUncaught)
    try {
      const registry = new TestRegistry()
      const a = await startNode({ registry, name: 'A' }); open.push(a.db)
      const seen: string[] = []
      a.db.on('peer:connect', () => { throw new Error('application bug (sync)') })
      a.db.on('peer:connect', async () => { throw new Error('application bug (async)') })
      a.db.on('ready', () => { throw new Error('application bug in ready') })
      a.db.on('peer:connect', (p) => { seen.push(p.peerId) })
      const wb = newWallet()
      registry.add(a.wallet.address, wb.address)
      const b = await startNode({ registry, wallet: wb, name: 'B', bootstrap: () => [bootstrapEntry(a.db)] }); open.push(b.db)
      await b.db.waitUntilReady({ signal: AbortSignal.timeout(15_000) })
      await waitFor(() => seen.length === 1, 10_000, 'the well-behaved listener')
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(seen).toEqual([b.db.peerId])
      expect(a.db.isReady()).toBe(true)
      expect(uncaught).toEqual([])
    } finally {
      process.off('uncaughtException', onUncaught)
      process.off('unhandledRejection', onUncaught)
    }
  })
})
