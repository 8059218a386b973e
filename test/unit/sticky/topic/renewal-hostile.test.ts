/*
 * Renewal requests from a hostile peer (issue 14, items 8-9): forged requests in a real client's
 * name must not use up that client's rate limit (the signature is checked first), the limiter's
 * memory is bounded, and the clock-skew window is documented and tested both ways.
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Keypair } from '@solana/web3.js'
import type { StickyPubSub } from '../../../../src/sticky/topic/sticky.js'
import { loneSticky } from '../../../fixtures/lone-sticky.js'
import { checkRenewal, renewalSignedText, type RenewalRequest } from '../../../../src/sticky/core/renewal.js'
import { RateLimiter } from '../../../../src/sticky/core/rate-limit.js'
import { LIMITS } from '../../../../src/sticky/core/records.js'

async function client (): Promise<{ peerId: string, wallet: string, sign: (text: string) => Promise<string> }> {
  const kp = Keypair.generate()
  const key = await generateKeyPairFromSeed('Ed25519', kp.secretKey.subarray(0, 32))
  return {
    peerId: peerIdFromPrivateKey(key).toString(),
    wallet: kp.publicKey.toBase58(),
    sign: async (text) => Buffer.from(await key.sign(new TextEncoder().encode(text))).toString('base64')
  }
}

function servingNode (): StickyPubSub {
  // nothing here reaches the network: every request below is refused or fails before it would
  const unreachable = { closestPeers: async () => { throw new Error('no network in this test') }, put: async () => {}, get: async () => undefined, isConnected: () => false }
  return loneSticky(unreachable, { requestTimeoutMs: 50 })
}

describe('renewal requests from a hostile peer', () => {
  it('forged requests in a client\'s name do not use up its rate limit: the signature is checked first', async () => {
    const node = servingNode()
    const c = await client()
    for (let i = 0; i < 50; i++) {
      const forged: RenewalRequest = { v: 1, topic: 't', client: c.peerId, timestamp: Date.now() + i, ttlMs: 60_000, sig: Buffer.alloc(64, i + 1).toString('base64') }
      expect(await (node as any).parts.renewals.serve(forged)).toEqual({ ok: false, error: 'bad signature' })
    }
    const timestamp = Date.now() + 100
    const genuine: RenewalRequest = { v: 1, topic: 't', client: c.peerId, timestamp, ttlMs: 60_000, sig: await c.sign(renewalSignedText('testdb', 't', c.peerId, timestamp, 60_000)) }
    const answer = await (node as any).parts.renewals.serve(genuine)
    // it passes every check before the coordinator read (which has no network here)
    expect(answer.ok).toBe(false)
    expect(answer.ok === false && answer.error).not.toMatch(/rate limited|signature/)
  })

  it('the rate limiter keeps a bounded number of keys, however many clients ask', () => {
    let t = 0
    const limiter = new RateLimiter(2, 20, () => t)
    for (let i = 0; i < 50_000; i++) { limiter.take(`client-${i}`); t += 1 }
    expect(limiter.size).toBeLessThanOrEqual(10_000)
    // a client being limited right now is not forgotten by the pruning
    for (let i = 0; i < 25; i++) limiter.take('busy')
    for (let i = 0; i < 20_000; i++) limiter.take(`other-${i}`)
    expect(limiter.take('busy')).toBeGreaterThan(0)
  })
})

describe('clock skew window of renewals (MAX_CLOCK_SKEW_MS, 60 s)', () => {
  it('accepts a client up to 60 s ahead and refuses one further ahead; accepts up to 5 minutes old', async () => {
    const c = await client()
    const now = 1_800_000_000_000
    const check = async (timestamp: number): Promise<unknown> => checkRenewal({ v: 1, topic: 't', client: c.peerId, timestamp, ttlMs: 1_000, sig: await c.sign(renewalSignedText('d', 't', c.peerId, timestamp, 1_000)) }, {
      db: 'd', now, walletOf: () => c.wallet, lastAccepted: () => undefined, isAuthorized: () => true, maxTtlMs: 10_000
    })
    expect(await check(now + LIMITS.MAX_CLOCK_SKEW_MS - 1_000)).toEqual({ wallet: c.wallet })
    expect(await check(now + 30_500)).toEqual({ wallet: c.wallet }) // refused before: the window was 30 s
    expect(await check(now + LIMITS.MAX_CLOCK_SKEW_MS + 1_000)).toEqual({ error: 'request timestamp is in the future' })
    expect(await check(now - 5 * 60_000 + 1_000)).toEqual({ wallet: c.wallet })
    expect(await check(now - 5 * 60_000 - 1_000)).toEqual({ error: 'request is older than 5 minutes' })
  })
})
