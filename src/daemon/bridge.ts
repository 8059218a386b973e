/*
 * stdin/stdout bridge, so shell tools can watch and publish without writing code.
 * Out (stdout), one JSON object per line:
 *   {"type":"event","topic":T,"event":{...}}          a real-time event
 *   {"type":"sticky","topic":T,"message":{...}}       a sticky message (history first, then live)
 *   {"type":"published","topic":T,"sticky":B,"id":I,"line":N}  stdin line N was published
 *   {"type":"error","line":N,"error":MSG,"code":C}    a stdin line could not be published
 * In (stdin): {"topic":T,"data":ANY,"sticky":B?,"ttlMs":N?} per line. Logs never go to stdout.
 * Hostile pipes: a stdin line longer than `maxLineBytes` is skipped without being buffered and
 * answered with an ERR_LINE_TOO_LONG error line. When the stdout reader is slow, stdin is paused
 * (its results could not be reported) and event/sticky lines beyond `maxStdoutBacklogBytes` of
 * unread output are dropped and counted; when the reader is gone (EPIPE), output is dropped and
 * counted while publishing goes on: a closed pipe never crashes the node or loses accepted lines.
 */
import type { Readable, Writable } from 'node:stream'
import type { Database } from '../api.js'
import type { StickySubscription } from '../sticky/topic/subscription.js'
import type { Logger } from '../logger.js'
import type { DaemonMetrics } from './metrics.js'
import { ResumeStore } from './resume-store.js'
import { sleep } from '../abort.js'

/**
 * Sticky subscription failures that trying again cannot fix (configuration, authorization); any
 * other failure (too few replicas for now, a commit timing out or refused under load, a recovering
 * topic) is retried. Seen ending daemons in bench:scale's 30-node run before: ERR_NO_QUORUM, and a
 * commit refused with "head timestamps in the future or out of order".
 */
const PERMANENT = new Set(['ERR_NOT_AUTHORIZED', 'ERR_INVALID_TOPIC', 'ERR_INVALID_CONFIG', 'ERR_ALREADY_SUBSCRIBED', 'ERR_TOPIC_COLLISION', 'ERR_DISCONNECTED', 'ERR_ABORTED'])
const retryable = (err: unknown): boolean => !PERMANENT.has((err as { code?: string } | undefined)?.code ?? '')

/** most stdin lines being published at once; reading pauses above it */
const MAX_IN_FLIGHT = 64
/** @default for BridgeDeps.maxLineBytes */
export const DEFAULT_MAX_LINE_BYTES = 2 * 1_048_576 + 4096
/** @default for BridgeDeps.maxStdoutBacklogBytes */
export const DEFAULT_MAX_STDOUT_BACKLOG_BYTES = 16 * 1_048_576

export class LineTooLongError extends Error {
  readonly code = 'ERR_LINE_TOO_LONG'
  constructor (limit: number) { super(`line longer than ${limit} bytes; skipped`) }
}

export interface BridgeDeps {
  db: Database
  stdin?: Readable
  stdout: Writable
  metrics?: DaemonMetrics['bridge']
  logger: Logger
  /** longest stdin line read; longer ones are skipped and answered with an error line */
  maxLineBytes?: number
  /** unread stdout bytes above which event and sticky lines are dropped (counted) */
  maxStdoutBacklogBytes?: number
}

export class Bridge {
  private readonly stickySubs: StickySubscription[] = []
  private readonly realtimeTopics: string[] = []
  private reader: LineReader | undefined
  private readonly inFlight = new Set<Promise<void>>()
  private lineNo = 0
  /** stdout lines not written: its reader is gone, or too far behind */
  readonly stdoutStats = { dropped: 0, closed: false }
  private stdoutBlocked = false
  private readonly maxBacklog: number
  private resumeStore: ResumeStore | undefined
  /** sticky topics still being subscribed in the background (see start) */
  private readonly retries: Array<Promise<void>> = []
  private readonly stopRetries = new AbortController()

