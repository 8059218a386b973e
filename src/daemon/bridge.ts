/*
 * stdin/stdout bridge, so shell tools can watch and publish without writing code.
 * Out (stdout), one JSON object per line:
 *   {"type":"event","topic":T,"event":{...}}          a real-time event
 *   {"type":"sticky","topic":T,"message":{...}}       a sticky message (history first, then live)
 *   {"type":"published","topic":T,"sticky":B,"id":I}  a stdin line was published
 *   {"type":"error","line":N,"error":MSG,"code":C}    a stdin line could not be published
 * In (stdin): {"topic":T,"data":ANY,"sticky":B?,"ttlMs":N?} per line. Logs never go to stdout.
 */
import { createInterface, type Interface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import type { Database } from '../database.js'
import type { StickySubscription } from '../sticky/topic/subscription.js'
import type { Logger } from '../logger.js'
import type { DaemonMetrics } from './metrics.js'

/** most stdin lines being published at once; reading pauses above it */
const MAX_IN_FLIGHT = 64

export interface BridgeDeps {
  db: Database
  stdin?: Readable
  stdout: Writable
  metrics?: DaemonMetrics['bridge']
  logger: Logger
}

export class Bridge {
  private readonly stickySubs: StickySubscription[] = []
  private readonly realtimeTopics: string[] = []
  private reader: Interface | undefined
  private readonly inFlight = new Set<Promise<void>>()
  private lineNo = 0

  constructor (private readonly deps: BridgeDeps) {}

  async start (topics: { realtime: string[], sticky: string[] }, readStdin: boolean): Promise<void> {
    const { db } = this.deps
    for (const topic of topics.realtime) {
      await db.subscribe(topic, (event) => { this.write('event', { type: 'event', topic, event }) })
      this.realtimeTopics.push(topic)
    }
    for (const topic of topics.sticky) {
      this.stickySubs.push(await db.sticky.subscribe(topic, {
        onMessage: (message) => { this.write('sticky', { type: 'sticky', topic, message }) }
      }))
    }
    if (readStdin && this.deps.stdin != null) {
      this.reader = createInterface({ input: this.deps.stdin, crlfDelay: Infinity })
      this.reader.on('line', (line) => { this.onLine(line) })
    }
  }

  /** Stops reading stdin: no new publishes. */
  stopReading (): void {
    this.reader?.close()
    this.reader = undefined
  }

  /** Waits for the lines already read to be published (or fail). */
  async drain (): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
  }

  /** Ends the bridged subscriptions (sticky ones leave the topic's subscriber collection). */
  async unsubscribeAll (): Promise<void> {
    await Promise.allSettled([
      ...this.stickySubs.map(async (s) => { await s.unsubscribe() }),
      ...this.realtimeTopics.map(async (t) => { await this.deps.db.unsubscribe(t) })
    ])
    this.stickySubs.length = 0
    this.realtimeTopics.length = 0
  }

  private onLine (raw: string): void {
    const line = ++this.lineNo
    if (raw.trim() === '') return
    const job = this.publishLine(line, raw).finally(() => {
      this.inFlight.delete(job)
      if (this.inFlight.size < MAX_IN_FLIGHT) this.reader?.resume()
    })
    this.inFlight.add(job)
    if (this.inFlight.size >= MAX_IN_FLIGHT) this.reader?.pause()
  }

  private async publishLine (line: number, raw: string): Promise<void> {
    let input: { topic?: unknown, data?: unknown, sticky?: unknown, ttlMs?: unknown }
    try {
      input = JSON.parse(raw)
      if (input == null || typeof input !== 'object' || typeof input.topic !== 'string' || !('data' in input)) throw new Error('expected {"topic": string, "data": any, "sticky"?: boolean, "ttlMs"?: number}')
      if (input.ttlMs != null && (typeof input.ttlMs !== 'number' || !Number.isInteger(input.ttlMs) || input.ttlMs <= 0)) throw new Error('ttlMs must be a positive integer')
    } catch (err) {
      this.fail(line, err, 'invalid')
      return
    }
    const topic = input.topic as string
    try {
      if (input.sticky === true) {
        const r = await this.deps.db.sticky.publish(topic, input.data, { ttlMs: input.ttlMs as number | undefined })
        this.write('published', { type: 'published', topic, sticky: true, id: r.messageId, version: r.version })
      } else {
        const e = await this.deps.db.publish(topic, input.data)
        this.write('published', { type: 'published', topic, sticky: false, id: e.id })
      }
      this.deps.metrics?.linesIn.inc({ result: 'published' })
    } catch (err) {
      this.fail(line, err, 'failed')
    }
  }

  private fail (line: number, err: unknown, result: 'invalid' | 'failed'): void {
    this.deps.metrics?.linesIn.inc({ result })
    const error = err instanceof Error ? err.message : String(err)
    this.deps.logger.warn('stdin line not published', 'line', line, 'error', error)
    this.write('error', { type: 'error', line, error, code: (err as { code?: string }).code })
  }

  private write (kind: string, obj: unknown): void {
    this.deps.metrics?.linesOut.inc({ kind })
    this.deps.stdout.write(JSON.stringify(obj) + '\n')
  }
}
