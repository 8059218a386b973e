/*
 * Real-time event codec, wire-compatible with the Go library:
 *   {"id": "<uuid v4>", "from_peer": "<peer id>", "message": <any JSON>, "timestamp": <unix seconds>}
 * Pure: no libp2p imports. Decoding never throws; it returns a reason for anything it drops, so the
 * caller can count and log it and nothing malformed reaches a handler.
 */
import { InvalidMessageError, MessageTooLargeError } from '../errors.js'

/** A real-time event as handlers see it. */
export interface Event<T = unknown> {
  /** uuid v4 chosen by the publisher */
  id: string
  /** the signed author's peer id string (never taken from the event's own `from_peer` claim) */
  fromPeerId: string
  /** any JSON value */
  message: T
  /** Unix seconds, set by the publisher */
  timestamp: number
}

export type DropReason = 'oversize' | 'not-json' | 'not-object' | 'missing-id' | 'bad-field-type' | 'spoofed-from-peer' | 'unauthorized' | 'own-message' | 'handler-missing'

export type DecodeResult = { ok: true, event: Event } | { ok: false, reason: DropReason, detail: string }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Serializes an event exactly as the Go library does; refuses non-JSON messages and oversize events. */
export function encodeEvent (event: Event, maxBytes: number): Uint8Array {
  let json: string | undefined
  try {
    json = JSON.stringify({ id: event.id, from_peer: event.fromPeerId, message: toJsonValue(event.message), timestamp: event.timestamp })
  } catch (err) {
    if (err instanceof InvalidMessageError) throw err
    throw new InvalidMessageError((err as Error).message, { cause: err })
  }
  const bytes = encoder.encode(json)
  if (bytes.length > maxBytes) throw new MessageTooLargeError(bytes.length, maxBytes)
  return bytes
}

/**
 * Checks that `value` survives a JSON round trip meaningfully: rejects undefined, functions,
 * symbols, BigInt, cycles and non-finite numbers anywhere in it. Returns the value unchanged.
 */
export function toJsonValue (value: unknown): unknown {
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new InvalidMessageError(`non-finite number ${String(v)}`)
    if (typeof v === 'function' || typeof v === 'symbol') throw new InvalidMessageError(`a ${typeof v} is not a JSON value`)
    return v
  })
  if (text === undefined) throw new InvalidMessageError('undefined is not a JSON value')
  return value
}

/**
 * Decodes and validates an inbound event signed by `author` (its peer id string). The delivered
 * `fromPeerId` is always the signed author: an empty `from_peer` is filled with it, and a non-empty
 * `from_peer` naming anyone else is a forgery (`spoofed-from-peer`). The Go library instead fills
 * an empty `from_peer` from the last hop (the peer that forwarded the message) and trusts a
 * non-empty one as sent; honest Go publishers always write their own peer id there, so both agree
 * on honest traffic. Without `author` (tests of the codec alone) the claim is taken as is.
 */
export function decodeEvent (data: Uint8Array, maxBytes: number, author?: string): DecodeResult {
  if (data.length > maxBytes) return { ok: false, reason: 'oversize', detail: `${data.length} bytes > ${maxBytes}` }
  let parsed: unknown
  try {
    parsed = JSON.parse(decoder.decode(data))
  } catch (err) {
    return { ok: false, reason: 'not-json', detail: (err as Error).message }
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, reason: 'not-object', detail: `got ${Array.isArray(parsed) ? 'array' : typeof parsed}` }
  }
  const o = parsed as Record<string, unknown>
  if (o.id === undefined || o.id === '') return { ok: false, reason: 'missing-id', detail: 'id is missing or empty' }
  if (typeof o.id !== 'string') return { ok: false, reason: 'bad-field-type', detail: 'id is not a string' }
  if (o.from_peer !== undefined && typeof o.from_peer !== 'string') return { ok: false, reason: 'bad-field-type', detail: 'from_peer is not a string' }
  if (typeof o.timestamp !== 'number' || !Number.isFinite(o.timestamp)) return { ok: false, reason: 'bad-field-type', detail: 'timestamp is not a number' }
  if (!('message' in o)) return { ok: false, reason: 'bad-field-type', detail: 'message is missing' }
  const claimed = typeof o.from_peer === 'string' ? o.from_peer : ''
  if (author != null && claimed !== '' && claimed !== author) {
    return { ok: false, reason: 'spoofed-from-peer', detail: `from_peer ${JSON.stringify(claimed.slice(0, 80))} is not the signed author ${author}` }
  }
  return { ok: true, event: { id: o.id, fromPeerId: author ?? claimed, message: o.message, timestamp: Math.trunc(o.timestamp) } }
}

/** Unix seconds, as the Go library stamps events. */
export function unixSeconds (nowMs: number = Date.now()): number {
  return Math.floor(nowMs / 1000)
}