  constructor (private readonly deps: BridgeDeps) {
    this.maxBacklog = deps.maxStdoutBacklogBytes ?? DEFAULT_MAX_STDOUT_BACKLOG_BYTES
    deps.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (this.stdoutStats.closed) return
      this.stdoutStats.closed = true
      this.resumeIfRoom()
      this.deps.logger.warn('stdout is closed; output is dropped from now on, publishing goes on', 'error', err.code ?? err.message)
    })
    deps.stdout.on('drain', () => { this.stdoutBlocked = false; this.resumeIfRoom() })
  }

  async start (topics: { realtime: string[], sticky: string[], stickyStateFile?: string }, readStdin: boolean): Promise<void> {
    const { db } = this.deps
    const resume = topics.stickyStateFile != null
      ? new ResumeStore(topics.stickyStateFile, () => Object.fromEntries(this.stickySubs.map((s) => [s.topic, s.lastSeenVersion])))
      : undefined
    this.resumeStore = resume
    for (const topic of topics.realtime) {
      await db.subscribe(topic, (event) => { this.write('event', { type: 'event', topic, event }) })
      this.realtimeTopics.push(topic)
    }
    for (const topic of topics.sticky) {
      try {
        await this.subscribeSticky(topic, resume)
      } catch (err) {
        // A subscription is a sticky commit: while too few replicas answer (a network still
        // forming, 30 daemons starting on two cores) it fails after the commit deadline. That is no
        // reason to exit (it did: exit code 1, one daemon after another in bench:scale's 30-node
        // run); the topic is subscribed in the background instead, retrying until it works.
        if (!retryable(err)) throw err
        this.deps.logger.warn('sticky topic not subscribed yet; retrying in the background', 'topic', topic, 'error', (err as Error).message)
        this.retries.push(this.retrySticky(topic, resume))
      }
    }
    if (readStdin && this.deps.stdin != null) {
      this.reader = new LineReader(this.deps.stdin, this.deps.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
        (line) => { this.onLine(line) },
        (limit) => { this.fail(++this.lineNo, new LineTooLongError(limit), 'invalid') })
    }
  }

  private async subscribeSticky (topic: string, resume: ResumeStore | undefined): Promise<void> {
    const lastSeenVersion = resume?.versionOf(topic) ?? null
    if (lastSeenVersion != null) this.deps.logger.info('resuming sticky topic', 'topic', topic, 'afterVersion', lastSeenVersion)
    this.stickySubs.push(await this.deps.db.sticky.subscribe(topic, {
      receiveHistory: true,
      lastSeenVersion,
      onMessage: (message) => {
        this.write('sticky', { type: 'sticky', topic, message })
        resume?.touch()
      }
    }))
  }

  /** Subscribes `topic` again every few seconds (5 s, doubling to 60 s) until it works or the bridge stops. */
  private async retrySticky (topic: string, resume: ResumeStore | undefined): Promise<void> {
    for (let delay = 5_000; ; delay = Math.min(delay * 2, 60_000)) {
      if (!(await sleep(delay, this.stopRetries.signal))) return
      try {
        await this.subscribeSticky(topic, resume)
        this.deps.logger.info('sticky topic subscribed', 'topic', topic)
        return
      } catch (err) {
        if (this.stopRetries.signal.aborted) return
        const retry = retryable(err)
        this.deps.logger[retry ? 'warn' : 'error']('sticky topic still not subscribed', 'topic', topic, 'error', (err as Error).message, 'retrying', retry)
        if (!retry) return
      }
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
    this.stopRetries.abort()
    await Promise.allSettled(this.retries)
    this.saveResume()
    await Promise.allSettled([
      ...this.stickySubs.map(async (s) => { await s.unsubscribe() }),
      ...this.realtimeTopics.map(async (t) => { await this.deps.db.unsubscribe(t) })
    ])
    this.stickySubs.length = 0
    this.realtimeTopics.length = 0
  }

  /** Records each sticky topic's lastSeenVersion now (topics.stickyStateFile). */
  saveResume (): void {
    try {
      this.resumeStore?.save()
    } catch (err) {
      this.deps.logger.warn('could not save the sticky topics\' versions', 'file', this.resumeStore?.path, 'error', err)
    }
  }

  private onLine (raw: string): void {
    const line = ++this.lineNo
    if (raw.trim() === '') return
    const job = this.publishLine(line, raw).finally(() => {
      this.inFlight.delete(job)
      this.resumeIfRoom()
    })
    this.inFlight.add(job)
    if (this.inFlight.size >= MAX_IN_FLIGHT) this.reader?.pause()
  }

  /** stdin is read while few lines are in flight and stdout keeps up (or is gone for good) */
  private resumeIfRoom (): void {
    if (this.inFlight.size < MAX_IN_FLIGHT && (!this.stdoutBlocked || this.stdoutStats.closed)) this.reader?.resume()
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
        this.write('published', { type: 'published', topic, sticky: true, id: r.messageId, version: r.version, line })
      } else {
        const e = await this.deps.db.publish(topic, input.data)
        this.write('published', { type: 'published', topic, sticky: false, id: e.id, line })
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
    const { stdout } = this.deps
    // answers to stdin lines are few (stdin pauses while stdout is behind); events are not
    const overBacklog = (kind === 'event' || kind === 'sticky') && stdout.writableLength >= this.maxBacklog
    if (this.stdoutStats.closed || stdout.destroyed || stdout.writableEnded || overBacklog) {
      if (this.stdoutStats.dropped++ === 0 || this.stdoutStats.dropped % 10_000 === 0) {
        this.deps.logger.warn('stdout line dropped', 'reason', overBacklog ? 'stdout reader too slow' : 'stdout closed', 'dropped', this.stdoutStats.dropped)
      }
      this.deps.metrics?.linesDropped.inc({ reason: overBacklog ? 'backlog' : 'closed' })
      return
    }
    this.deps.metrics?.linesOut.inc({ kind })
    if (!stdout.write(JSON.stringify(obj) + '\n') && !this.stdoutBlocked) {
      this.stdoutBlocked = true
      this.reader?.pause()
    }
  }
}

