/*
 * The replica protocol: how a node reads and writes sticky records on a topic's replicas.
 * kad-dht's PUT_VALUE / GET_VALUE cost one stream per record, and every answer carries up to 20
 * "closer peers" that the asker feeds through its peer store and routing table; profiling a
 * 10-writer benchmark showed that bookkeeping taking more CPU than the sticky protocol itself.
 * This protocol carries many records per stream and nothing else:
 *
 *   request:  lp-frame JSON {"op":"put"|"get","n":N}, then N items: put = key frame + value frame,
 *             get = key frame
 *   response: put = one lp-frame JSON {"r":[null | "refusal reason", ...]} (null = validated and
 *             stored); get = N frames, the stored value or an empty frame when absent
 *
 * Records are validated with the same validator kad-dht runs and stored exactly where and how
 * kad-dht stores them (`/dht/record/<base32 key>` through the merging datastore), so kad-dht keeps
 * serving them to anyone. Only sticky keys are served. A malformed request is answered with an
 * error or the stream is reset, counted and logged at debug; nothing here can throw into libp2p.
 * What a peer can make this node hold is bounded: MAX_INBOUND_STREAMS streams per connection, each
 * served within SERVE_TIMEOUT_MS, and every frame read (and every answer slice) reserved in the
 * process's inbound byte budget first (inbound-budget.ts); a stream that would pass it is reset.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { lpStream } from 'it-length-prefixed-stream'
import type { Datastore } from 'interface-datastore'
import { readStoredRecord, writeStoredRecord } from '../../host/internals.js'
import { decodeJson } from '../core/codec.js'
import { parseKey } from '../core/keys.js'
import { MAX_RECORD_BYTES } from '../core/validation.js'
import type { Logger } from '../../logger.js'
import { deadlineSignal } from '../../abort.js'
import { inboundBudget, OverBudgetError, StreamHold, type InboundBudget } from './inbound-budget.js'

export const REPLICA_PROTOCOL = '/depin/sticky/replica/1.0.0'
/** items one request may carry */
export const MAX_ITEMS = 256
/** largest frame: a record plus room for its key */
export const MAX_FRAME_BYTES = MAX_RECORD_BYTES + 1024
/**
 * largest key frame: a sticky key is `/dps/<database, at most 64 characters>/<h|b>/<22-character id>`
 * (under 100 bytes). A get request keeps its keys until it answers, so without this a request of
 * MAX_ITEMS key frames of MAX_FRAME_BYTES each held about 135 MB per stream.
 */
export const MAX_KEY_BYTES = 512
/** a get answer is written in slices of about this many bytes (each held until written) */
const WRITE_SLICE_BYTES = 256 * 1024
/** time limit for serving one request */
const SERVE_TIMEOUT_MS = 15_000
/**
 * inbound replica streams one connection may have open at once (libp2p resets the ones past it). A
 * client coalesces its calls to one peer into few requests and keeps at most MAX_REQUESTS_PER_PEER
 * open (replica-network.ts); the margin covers streams still closing.
 */
export const MAX_INBOUND_STREAMS = 32
/** requests a client keeps open to one peer at once; more wait their turn */
export const MAX_REQUESTS_PER_PEER = 16

export type ReplicaOp = 'put' | 'get'

/** What the service needs from libp2p. */
export interface ReplicaProtocolNetwork {
  handle(protocol: string, handler: (data: { stream: Stream, connection?: { remotePeer: PeerId } }) => void, options?: { maxInboundStreams?: number, maxOutboundStreams?: number }): Promise<void>
  unhandle(protocol: string): Promise<void>
  dialProtocol(peer: PeerId, protocol: string, options?: { signal?: AbortSignal }): Promise<Stream>
}

/** `refused` counts refused records and requests refused as over the inbound budget (also in `overBudget`) */
export interface ReplicaServiceStats { putRequests: number, getRequests: number, stored: number, refused: number, served: number, malformed: number, overQuota: number, overBudget: number }

/** A replica's answer refusing a record (validation failed there): not a network failure. */
export class RecordRefusedError extends Error {
  readonly code = 'ERR_RECORD_REFUSED'
}

const encoder = new TextEncoder()


/** Serves the replica protocol for every database this host has open. */
export class ReplicaService {
  readonly stats: ReplicaServiceStats = { putRequests: 0, getRequests: 0, stored: 0, refused: 0, served: 0, malformed: 0, overQuota: 0, overBudget: 0 }

  constructor (private readonly deps: {
    net: ReplicaProtocolNetwork
    datastore: Datastore
    /** the sticky record validator (throws when a record must be refused) */
    validate: (key: Uint8Array, value: Uint8Array) => Promise<void>
    /** this node serves the database */
    servesDatabase: (db: string) => boolean
    logger: Logger
    /** the inbound byte budget (default: the process's) */
    budget?: InboundBudget
  }) {}

