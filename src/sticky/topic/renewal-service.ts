/*
 * Subscription renewal over the network. `RenewalService` is the protocol: one per database
 * (`/depin/sticky/renew/1.0.0/<database>`) carrying one JSON request and one JSON response per
 * stream. Requests over 4 KiB, malformed ones and handler failures are answered with an error (or
 * the stream is reset) and counted; nothing here can throw into libp2p. A stream not answered within
 * `serveTimeoutMs` (a client that never finishes its request) is reset and counted. `Renewals` (below) is the
 * client and the serving logic on top of it; the checks themselves are pure, in core/renewal.ts.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { decodeJson } from '../core/codec.js'
import { checkRenewal, parseRenewalRequest, renewalSignedText, ReplayGuard, type RenewalRequest, type RenewalResponse } from '../core/renewal.js'
import type { ComponentLogger, Logger } from '../../logger.js'
import { deadlineSignal } from '../../abort.js'
import { peerIdToWallet } from '../../identity.js'
import { validateTopicName } from '../../realtime/realtime.js'
import { RenewalRejectedError } from '../core/errors.js'
import { RateLimiter } from '../core/rate-limit.js'
import type { Signer } from '../core/signing.js'
import type { RecordPolicy } from '../core/validation.js'
import type { StickyOptions } from '../options.js'
import type { StickyStore } from '../replica/store.js'
import type { TopicCommitter } from './committer.js'
import type { StateLoader } from './state-loader.js'

export const RENEWAL_PROTOCOL = '/depin/sticky/renew/1.0.0'
const MAX_BYTES = 4096
/** a renewal stream is reset when its request and answer take longer than this */
export const RENEWAL_SERVE_TIMEOUT_MS = 10_000

/** What the service needs from libp2p. */
export interface RenewalNetwork {
  handle(protocol: string, handler: (data: { stream: Stream }) => void, options?: { runOnLimitedConnection?: boolean }): Promise<void>
  unhandle(protocol: string): Promise<void>
  dialProtocol(peer: PeerId, protocol: string, options?: { signal?: AbortSignal }): Promise<Stream>
}

export class RenewalService {
  readonly protocol: string
  rejected = 0
  malformed = 0
  timedOut = 0

  constructor (private readonly net: RenewalNetwork, db: string, private readonly serve: (req: RenewalRequest) => Promise<RenewalResponse>, private readonly log: Logger,
    private readonly serveTimeoutMs = RENEWAL_SERVE_TIMEOUT_MS) {
    this.protocol = `${RENEWAL_PROTOCOL}/${db}`
  }

  async start (): Promise<void> {
    await this.net.handle(this.protocol, ({ stream }) => { void this.onStream(stream) }, { runOnLimitedConnection: true })
  }

  async stop (): Promise<void> {
    await this.net.unhandle(this.protocol).catch(() => {})
  }

  /** Sends a request to `peer` and returns its answer. */
  async send (peer: PeerId, req: RenewalRequest, signal: AbortSignal): Promise<RenewalResponse> {
    const stream = await this.net.dialProtocol(peer, this.protocol, { signal })
    try {
      const answer = decodeJson(await exchange(stream, new TextEncoder().encode(JSON.stringify(req)))) as RenewalResponse | undefined
      if (answer == null || typeof answer.ok !== 'boolean') throw new Error('malformed renewal response')
      return answer
    } finally {
      await stream.close().catch(() => { stream.abort(new Error('close failed')) })
    }
  }

  private async onStream (stream: Stream): Promise<void> {
    let answer: RenewalResponse
    const timer = setTimeout(() => {
      this.timedOut++
      stream.abort(new Error(`renewal request not answered within ${this.serveTimeoutMs} ms`))
    }, this.serveTimeoutMs)
    try {
      const bytes = await readAll(stream)
      const req = bytes == null ? 'request too large' : parseRenewalRequest(decodeJson(bytes))
      if (typeof req === 'string') {
        this.malformed++
        this.log.debug('malformed renewal request dropped', 'reason', req)
        answer = { ok: false, error: `malformed request: ${req}` }
      } else {
        answer = await this.serve(req)
        if (!answer.ok) this.rejected++
      }
      await stream.sink([new TextEncoder().encode(JSON.stringify(answer))])
    } catch (err) {
      this.log.debug('renewal stream failed', 'error', err)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      clearTimeout(timer)
    }
  }
}

async function exchange (stream: Stream, request: Uint8Array): Promise<Uint8Array> {
  await stream.sink([request])
  const bytes = await readAll(stream)
  if (bytes == null) throw new Error('renewal response too large')
  return bytes
}

