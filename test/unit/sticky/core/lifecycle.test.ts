import { describe, expect, it } from 'vitest'
import { Keypair } from '@solana/web3.js'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RateLimiter } from '../../../../src/sticky/core/rate-limit.js'
import { checkRenewal, parseRenewalRequest, renewalSignedText, ReplayGuard, RENEWAL_MAX_AGE_MS, type RenewalRequest } from '../../../../src/sticky/core/renewal.js'
import { decryptPayload, encryptPayload, generatePayloadKey, isEncryptedPayload } from '../../../../src/sticky/core/encryption.js'
import { peerIdToWallet } from '../../../../src/identity.js'
import { entriesExpiry, historyToKeep, isRetired, jitterFactor, subscribersExpiry, sweepAction } from '../../../../src/sticky/core/lifecycle.js'
import type { Entry, SubscriberEntry } from '../../../../src/sticky/core/records.js'

async function client (): Promise<{ peerId: string, wallet: string, sign: (text: string) => Promise<string> }> {
  const kp = Keypair.generate()
  const key = await generateKeyPairFromSeed('Ed25519', kp.secretKey.subarray(0, 32))
  const peerId = peerIdFromPrivateKey(key).toString()
  return { peerId, wallet: kp.publicKey.toBase58(), sign: async (text) => Buffer.from(await key.sign(new TextEncoder().encode(text))).toString('base64') }
}

describe('rate limiter (fake clock)', () => {
  it('allows the burst at once, then the rate, per key', () => {
    let now = 0
    const rl = new RateLimiter(10, 3, () => now)
    expect([rl.take('a'), rl.take('a'), rl.take('a')]).toEqual([0, 0, 0])
    expect(rl.take('a')).toBe(100) // one token per 100 ms
    expect(rl.take('b')).toBe(0) // keys are independent
    now += 100
    expect(rl.take('a')).toBe(0)
    expect(rl.take('a')).toBeGreaterThan(0)
    now += 10_000
    expect([rl.take('a'), rl.take('a'), rl.take('a'), rl.take('a') > 0]).toEqual([0, 0, 0, true]) // refills to the burst, no more
  })
})

describe('renewal requests (pure checks, fake clock)', () => {
  const db = 'db1'
  const now = 1_800_000_000_000
  async function request (c: Awaited<ReturnType<typeof client>>, over: Partial<RenewalRequest> = {}): Promise<RenewalRequest> {
    const base = { v: 1 as const, topic: 'news', client: c.peerId, timestamp: now - 1_000, ttlMs: 60_000, ...over }
    return { ...base, sig: over.sig ?? await c.sign(renewalSignedText(db, base.topic, base.client, base.timestamp, base.ttlMs)) }
  }
  const deps = (over: Partial<Parameters<typeof checkRenewal>[1]> = {}): Parameters<typeof checkRenewal>[1] => ({
    db, now, walletOf: (p) => peerIdToWallet(p), lastAccepted: () => undefined, isAuthorized: () => true, maxTtlMs: 86_400_000, ...over
  })

  it('signs `<db>_<topic>:<client>:<timestamp>:<ttl>` and accepts a fresh, well-signed request', async () => {
    const c = await client()
    expect(renewalSignedText(db, 'news', c.peerId, 5, 7)).toBe(`db1_news:${c.peerId}:5:7`)
    expect(checkRenewal(await request(c), deps())).toEqual({ wallet: c.wallet })
  })

  it('refuses old, future, forged, replayed, unauthorized and over-long requests', async () => {
    const c = await client()
    const other = await client()
    expect(checkRenewal(await request(c, { timestamp: now - RENEWAL_MAX_AGE_MS - 1 }), deps())).toEqual({ error: 'request is older than 5 minutes' })
    expect(checkRenewal(await request(c, { timestamp: now + 61_000 }), deps())).toEqual({ error: 'request timestamp is in the future' })
    // signed by another key, or a valid signature over other values
    const forged = await request(c, { sig: await other.sign(renewalSignedText(db, 'news', c.peerId, now - 1_000, 60_000)) })
    expect(checkRenewal(forged, deps())).toEqual({ error: 'bad signature' })
    const altered = { ...(await request(c)), ttlMs: 999_999 }
    expect(checkRenewal(altered, deps())).toEqual({ error: 'bad signature' })
    const otherDb = await request(c)
    expect(checkRenewal(otherDb, deps({ db: 'db2' }))).toEqual({ error: 'bad signature' })
    const guard = new ReplayGuard()
    const req = await request(c)
    expect(checkRenewal(req, deps({ lastAccepted: (t, cl) => guard.last(t, cl) }))).toEqual({ wallet: c.wallet })
    guard.accept(req.topic, req.client, req.timestamp, now)
    expect(checkRenewal(req, deps({ lastAccepted: (t, cl) => guard.last(t, cl) }))).toEqual({ error: 'replayed request' })
    expect(checkRenewal(await request(c), deps({ isAuthorized: () => false }))).toEqual({ error: 'client is not authorized for this database' })
    expect(checkRenewal(await request(c, { ttlMs: 2 * 86_400_000 }), deps())).toMatchObject({ error: expect.stringMatching(/over the/) })
  })

  it('parses only well-formed requests', async () => {
    const c = await client()
    expect(parseRenewalRequest(await request(c))).toMatchObject({ topic: 'news' })
    for (const bad of [null, 'x', { v: 2 }, { ...(await request(c)), client: 'not-a-peer' }, { ...(await request(c)), ttlMs: 0 }, { ...(await request(c)), sig: '' }]) {
      expect(typeof parseRenewalRequest(bad)).toBe('string')
    }
  })
})

