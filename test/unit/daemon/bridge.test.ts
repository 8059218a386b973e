/*
 * The stdin/stdout bridge against hostile pipes: a reader that closed its end (EPIPE), a reader that
 * stops reading (backpressure), a writer that sends one endless line. The database behind the bridge
 * is a small stand-in that records what was published (the bridge's own logic is under test here; the
 * daemon integration test runs the bridge on real nodes).
 */
import { describe, expect, it } from 'vitest'
import { PassThrough, Writable } from 'node:stream'
import { Bridge } from '../../../src/daemon/bridge.js'
import { silentLogger } from '../../../src/logger.js'
import type { Database } from '../../../src/api.js'

function fakeDb () {
  const handlers = new Map<string, (e: unknown) => void>()
  const published: unknown[] = []
  const db = {
    subscribe: async (topic: string, h: (e: unknown) => void) => { handlers.set(topic, h) },
    unsubscribe: async (topic: string) => { handlers.delete(topic) },
    publish: async (topic: string, data: unknown) => { published.push({ topic, data }); return { id: `id-${published.length}`, fromPeerId: 'me', message: data, timestamp: 1 } },
    sticky: {
      subscribe: async () => ({ unsubscribe: async () => {} }),
      publish: async (topic: string, data: unknown) => { published.push({ topic, data, sticky: true }); return { messageId: `s-${published.length}`, version: 1, publisherSequence: 1 } }
    }
  }
  return { db: db as unknown as Database, handlers, published }
}

const tick = async (ms = 20): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

describe('daemon bridge against hostile pipes', () => {
  it('survives stdout closing under it (EPIPE): no crash, stdin lines still get published', async () => {
    const { db, handlers, published } = fakeDb()
    const stdin = new PassThrough()
    const stdout = new Writable({ write (_chunk, _enc, cb) { cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })) } })
    const bridge = new Bridge({ db, stdin, stdout, logger: silentLogger })
    await bridge.start({ realtime: ['t'], sticky: [] }, true)
    handlers.get('t')!({ id: 'x', message: 1 })   // first write fails with EPIPE
    await tick()
    handlers.get('t')!({ id: 'y', message: 2 })   // and later ones must not throw either
    stdin.write('{"topic":"t","data":1}\n{"topic":"t","data":2,"sticky":true}\n')
    await tick()
    await bridge.drain()
    expect(published).toHaveLength(2)
    expect(bridge.stdoutStats.dropped).toBeGreaterThanOrEqual(3)
    bridge.stopReading()
  })

  it('does not queue without bound when stdout stops reading: events beyond the backlog are dropped and counted, stdin pauses', async () => {
    const { db, handlers, published } = fakeDb()
    const stdin = new PassThrough()
    const stalled = new Writable({ highWaterMark: 1024, write () { /* never calls back: the reader stopped reading */ } })
    const bridge = new Bridge({ db, stdin, stdout: stalled, logger: silentLogger, maxStdoutBacklogBytes: 64 * 1024 })
    await bridge.start({ realtime: ['t'], sticky: [] }, true)
    const big = 'x'.repeat(1000)
    for (let i = 0; i < 10_000; i++) handlers.get('t')!({ id: String(i), message: big })
    expect(stalled.writableLength).toBeLessThan(200 * 1024)
    expect(bridge.stdoutStats.dropped).toBeGreaterThan(9_000)
    // stdin is not read while stdout is stalled (its results could not be reported)
    stdin.write('{"topic":"t","data":"later"}\n')
    await tick(50)
    expect(published).toHaveLength(0)
    bridge.stopReading()
  })

  it('refuses an endless stdin line without buffering it, and reads the lines after it', async () => {
    const { db, published } = fakeDb()
    const stdin = new PassThrough()
    const out: string[] = []
    const stdout = new Writable({ write (chunk, _enc, cb) { out.push(String(chunk)); cb() } })
    const bridge = new Bridge({ db, stdin, stdout, logger: silentLogger, maxLineBytes: 4096 })
    await bridge.start({ realtime: [], sticky: [] }, true)
    const before = process.memoryUsage().heapUsed
    const chunk = '{"topic":"t","data":"' + 'y'.repeat(1 << 20)
    for (let i = 0; i < 64; i++) { stdin.write(chunk); await tick(1) }   // 64 MiB without a newline
    const grown = process.memoryUsage().heapUsed - before
    stdin.write('"}\n{"topic":"t","data":"ok"}\n')
    await tick(50)
    await bridge.drain()
    expect(published).toEqual([{ topic: 't', data: 'ok' }])
    const errors = out.map((l) => JSON.parse(l)).filter((l) => l.type === 'error')
    expect(errors).toEqual([expect.objectContaining({ line: 1, code: 'ERR_LINE_TOO_LONG' })])
    expect(grown).toBeLessThan(32 * 1024 * 1024)
    bridge.stopReading()
  })
})