/** Reads the stream to its end; undefined when it exceeds MAX_BYTES. */
async function readAll (stream: Stream): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of stream.source) {
    const bytes = chunk.subarray()
    size += bytes.length
    if (size > MAX_BYTES) return undefined
    chunks.push(bytes)
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) { out.set(c, at); at += c.length }
  return out
}

export interface RenewalsDeps {
  db: string
  net: RenewalNetwork
  selfPeerId: string
  signer: Signer
  policy: RecordPolicy
  store: Pick<StickyStore, 'replicas'>
  loader: Pick<StateLoader, 'currentState'>
  /** the topic's committer (created on first use) */
  committer: (topic: string) => TopicCommitter
  /** throws DisconnectedError once the sticky layer is closed */
  assertOpen: () => void
  /** true once the sticky layer started closing: renewals are no longer served */
  isClosing: () => boolean
  logger: ComponentLogger
}

/**
 * Subscription renewal, both sides. Client: signs a renewal and asks a replica of the topic to
 * commit it, serving it locally when no replica answers. Server: verifies a request (see
 * renewal.ts: age, signature, replay, registry, TTL), rate-limits per client, checks the client is a
 * live subscriber and commits the new expiry through the topic's committer.
 */
export class Renewals {
  readonly service: RenewalService
  private readonly replay = new ReplayGuard()
  /** renewal requests served per client: generous for honest clients (one per TTL), a wall for floods */
  private readonly limiter = new RateLimiter(2, 20)

  constructor (private readonly deps: RenewalsDeps, private readonly options: Pick<StickyOptions, 'maxSubscriptionTtlMs' | 'commitDeadlineMs'>) {
    this.service = new RenewalService(deps.net, deps.db, async (req) => await this.serve(req), deps.logger.child('component', 'sticky-renewal'))
  }

  get rejected (): number { return this.service.rejected }
  get malformed (): number { return this.service.malformed }

  async start (): Promise<void> { await this.service.start() }
  async stop (): Promise<void> { await this.service.stop() }

  /** Signs a renewal and asks a replica of the topic to commit it; serves it here when no replica answers. */
  async request (topic: string, ttlMs: number): Promise<{ expiresAt: number }> {
    this.deps.assertOpen()
    const timestamp = Date.now()
    const client = this.deps.selfPeerId
    const sig = Buffer.from(await this.deps.signer.sign(new TextEncoder().encode(renewalSignedText(this.deps.db, topic, client, timestamp, ttlMs)))).toString('base64')
    const req: RenewalRequest = { v: 1, topic, client, timestamp, ttlMs, sig }
    const peers = (await this.deps.store.replicas(topic).catch(() => [])).slice(0, 3)
    let answer: RenewalResponse | undefined
    for (const peer of peers) {
      try {
        answer = await this.service.send(peer, req, deadlineSignal(this.options.commitDeadlineMs, 'renewal request timed out'))
        break
      } catch (err) {
        this.deps.logger.debug('renewal request to replica failed; trying the next', 'peer', peer.toString(), 'error', err)
      }
    }
    answer ??= await this.serve(req)
    if (!answer.ok) throw new RenewalRejectedError(topic, answer.error)
    return { expiresAt: answer.expiresAt }
  }

  /** Serving side: verifies a renewal (see renewal.ts) and commits the new expiry. */
  async serve (req: RenewalRequest): Promise<RenewalResponse> {
    if (this.deps.isClosing()) return { ok: false, error: 'serving node is stopping' }
    const now = Date.now()
    const checked = checkRenewal(req, {
      db: this.deps.db,
      now,
      walletOf: (peerId) => peerIdToWallet(peerId),
      lastAccepted: (topic, client) => this.replay.last(topic, client),
      isAuthorized: (wallet) => this.deps.policy.isAuthorized(this.deps.db, wallet),
      maxTtlMs: this.options.maxSubscriptionTtlMs
    })
    if ('error' in checked) {
      this.deps.logger.debug('renewal refused', 'topic', req.topic, 'client', req.client, 'reason', checked.error)
      return { ok: false, error: checked.error }
    }
    // only now, with the signature verified: forged requests in a client's name cannot use up its quota
    if (this.limiter.take(req.client) > 0) return { ok: false, error: 'rate limited' }
    this.replay.accept(req.topic, req.client, req.timestamp, now)
    try {
      validateTopicName(req.topic)
      const { merged } = await this.deps.loader.currentState(req.topic, now)
      const existing = merged.subs.get(checked.wallet)
      if (existing == null || existing.expiresAt <= now) return { ok: false, error: 'not a subscriber of this topic' }
      const expiresAt = now + req.ttlMs
      const version = await this.deps.committer(req.topic).updateSubscriber({ ...existing, expiresAt, updatedAt: now })
      return { ok: true, expiresAt, version }
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) }
    }
  }
}
