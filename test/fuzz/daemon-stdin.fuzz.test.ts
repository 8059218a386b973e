/*
 * Fuzz surface: daemon stdin lines. The stdin/stdout bridge of a real node reads generated lines
 * (hostile JSON with wrong types and boundary values, topics with control characters, absurd
 * ttlMs, sticky flags of every type, random text, lines over the length cap) with honest lines
 * interleaved. Checked: every non-blank line is answered exactly once on stdout (published or a
 * typed error), every honest line's event reaches the subscribed peer, no crash or unhandled
 * rejection, bounded memory, and an honest line still publishes afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { PassThrough, Writable } from 'node:stream'
import { startCluster, waitFor, waitForSubscribers, type Cluster } from '../../support/cluster.js'
import { Bridge } from '../../src/daemon/bridge.js'
import { silentLogger } from '../../src/logger.js'
import type { Event } from '../../src/index.js'
import { CrashWatch, edgeJson, edgeNumber, edgeString, fuzzParams, fuzzRuns, settledHeapBytes } from './harness.js'

const RUNS = fuzzRuns(300)
const HONEST_EVERY = 100
const MAX_LINE = 16 * 1024

describe('fuzz: daemon stdin lines', () => {
  let cluster: Cluster
  beforeAll(async () => { cluster = await startCluster(2, { extra: { publishTimeoutMs: 100, sticky: { writeQuorum: 2 } } }) })
  afterAll(async () => { await cluster?.stop() })

  it(`${RUNS} hostile stdin lines: each answered once, every honest line delivered`, async () => {
    const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const received: Event[] = []
    await b.subscribe('honest', (e) => { received.push(e) })
    await waitForSubscribers([a], 'testdb_honest', 1)
    const stdin = new PassThrough()
    const answers: Array<Record<string, unknown>> = []
    const stdout = new Writable({ write (chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l !== '') answers.push(JSON.parse(l)); cb() } })
    const bridge = new Bridge({ db: a, stdin, stdout, logger: silentLogger, maxLineBytes: MAX_LINE })
    await bridge.start({ realtime: [], sticky: [] }, true)
    const watch = new CrashWatch().start()
    const heapBefore = await settledHeapBytes()

    const line = fc.oneof(
      { weight: 6, arbitrary: fc.record({ topic: fc.oneof(edgeString(), edgeNumber(), fc.constant(null), fc.constant('t')), data: edgeJson(), sticky: fc.oneof(fc.boolean(), edgeJson()), ttlMs: fc.oneof(edgeNumber(), edgeString()) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)) },
      { weight: 2, arbitrary: edgeJson().map((v) => JSON.stringify(v) ?? 'undefined') },
      { weight: 2, arbitrary: edgeString() },
      { weight: 1, arbitrary: fc.integer({ min: MAX_LINE - 10, max: MAX_LINE * 4 }).map((n) => `{"topic":"t","data":"${'z'.repeat(n)}"}`) }
    ).map((l) => l.replace(/\n/g, ' '))

    let expected = 0
    let n = 0
    const honest: number[] = []
    const send = async (l: string): Promise<void> => {
      if (l.replace(/\r$/, '').trim() !== '') expected++
      stdin.write(l + '\n')
      if (expected - answers.length > 64) await waitFor(() => expected - answers.length <= 8, 60_000, 'the bridge catching up')
    }
    await fc.assert(fc.asyncProperty(line, async (l) => {
      await send(l)
      if (++n % HONEST_EVERY === 0) { honest.push(n); await send(JSON.stringify({ topic: 'honest', data: n })) }
    }), fuzzParams(RUNS))
    honest.push(-1)
    await send(JSON.stringify({ topic: 'honest', data: -1 }))
    await waitFor(() => answers.length >= expected, 60_000, 'an answer for every line')
    await bridge.drain()
    await waitFor(() => honest.every((h) => received.some((e) => e.message === h)), 30_000, 'every honest line delivered')
    bridge.stopReading()
    watch.stop()
    const heapGrowth = await settledHeapBytes() - heapBefore

    expect(answers.length).toBe(expected)
    for (const ans of answers) expect(['published', 'error']).toContain(ans.type)
    expect(watch.problems).toEqual([])
    expect(heapGrowth).toBeLessThan(256 * 1024 * 1024)
    const codes: Record<string, number> = {}
    for (const ans of answers) { const k = ans.type === 'published' ? 'published' : String(ans.code ?? 'invalid'); codes[k] = (codes[k] ?? 0) + 1 }
    console.log(`fuzz daemon stdin: ${n} generated lines (+${honest.length} honest, all delivered), answers ${JSON.stringify(codes)}, heap growth ${(heapGrowth / 1e6).toFixed(1)} MB`)
  }, 30 * 60_000)
})
