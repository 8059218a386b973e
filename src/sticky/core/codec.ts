/*
 * Canonical encoding and content ids for sticky records. Every record is canonical JSON (object
 * keys sorted, no whitespace), so the same content always has the same bytes, and immutable
 * records are stored under the id of their bytes: any node can check a record against its key.
 * Ids are the first 128 bits of SHA-256, base64url (22 characters). Pure: node:crypto only.
 */
import { createHash } from 'node:crypto'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** JSON with object keys sorted at every level; rejects values JSON cannot represent. */
export function canonicalJson (value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

function sortKeys (value: unknown): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number')
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') throw new TypeError(`${typeof value} is not a JSON value`)
    return value
  }
  if (Array.isArray(value)) return value.map(sortKeys)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key]
    if (v !== undefined) out[key] = sortKeys(v)
  }
  return out
}

export function encodeRecord (value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value))
}

/** A head set as stored under a topic's coordinator key (`{ t: 'heads', heads }`; plain JSON, not content-addressed). */
export function encodeHeadSet (heads: readonly unknown[]): Uint8Array {
  return encoder.encode(JSON.stringify({ t: 'heads', heads }))
}

/** Parses record bytes; undefined when they are not UTF-8 JSON. */
export function decodeJson (bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes))
  } catch {
    return undefined
  }
}

export function contentId (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest().subarray(0, 16).toString('base64url')
}

export const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/

export function byteLength (value: unknown): number {
  return encoder.encode(canonicalJson(value)).length
}