  async start (): Promise<void> {
    await this.deps.net.handle(REPLICA_PROTOCOL, ({ stream, connection }) => { void this.onStream(stream, connection?.remotePeer.toString() ?? 'unknown') }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: 256 })
  }

  async stop (): Promise<void> {
    await this.deps.net.unhandle(REPLICA_PROTOCOL).catch(() => {})
  }

  private async onStream (stream: Stream, from: string): Promise<void> {
    const signal = deadlineSignal(SERVE_TIMEOUT_MS, 'replica request took too long')
    const hold = new StreamHold(this.deps.budget ?? inboundBudget, from)
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES, lengthDecoder: hold.lengthDecoder(MAX_FRAME_BYTES) })
    const read = async (): Promise<Uint8Array> => (await lp.read({ signal })).subarray()
    try {
      const frame = await read()
      const header = parseHeader(decodeJson(frame))
      hold.give(frame.length)
      if (typeof header === 'string') throw new MalformedRequest(header)
      if (header.op === 'put') {
        this.stats.putRequests++
        const results: Array<string | null> = []
        for (let i = 0; i < header.n; i++) {
          const key = readKey(await read())
          const value = await read()
          results.push(await this.store(key, value, from))
          hold.give(key.length + value.length)
        }
        await lp.write(encoder.encode(JSON.stringify({ r: results })), { signal })
      } else {
        this.stats.getRequests++
        const keys: Uint8Array[] = []
        for (let i = 0; i < header.n; i++) keys.push(readKey(await read()))
        // answered in slices, so a request for many large pages is not one buffer; each slice is
        // reserved in the budget until written (the muxer may still hold one slice while sending)
        let slice: Uint8Array[] = []
        let bytes = 0
        for (const key of keys) {
          const value = await this.load(key)
          hold.take(value.length)
          slice.push(value)
          bytes += value.length
          if (bytes >= WRITE_SLICE_BYTES) { await lp.writeV(slice, { signal }); hold.give(bytes); slice = []; bytes = 0 }
        }
        if (slice.length > 0) await lp.writeV(slice, { signal })
      }
      hold.releaseAll()
      await stream.close({ signal })
    } catch (err) {
      if (err instanceof MalformedRequest) this.stats.malformed++
      if (err instanceof OverBudgetError) { this.stats.overBudget++; this.stats.refused++ }
      this.deps.logger.debug('replica request failed', 'error', err)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      hold.releaseAll()
    }
  }

  /** Validates and stores one record, charged to the sending peer's storage quota; null when stored, else why it was refused. */
  private async store (key: Uint8Array, value: Uint8Array, from: string): Promise<string | null> {
    try {
      await this.deps.validate(key, value)
      await writeStoredRecord(this.deps.datastore, key, value, { owner: from })
      this.stats.stored++
      return null
    } catch (err) {
      this.stats.refused++
      if ((err as { code?: string }).code === 'ERR_QUOTA_EXCEEDED') this.stats.overQuota++
      const reason = err instanceof Error ? err.message : String(err)
      this.deps.logger.debug('replica record refused', 'reason', reason)
      return reason.slice(0, 200)
    }
  }

  /** The stored value of a sticky key of a served database, or an empty frame. */
  private async load (key: Uint8Array): Promise<Uint8Array> {
    const parsed = parseKey(key)
    if (parsed == null || !this.deps.servesDatabase(parsed.db)) return new Uint8Array(0)
    const value = await readStoredRecord(this.deps.datastore, key)
    if (value == null) return new Uint8Array(0)
    this.stats.served++
    return value
  }
}

class MalformedRequest extends Error {}

/** A key frame, refused when longer than any sticky key can be. */
function readKey (frame: Uint8Array): Uint8Array {
  if (frame.length > MAX_KEY_BYTES) throw new MalformedRequest(`key frame of ${frame.length} bytes (at most ${MAX_KEY_BYTES})`)
  return frame
}

/** Checks a request header: `{ op, n }` with a known op and 1..MAX_ITEMS items. */
export function parseHeader (v: unknown): { op: ReplicaOp, n: number } | string {
  if (v == null || typeof v !== 'object') return 'header is not an object'
  const { op, n } = v as { op?: unknown, n?: unknown }
  if (op !== 'put' && op !== 'get') return 'unknown op'
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_ITEMS) return `item count must be 1-${MAX_ITEMS}`
  return { op, n }
}

/** Checks a put response for `n` items. */
export function parsePutResponse (v: unknown, n: number): Array<string | null> | string {
  const r = (v as { r?: unknown } | null)?.r
  if (!Array.isArray(r) || r.length !== n || !r.every((x) => x === null || typeof x === 'string')) return 'malformed put response'
  return r as Array<string | null>
}

/** Client side: one request to one peer. */
export async function sendReplicaRequest (net: Pick<ReplicaProtocolNetwork, 'dialProtocol'>, peer: PeerId, op: 'put', items: Array<{ key: Uint8Array, value: Uint8Array }>, signal: AbortSignal): Promise<Array<string | null>>
export async function sendReplicaRequest (net: Pick<ReplicaProtocolNetwork, 'dialProtocol'>, peer: PeerId, op: 'get', items: Array<{ key: Uint8Array }>, signal: AbortSignal): Promise<Array<Uint8Array | undefined>>
export async function sendReplicaRequest (net: Pick<ReplicaProtocolNetwork, 'dialProtocol'>, peer: PeerId, op: ReplicaOp, items: Array<{ key: Uint8Array, value?: Uint8Array }>, signal: AbortSignal): Promise<Array<string | null> | Array<Uint8Array | undefined>> {
  const stream = await net.dialProtocol(peer, REPLICA_PROTOCOL, { signal })
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
    const frames: Uint8Array[] = [encoder.encode(JSON.stringify({ op, n: items.length }))]
    for (const item of items) {
      frames.push(item.key)
      if (op === 'put') frames.push(item.value!)
    }
    await lp.writeV(frames, { signal })
    if (op === 'put') {
      const r = parsePutResponse(decodeJson((await lp.read({ signal })).subarray()), items.length)
      if (typeof r === 'string') throw new Error(r)
      return r
    }
    const out: Array<Uint8Array | undefined> = []
    for (let i = 0; i < items.length; i++) {
      const value = (await lp.read({ signal })).subarray()
      out.push(value.length === 0 ? undefined : value)
    }
    return out
  } finally {
    // not awaited: the exchange is complete, the close handshake need not hold the caller
    stream.close().catch((err: unknown) => { stream.abort(err instanceof Error ? err : new Error(String(err))) })
  }
}
