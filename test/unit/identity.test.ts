import { describe, expect, it } from 'vitest'
import { Keypair } from '@solana/web3.js'
import bs58 from 'bs58'
import fc from 'fast-check'
import { walletPrivateKey, walletToPeerId, peerIdToWallet, normalizeWalletAddress, isWalletAddressText } from '../../src/identity.js'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'

// Fixed vector: seed bytes 1..32. Address from @solana/web3.js; the peer id is the base58 identity
// multihash (0x00 0x24) of the protobuf Ed25519 public key (0x08 0x01 0x12 0x20 || key).
const VECTOR = {
  secret: '2Ana1pUpv2ZbMVkwF5FXapYeBEjdxDatLn7nvJkhgTSdZd8hbDHTd21as7EAsg7ypityqfsw2pMQKJcVDVcAEsd',
  address: '9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj',
  peerId: '12D3KooWJ1TsijH7H5F74hfAD5XishQz3sxrmAtVY37GtNd9CqYf'
}

describe('identity', () => {
  it('maps the known secret key to the known address and peer id', async () => {
    const key = await walletPrivateKey(VECTOR.secret)
    const peerId = peerIdFromPrivateKey(key)
    expect(peerId.toString()).toBe(VECTOR.peerId)
    expect(peerIdToWallet(peerId)).toBe(VECTOR.address)
    expect(walletToPeerId(VECTOR.address).toString()).toBe(VECTOR.peerId)
    expect(peerIdToWallet(VECTOR.peerId)).toBe(VECTOR.address)
  })

  it('accepts the secret key as 64 bytes, and a PublicKey object as a wallet', async () => {
    const kp = Keypair.generate()
    const key = await walletPrivateKey(kp.secretKey)
    expect(peerIdToWallet(peerIdFromPrivateKey(key))).toBe(kp.publicKey.toBase58())
    expect(walletToPeerId(kp.publicKey).toString()).toBe(peerIdFromPrivateKey(key).toString())
  })

  it('is a bijection over many random wallets', () => {
    for (let i = 0; i < 200; i++) {
      const address = Keypair.generate().publicKey.toBase58()
      const peerId = walletToPeerId(address)
      expect(peerIdToWallet(peerId)).toBe(address)
      expect(walletToPeerId(peerIdToWallet(peerId.toString())!).equals(peerId)).toBe(true)
    }
  })

  it('refuses secret keys of the wrong length, bad base58 and inconsistent halves', async () => {
    await expect(walletPrivateKey(new Uint8Array(32))).rejects.toMatchObject({ code: 'ERR_INVALID_WALLET' })
    await expect(walletPrivateKey('not-base58-0OIl')).rejects.toMatchObject({ code: 'ERR_INVALID_WALLET' })
    const a = Keypair.generate().secretKey
    const b = Keypair.generate().secretKey
    const mixed = new Uint8Array([...a.subarray(0, 32), ...b.subarray(32)])
    await expect(walletPrivateKey(mixed)).rejects.toThrow(/inconsistent/)
    await expect(walletPrivateKey(bs58.encode(mixed))).rejects.toMatchObject({ code: 'ERR_INVALID_WALLET' })
  })

  it('gives no wallet for non-Ed25519 peers and refuses addresses that are not 32 bytes', async () => {
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1'))
    expect(peerIdToWallet(secp)).toBeUndefined()
    expect(peerIdToWallet('garbage')).toBeUndefined()
    expect(() => normalizeWalletAddress(bs58.encode(new Uint8Array(31)))).toThrow(/expected 32/)
    expect(() => walletToPeerId('0OIl')).toThrow()
  })

  it('isWalletAddressText agrees with bs58.decode(text).length === 32 (its allocation-free stand-in)', () => {
    const bs58Says = (text: string): boolean => { try { return bs58.decode(text).length === 32 } catch { return false } }
    // the edges: 31/32/33 bytes, runs of leading zero bytes (leading '1's), the largest values, bad characters
    const edges: string[] = ['', '1', '1'.repeat(31), '1'.repeat(32), '1'.repeat(33), '1'.repeat(44), 'z'.repeat(44), 'z'.repeat(43), '2'.repeat(45), '0OIl', VECTOR.address + ' ', `${VECTOR.address.slice(0, 20)}é${VECTOR.address.slice(21)}`]
    for (let len = 30; len <= 34; len++) {
      for (const fill of [0, 1, 255]) {
        for (let zeros = 0; zeros <= len; zeros += 7) edges.push(bs58.encode(new Uint8Array(len).fill(fill).fill(0, 0, zeros)))
      }
    }
    for (const text of edges) expect(isWalletAddressText(text), text).toBe(bs58Says(text))
    const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl+/ '
    const encoded = fc.tuple(fc.integer({ min: 0, max: 34 }), fc.integer({ min: 0, max: 34 }), fc.uint8Array({ minLength: 34, maxLength: 34 }))
      .map(([len, zeros, bytes]) => bs58.encode(bytes.subarray(0, len).fill(0, 0, Math.min(zeros, len))))
    const text = fc.oneof(encoded, fc.string({ unit: fc.constantFrom(...alphabet), minLength: 28, maxLength: 48 }))
    fc.assert(fc.property(text, (t) => isWalletAddressText(t) === bs58Says(t)), { numRuns: 20_000, seed: 14 })
  })
})