describe('payload encryption (AES-256-GCM)', () => {
  it('round-trips JSON and hides it', () => {
    const key = generatePayloadKey()
    const data = { reading: 42, secret: 'meter-7' }
    const enc = encryptPayload(key, data, 'db1/news')
    expect(isEncryptedPayload(enc)).toBe(true)
    expect(JSON.stringify(enc)).not.toContain('meter-7')
    expect(decryptPayload(key, enc, 'db1/news')).toEqual(data)
    expect(encryptPayload(key, data).iv).not.toBe(encryptPayload(key, data).iv) // fresh IV each time
  })

  it('refuses a wrong key, another aad, tampering and non-payloads with ERR_DECRYPT_FAILED', () => {
    const key = generatePayloadKey()
    const enc = encryptPayload(key, 'hello', 'a')
    const code = (f: () => unknown): string | undefined => { try { f(); return undefined } catch (e) { return (e as { code?: string }).code } }
    expect(code(() => decryptPayload(generatePayloadKey(), enc, 'a'))).toBe('ERR_DECRYPT_FAILED')
    expect(code(() => decryptPayload(key, enc, 'b'))).toBe('ERR_DECRYPT_FAILED')
    const ct = Buffer.from(enc.ct, 'base64'); ct[0] = ct[0]! ^ 1
    expect(code(() => decryptPayload(key, { ...enc, ct: ct.toString('base64') }, 'a'))).toBe('ERR_DECRYPT_FAILED')
    expect(code(() => decryptPayload(key, { hello: 1 }))).toBe('ERR_DECRYPT_FAILED')
    expect(() => encryptPayload(new Uint8Array(16), 1)).toThrow(/32 bytes/)
  })
})

describe('lifecycle rules (pure, fake clock)', () => {
  const entry = (expiresAt: number): Entry => ({ m: { t: 'msg', db: 'd', topic: 't', publisher: 'P', seq: 1, data: 1, publishedAt: 0, expiresAt, sig: 's' }, v: 1 })
  const sub = (expiresAt: number): SubscriberEntry => ({ client: 'c', subscribedAt: 0, expiresAt, updatedAt: 0 })

  it('collection expiry is the latest content expiry plus grace, never below the floor', () => {
    expect(entriesExpiry([entry(100), entry(300), entry(200)], 50, 0)).toBe(350)
    expect(entriesExpiry([], 50, 1_000)).toBe(1_050)
    expect(subscribersExpiry([sub(10), sub(20)], 5, 0)).toBe(25)
  })

  it('a topic is retired when nothing in it is live', () => {
    expect(isRetired([entry(100)], [sub(50)], 99)).toBe(false)
    expect(isRetired([entry(100)], [sub(50)], 100)).toBe(true)
    expect(isRetired([], [sub(200)], 100)).toBe(false)
  })

  it('sweep: delete once expired; republish after the jittered age; keep otherwise', () => {
    const day = 86_400_000
    expect(sweepAction(1_000, 0, 1_000, day, 'k')).toBe('delete')
    expect(sweepAction(10 * day, 0, 0.5 * day, day, 'k')).toBe('keep')
    expect(sweepAction(10 * day, 0, 1.25 * day, day, 'k')).toBe('republish')
    // each key republishes at its own time within [0.8, 1.2) of the period
    const factors = Array.from({ length: 200 }, (_, i) => jitterFactor(`node-a/key-${i}`))
    expect(Math.min(...factors)).toBeGreaterThanOrEqual(0.8)
    expect(Math.max(...factors)).toBeLessThan(1.2)
    expect(new Set(factors.map((f) => f.toFixed(2))).size).toBeGreaterThan(20)
    expect(jitterFactor('node-a/key')).not.toBe(jitterFactor('node-b/key'))
  })

  it('history stays in the head while small; a long one keeps the last 10 and snapshots the rest', () => {
    const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `id${String(i).padStart(19, '0')}`)
    const size = (h: { messageHistory: string[], subscriberHistory: string[] }) => (keep: number): number =>
      520 + JSON.stringify({ m: h.messageHistory.slice(-keep), s: h.subscriberHistory.slice(-keep) }).length
    const small = { messageHistory: ids(5), subscriberHistory: ids(1) }
    expect(historyToKeep(small, size(small))).toBeUndefined()
    const big = { messageHistory: ids(20), subscriberHistory: ids(3) }
    expect(historyToKeep(big, size(big))).toBe(10)
    const full = { messageHistory: ids(50), subscriberHistory: [] }
    expect(historyToKeep(full, () => 100)).toBe(10) // HISTORY_MAX reached even if small
  })
})
