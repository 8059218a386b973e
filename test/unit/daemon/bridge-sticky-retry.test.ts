/*
 * A bridged sticky topic whose subscription cannot be committed yet (too few replicas: a network
 * still forming) does not stop the daemon: the bridge starts, keeps trying in the background, and
 * stops trying when the bridge stops. A failure that will not pass still fails the start.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { PassThrough } from 'node:stream'
import { Bridge } from '../../../src/daemon/bridge.js'
import { silentLogger } from '../../../src/logger.js'
import type { Database } from '../../../src/api.js'

function dbFailing (failures: number, code: string): { db: Database, attempts: () => number, unsubscribed: () => number } {
  let attempts = 0
  let unsubscribed = 0
  const db = {
    subscribe: async () => {},
    unsubscribe: async () => {},
    sticky: {
      subscribe: async () => {
        attempts++
        if (attempts <= failures) throw Object.assign(new Error(`attempt ${attempts} failed`), { code })
        return { topic: 'st', lastSeenVersion: 0, unsubscribe: async () => { unsubscribed++ } }
      }
    }
  }
  return { db: db as unknown as Database, attempts: () => attempts, unsubscribed: () => unsubscribed }
}

describe('bridged sticky topics', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('a subscription without quorum is retried in the background (5 s, 10 s, ...) and then unsubscribed at stop', async () => {
    const { db, attempts, unsubscribed } = dbFailing(2, 'ERR_NO_QUORUM')
    const bridge = new Bridge({ db, stdin: new PassThrough(), stdout: new PassThrough(), logger: silentLogger })
    await bridge.start({ realtime: [], sticky: ['st'] }, false) // resolves although the topic is not subscribed
    expect(attempts()).toBe(1)
    await vi.advanceTimersByTimeAsync(5_000)
    expect(attempts()).toBe(2)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(attempts()).toBe(3) // subscribed now
    await vi.advanceTimersByTimeAsync(120_000)
    expect(attempts()).toBe(3)
    await bridge.unsubscribeAll()
    expect(unsubscribed()).toBe(1)
  })

  it('stopping the bridge ends the retries; a failure without a code is retried too', async () => {
    const { db, attempts } = dbFailing(Infinity, undefined as unknown as string)
    const bridge = new Bridge({ db, stdin: new PassThrough(), stdout: new PassThrough(), logger: silentLogger })
    await bridge.start({ realtime: [], sticky: ['st'] }, false)
    await vi.advanceTimersByTimeAsync(5_000)
    expect(attempts()).toBe(2)
    await bridge.unsubscribeAll()
    await vi.advanceTimersByTimeAsync(600_000)
    expect(attempts()).toBe(2)
  })

  it('a failure that will not pass (not authorized) still fails the start', async () => {
    const { db } = dbFailing(1, 'ERR_NOT_AUTHORIZED')
    const bridge = new Bridge({ db, stdin: new PassThrough(), stdout: new PassThrough(), logger: silentLogger })
    await expect(bridge.start({ realtime: [], sticky: ['st'] }, false)).rejects.toMatchObject({ code: 'ERR_NOT_AUTHORIZED' })
  })
})
