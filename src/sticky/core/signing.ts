/*
 * Signatures on sticky records: the publisher signs each message, the writer signs each head,
 * both with their wallet's Ed25519 key, over the canonical encoding of the record without `sig`.
 * Verification uses Node's native Ed25519 (tens of microseconds), with public keys cached, because
 * every message is verified on every read. Pure: node:crypto and bs58 only.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import bs58 from 'bs58'
import { contentId, encodeRecord } from './codec.js'
import { unsigned, type HeadRecord, type MessageRecord } from './records.js'

/** What a node needs to sign records: its wallet address and an Ed25519 signing function. */
export interface Signer {
  wallet: string
  sign(data: Uint8Array): Promise<Uint8Array> | Uint8Array
}

const keyCache = new Map<string, KeyObject>()

function publicKeyOf (wallet: string): KeyObject | undefined {
  let key = keyCache.get(wallet)
  if (key != null) return key
  let raw: Uint8Array
  try { raw = bs58.decode(wallet) } catch { return undefined }
  if (raw.length !== 32) return undefined
  key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' })
  if (keyCache.size > 10_000) keyCache.clear()
  keyCache.set(wallet, key)
  return key
}

export function verifySignature (wallet: string, data: Uint8Array, sigBase64: string): boolean {
  const key = publicKeyOf(wallet)
  if (key == null) return false
  const sig = Buffer.from(sigBase64, 'base64')
  if (sig.length !== 64) return false
  try { return nodeVerify(null, data, key, sig) } catch { return false }
}

/** Signs any record over its canonical encoding without `sig`. */
export async function signRecord<T extends { sig: string }> (record: Omit<T, 'sig'>, signer: Signer): Promise<T> {
  const sig = await signer.sign(encodeRecord(record))
  return { ...record, sig: Buffer.from(sig).toString('base64') } as T
}

/**
 * The bytes a publisher signed, encoded once per record object: verifying a message and computing
 * its id need the same canonical encoding, and both happen for every message read.
 */
const signedBytesCache = new WeakMap<object, Uint8Array>()
function signedBytes (m: MessageRecord): Uint8Array {
  let bytes = signedBytesCache.get(m)
  if (bytes == null) { bytes = encodeRecord(unsigned(m)); signedBytesCache.set(m, bytes) }
  return bytes
}

/** A message's id: the content id of what its publisher signed. */
export function messageId (m: MessageRecord): string {
  return contentId(signedBytes(m))
}

/** A head's id: the content id of the whole signed head. */
export function headId (h: HeadRecord): string {
  return contentId(encodeRecord(h))
}

/** Signs a message; with `verified`, the new signature is recorded as checked (it is our own). */
export async function signMessage (m: Omit<MessageRecord, 'sig'>, signer: Signer, verified?: VerifiedSignatures): Promise<MessageRecord> {
  const signed = await signRecord<MessageRecord>(m, signer)
  verified?.add(messageKey(signed))
  return signed
}

const messageKey = (m: MessageRecord): string => cacheKey('m', messageId(m), m.sig)

export async function signHead (h: Omit<HeadRecord, 'sig'>, signer: Signer): Promise<HeadRecord> {
  return await signRecord<HeadRecord>(h, signer)
}

/**
 * Signatures this node has already checked, so a record read again (a replica's page loaded by
 * the same node as a writer, a head seen on every replica) is not verified again. Keyed by the
 * content id of what was signed plus the signature (22 characters), so a changed record or
 * signature is a miss. One per node (host), never shared between nodes.
 *
 * Bounded in count and in time: two generations, the current one and the one before; a hit in the
 * older one moves the key forward. A generation ends after `generationMs` or once it holds half of
 * `max`, and the older one is then dropped, so a key not used for two generations is forgotten and
 * the cache reaches its steady size after two generations of steady load, not after `max` distinct
 * records (hours: each sticky record is checked once per node that reads it).
 */
export class VerifiedSignatures {
  private current = new Set<string>()
  private previous = new Set<string>()
  private since: number

  constructor (private readonly max = 100_000, private readonly generationMs = 5 * 60_000, private readonly now: () => number = Date.now) {
    this.since = now()
  }

  has (key: string): boolean {
    this.rotateIfDue()
    if (this.current.has(key)) return true
    if (!this.previous.has(key)) return false
    this.add(key)
    return true
  }

  add (key: string): void {
    this.rotateIfDue()
    if (this.current.size >= this.max / 2) this.rotate()
    this.current.add(key)
  }

  get size (): number { return this.current.size + this.previous.size }

  private rotateIfDue (): void {
    if (this.now() - this.since >= this.generationMs) this.rotate()
  }

  private rotate (): void {
    this.previous = this.current
    this.current = new Set()
    this.since = this.now()
  }
}

/**
 * A cache key for `signed` under signature `sig`: a content id over the signature (length first,
 * so no other split of the same bytes gives the same key) and what was signed; short whatever the
 * signature's length.
 */
function cacheKey (kind: string, signed: Uint8Array | string, sig: string): string {
  const sigBytes = Buffer.from(sig)
  const length = Buffer.alloc(4)
  length.writeUInt32BE(sigBytes.length)
  return kind + contentId(Buffer.concat([length, sigBytes, typeof signed === 'string' ? Buffer.from(signed) : signed]))
}

export function verifyMessage (m: MessageRecord, verified?: VerifiedSignatures): boolean {
  const key = verified == null ? '' : messageKey(m)
  if (verified?.has(key) === true) return true
  const ok = verifySignature(m.publisher, signedBytes(m), m.sig)
  if (ok) verified?.add(key)
  return ok
}

/** Verifies a record signed by its `writer` (root, subscriber collection, snapshot). */
export function verifyWriterSigned (r: { writer: string, sig: string }, verified?: VerifiedSignatures): boolean {
  const bytes = encodeRecord(unsigned(r))
  const key = verified == null ? '' : cacheKey('w', bytes, r.sig)
  if (verified?.has(key) === true) return true
  const ok = verifySignature(r.writer, bytes, r.sig)
  if (ok) verified?.add(key)
  return ok
}

export function verifyHead (h: HeadRecord, verified?: VerifiedSignatures): boolean {
  // the head id covers the signature and everything signed
  const key = verified == null ? '' : `h:${headId(h)}`
  if (verified?.has(key) === true) return true
  const ok = verifySignature(h.writer, encodeRecord(unsigned(h)), h.sig)
  if (ok) verified?.add(key)
  return ok
}

/**
 * A signer over a raw Ed25519 secret key (64 bytes: seed then public key, the Solana and libp2p
 * layout) that builds the key object once; signing through @libp2p/crypto rebuilds it per call.
 */
export function ed25519Signer (wallet: string, secretKey: Uint8Array): Signer {
  if (secretKey.length !== 64) throw new Error('an Ed25519 secret key has 64 bytes')
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(secretKey.subarray(0, 32)).toString('base64url'), x: Buffer.from(secretKey.subarray(32)).toString('base64url') },
    format: 'jwk'
  })
  return { wallet, sign: (data) => nodeSign(null, data, key) }
}
