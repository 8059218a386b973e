/*
 * The network side of subscription renewal: a libp2p protocol per database
 * (`/depin/sticky/renew/1.0.0/<database>`) carrying one JSON request and one JSON response per
 * stream. Requests over 4 KiB, malformed ones and handler failures are answered with an error (or
 * the stream is reset) and counted; nothing here can throw into libp2p.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { decodeJson } from '../core/codec.js'
import { parseRenewalRequest, type RenewalRequest, type RenewalResponse } from '../core/renewal.js'
import type { Logger } from '../../logger.js'

export const RENEWAL_PROTOCOL = '/depin/sticky/renew/1.0.0'
const MAX_BYTES = 4096

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

  constructor (private readonly net: RenewalNetwork, db: string, private readonly serve: (req: RenewalRequest) => Promise<RenewalResponse>, private readonly log: Logger) {
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
