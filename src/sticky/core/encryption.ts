/*
 * Optional payload encryption for sticky (and real-time) messages: AES-256-GCM under a key the
 * application holds. Nodes store and forward the ciphertext; TTLs, sizes and publishers stay
 * visible to them (they need those to expire, limit and verify), the data does not. Binding `aad`
 * (for example `<database>/<topic>`) stops a ciphertext from being replayed under another topic.
 * Pure: node:crypto only.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { DecryptError } from './errors.js'

/** An AES-256-GCM encrypted sticky payload (base64 fields). */
export interface EncryptedPayload { enc: 'A256GCM', iv: string, ct: string, tag: string }

/** A new random 32-byte key. Keep it with the application, never in the network. */
export function generatePayloadKey (): Uint8Array {
  return new Uint8Array(randomBytes(32))
}

/**
 * Encrypts a JSON value with AES-256-GCM under a 32-byte key; use `<database>/<topic>` as `aad` so the
 * ciphertext cannot be replayed under another topic.
 */
export function encryptPayload (key: Uint8Array, data: unknown, aad = ''): EncryptedPayload {
  checkKey(key)
  const json = JSON.stringify(data)
  if (json === undefined) throw new TypeError('data is not a JSON value')
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(aad, 'utf8'))
  const ct = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()])
  return { enc: 'A256GCM', iv: iv.toString('base64'), ct: ct.toString('base64'), tag: cipher.getAuthTag().toString('base64') }
}

/** True when `v` has the shape of an {@link EncryptedPayload}. */
export function isEncryptedPayload (v: unknown): v is EncryptedPayload {
  if (v == null || typeof v !== 'object') return false
  const p = v as Record<string, unknown>
  return p.enc === 'A256GCM' && typeof p.iv === 'string' && typeof p.ct === 'string' && typeof p.tag === 'string'
}

/** The data passed to encryptPayload. Throws DecryptError (ERR_DECRYPT_FAILED) on a wrong key, aad or tampering. */
export function decryptPayload<T = unknown> (key: Uint8Array, payload: unknown, aad = ''): T {
  checkKey(key)
  if (!isEncryptedPayload(payload)) throw new DecryptError('not an encrypted payload')
  const iv = Buffer.from(payload.iv, 'base64')
  const tag = Buffer.from(payload.tag, 'base64')
  if (iv.length !== 12 || tag.length !== 16) throw new DecryptError('malformed iv or tag')
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv)
    decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(tag)
    const json = Buffer.concat([decipher.update(Buffer.from(payload.ct, 'base64')), decipher.final()]).toString('utf8')
    return JSON.parse(json) as T
  } catch {
    throw new DecryptError('authentication failed (wrong key, wrong aad or tampered data)')
  }
}

function checkKey (key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new TypeError('the payload key must be 32 bytes (AES-256)')
}
