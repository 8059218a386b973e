/*
 * The commit deadline bounds a whole commit, not only the gaps between attempts: a read of the
 * heads that comes back after the deadline ends the commit there (ERR_STICKY_COMMIT_TIMEOUT), and
 * nothing is written. A queued commit whose wallet leaves the registry fails with ERR_NOT_AUTHORIZED
 * at its next step instead of retrying until the deadline. Each publish has its own deadline from
 * its call: one queued behind a batch that waits out its deadline is answered within its own, not
 * after a second full wait. Fake clock; a store whose replicas answer slowly.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { TopicCommitter, type CommitStore, type CommitterDeps } from '../../../../src/sticky/topic/committer.js'
import { StateLoader } from '../../../../src/sticky/topic/state-loader.js'
import { silentLogger } from '../../../../src/logger.js'

/** A committer on a store that records writes; `readHeads` and the deps given replace the defaults. */
function committerWith (readHeads: () => Promise<unknown[]>, deps: Partial<CommitterDeps>, writeQuorum: number): { committer: TopicCommitter, writes: string[] } {
  const writes: string[] = []
  const store = {
    readHeads,
    ensureReplicated: async () => { writes.push('ensureReplicated') },
    prepareBlob: () => { throw new Error('not reached') },
    putCommit: async () => { writes.push('putCommit') },
    confirmBlobs: async () => true,
    replicas: async () => []
  } as unknown as CommitStore
  const committer = new TopicCommitter({
    store,
    loader: new StateLoader(store as any),
    signer: { wallet: 'W' } as any,
    db: 'db',
    topic: 't',
    quorum: async () => ({ need: 1, have: 1 }),
    recover: async () => undefined,
    history: { walk: async () => { throw new Error('not reached') } },
    logger: silentLogger,
    ...deps
  }, { flushDelayMs: 2, maxBatch: 1000, commitDeadlineMs: 60_000, maxSubscribers: 1000, gcGraceMs: 3_600_000, recoveryAfterMs: 15_000, writeQuorum })
  return { committer, writes }
}

describe('commit deadline', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('a head read answered after the deadline fails the commit at once, before anything is written', async () => {
    const { committer, writes } = committerWith(async () => { await new Promise((resolve) => setTimeout(resolve, 61_000)); return [] }, {}, 1)
    const started = Date.now()
    const outcome = committer.publish({ hello: 1 }, 60_000).then(() => 'acknowledged', (err: { code?: string }) => err.code)
    await vi.advanceTimersByTimeAsync(70_000)
    expect(await outcome).toBe('ERR_STICKY_COMMIT_TIMEOUT')
    expect(writes).toEqual([])
    expect(Date.now() - started).toBeLessThanOrEqual(70_000)
  })

  it('a commit waiting for its quorum fails with ERR_NOT_AUTHORIZED as soon as the wallet leaves the registry', async () => {
    let authorized = true
    const { committer, writes } = committerWith(async () => [], {
      quorum: async () => ({ need: 3, have: 1 }), // peers gone: the commit waits for replicas
      writerAuthorized: () => authorized
    }, 3)
    const started = Date.now()
    let settledAt = 0
    const outcome = committer.publish({ hello: 1 }, 60_000).then(() => 'acknowledged', (err: { code?: string }) => err.code).finally(() => { settledAt = Date.now() })
    await vi.advanceTimersByTimeAsync(5_000)
    expect(settledAt).toBe(0) // still waiting for its quorum
    authorized = false
    await vi.advanceTimersByTimeAsync(5_000)
    expect(await outcome).toBe('ERR_NOT_AUTHORIZED')
    expect(settledAt - started).toBeLessThan(10_000)
    expect(writes).toEqual([])
  })

  it('a publish queued behind a failing batch is answered within its own deadline, not after a second one', async () => {
    const { committer, writes } = committerWith(async () => [], { quorum: async () => ({ need: 3, have: 1 }) }, 3)
    const started = Date.now()
    const settled: Record<string, { at: number, code?: string }> = {}
    const track = (name: string, p: Promise<unknown>): void => {
      void p.then(() => { settled[name] = { at: Date.now() - started } }, (err: { code?: string }) => { settled[name] = { at: Date.now() - started, code: err.code } })
    }
    track('first', committer.publish({ n: 1 }, 60_000))
    await vi.advanceTimersByTimeAsync(30_000)
    track('second', committer.publish({ n: 2 }, 60_000)) // queued while the first batch waits for its quorum
    await vi.advanceTimersByTimeAsync(31_000)
    expect(settled.first?.code).toBe('ERR_NO_QUORUM')
    expect(settled.first!.at).toBeLessThanOrEqual(61_000)
    expect(settled.second).toBeUndefined() // not failed with the first: it still has time
    await vi.advanceTimersByTimeAsync(60_000)
    expect(settled.second?.code).toBe('ERR_NO_QUORUM')
    expect(settled.second!.at).toBeGreaterThanOrEqual(90_000)
    expect(settled.second!.at).toBeLessThanOrEqual(91_000) // its own call + 60 s (was 120 s: a second full wait)
    expect(writes).toEqual([])
  })
})
