/*
 * Wallet identity. A node's libp2p identity is its Solana wallet key (Ed25519), so the peer id
 * embeds the wallet's public key and wallet address <-> peer id is a bijection:
 * address = base58(raw 32-byte public key), peer id = identity multihash of the protobuf public key.
 */
import { generateKeyPairFromSeed, privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import bs58 from 'bs58'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { InvalidWalletError } from './errors.js'

/** Anything with a `toBase58()`, such as a `@solana/web3.js` `PublicKey`. */
export interface PublicKeyLike {
  /** the base58 wallet address */
  toBase58(): string
}

/** A wallet: its base58 address or a public-key object. */
export type WalletLike = string | PublicKeyLike

/** Longest base58 text of 32 bytes (a wallet address) and of 64 bytes (a secret key). */
const MAX_ADDRESS_CHARS = 44
const MAX_SECRET_CHARS = 88

/**
 * base58 decoding is quadratic in the length of its input: text longer than the longest encoding of
 * the expected size is refused before it is decoded, so an absurdly long registry entry costs nothing.
 */
function decodeBase58 (text: string, what: string, maxChars: number): Uint8Array {
  if (text.length > maxChars) throw new InvalidWalletError(`${what} is too long (${text.length} characters, at most ${maxChars})`)
  try {
    return bs58.decode(text)
  } catch {
    throw new InvalidWalletError(`${what} is not valid base58`)
  }
}

/**
 * Turns a Solana secret key (base58 string or 64 bytes: 32-byte seed then 32-byte public key) into
 * a libp2p Ed25519 private key. Refuses keys whose public half does not belong to the seed.
 */
export async function walletPrivateKey (secret: string | Uint8Array): Promise<PrivateKey> {
  const bytes = typeof secret === 'string' ? decodeBase58(secret.trim(), 'wallet secret key', MAX_SECRET_CHARS) : secret
  if (!(bytes instanceof Uint8Array) || bytes.length !== 64) {
    throw new InvalidWalletError(`wallet secret key must be 64 bytes (seed + public key), got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`)
  }
  // A 32-byte input to privateKeyFromRaw would silently make a secp256k1 key: derive from the seed.
  const key = await generateKeyPairFromSeed('Ed25519', bytes.subarray(0, 32))
  const declaredPublic = bytes.subarray(32)
  if (!equalBytes(key.publicKey.raw, declaredPublic)) {
    throw new InvalidWalletError('wallet secret key is inconsistent: its public half does not match its seed')
  }
  return privateKeyFromRaw(new Uint8Array(bytes))
}

/** Normalizes a wallet (base58 address or PublicKey-like) to its base58 address; throws if not 32 bytes. */
export function normalizeWalletAddress (wallet: WalletLike): string {
  const text = typeof wallet === 'string' ? wallet.trim() : typeof wallet?.toBase58 === 'function' ? wallet.toBase58() : undefined
  if (text == null) throw new InvalidWalletError(`wallet must be a base58 string or a PublicKey, got ${typeof wallet}`)
  if (typeof text !== 'string') throw new InvalidWalletError(`wallet's toBase58() returned a ${typeof text}, not a string`)
  // base58 decoding is one-to-one (leading '1's are the leading zero bytes), so valid text is already canonical
  if (isWalletAddressText(text)) return text
  // the failure path only: decode to say what is wrong
  const shown = JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text)
  const raw = decodeBase58(text, `wallet address ${shown}`, MAX_ADDRESS_CHARS)
  throw new InvalidWalletError(`wallet address ${shown} decodes to ${raw.length} bytes, expected 32`)
}

const BASE58_ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
/** char code -> base58 digit, 255 for characters outside the alphabet */
const BASE58_DIGIT = new Uint8Array(128).fill(255)
for (let i = 0; i < BASE58_ALPHABET.length; i++) BASE58_DIGIT[BASE58_ALPHABET.charCodeAt(i)] = i
/** scratch for isWalletAddressText: the decoded number in 32-bit limbs, least significant first (9 limbs > 256 bits) */
const LIMBS = new Uint32Array(9)

/**
 * True when `text` is base58 of exactly 32 bytes, i.e. when `bs58.decode(text).length === 32`
 * (leading '1's are leading zero bytes, the rest is a big-endian number). Allocates nothing: the
 * registry cache runs it on every entry of a registry with up to millions of wallets, where
 * bs58.decode's arrays per entry were most of the garbage (and so of the GC pauses). Bounded work:
 * text longer than 44 characters is refused before any arithmetic.
 */
export function isWalletAddressText (text: string): boolean {
  const n = text.length
  if (n < 32 || n > MAX_ADDRESS_CHARS) return false
  let zeros = 0
  while (zeros < n && text.charCodeAt(zeros) === 49 /* '1' */) zeros++
  LIMBS.fill(0)
  let used = 0 // limbs in use: the rest are still zero
  for (let i = zeros; i < n; i++) {
    const code = text.charCodeAt(i)
    let carry = code < 128 ? BASE58_DIGIT[code]! : 255
    if (carry === 255) return false
    for (let j = 0; j < used; j++) {
      // limb * 58 + carry < 2^38: exact in a double, and the quotient below fits in 31 bits
      const v = LIMBS[j]! * 58 + carry
      LIMBS[j] = v >>> 0
      carry = (v / 4294967296) | 0
    }
    if (carry !== 0) {
      if (used === LIMBS.length) return false // beyond 288 bits: far more than 32 bytes
      LIMBS[used++] = carry
    }
  }
  let numberBytes = 0
  if (used > 0) {
    const high = LIMBS[used - 1]!
    numberBytes = (used - 1) * 4 + (high >= 0x1000000 ? 4 : high >= 0x10000 ? 3 : high >= 0x100 ? 2 : 1)
  }
  return zeros + numberBytes === 32
}

/** Wallet address (or PublicKey) -> libp2p peer id. */
export function walletToPeerId (wallet: WalletLike): PeerId {
  const raw = bs58.decode(normalizeWalletAddress(wallet))
  return peerIdFromPublicKey(publicKeyFromRaw(raw))
}

/** Peer id (object or string) -> wallet address, or undefined when the peer's key is not Ed25519. */
export function peerIdToWallet (peer: PeerId | string): string | undefined {
  let id: PeerId
  try {
    id = typeof peer === 'string' ? peerIdFromString(peer) : peer
  } catch {
    return undefined
  }
  if (id.type !== 'Ed25519' || id.publicKey == null) return undefined
  return bs58.encode(id.publicKey.raw)
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