/**
 * Splits a byte stream into lines without ever holding more than `maxLineBytes` of one line: the rest
 * of a longer line is skipped up to its newline and reported once through `onTooLong`.
 */
class LineReader {
  private parts: Buffer[] = []
  private size = 0
  private skipping = false
  private closed = false
  private readonly onData = (chunk: Buffer | string): void => { this.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk) }
  private readonly onEnd = (): void => { if (!this.skipping && this.size > 0) this.emitLine() }

  constructor (private readonly input: Readable, private readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void, private readonly onTooLong: (limit: number) => void) {
    input.on('data', this.onData)
    input.on('end', this.onEnd)
  }

  pause (): void { if (!this.closed) this.input.pause() }
  resume (): void { if (!this.closed) this.input.resume() }

  close (): void {
    this.closed = true
    this.input.off('data', this.onData)
    this.input.off('end', this.onEnd)
    this.input.pause()
    this.parts = []
  }

  private push (chunk: Buffer): void {
    let at = 0
    while (at < chunk.length && !this.closed) {
      const nl = chunk.indexOf(10, at)
      const end = nl === -1 ? chunk.length : nl
      if (!this.skipping) {
        if (this.size + (end - at) > this.maxLineBytes) {
          this.skipping = true
          this.parts = []
          this.size = 0
          this.onTooLong(this.maxLineBytes)
        } else {
          this.parts.push(chunk.subarray(at, end))
          this.size += end - at
        }
      }
      if (nl === -1) return
      if (this.skipping) this.skipping = false
      else this.emitLine()
      at = nl + 1
    }
  }

  private emitLine (): void {
    let line = Buffer.concat(this.parts, this.size).toString('utf8')
    this.parts = []
    this.size = 0
    if (line.endsWith('\r')) line = line.slice(0, -1)
    this.onLine(line)
  }
}
