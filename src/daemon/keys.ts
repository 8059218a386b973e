/*
 * Wallet key files for the daemon, in the Solana CLI keypair format: a JSON array of the 64 secret
 * key bytes (32-byte seed, then the 32-byte public key), file mode 0600. `solana-keygen` and
 * `solana address -k FILE` read the same file. Key material is never logged or put in an error.
 */
import { readFile, writeFile, chmod } from 'node:fs/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ConfigError } from '../errors.js'
import { normalizeWalletAddress, peerIdToWallet, walletPrivateKey, walletToPeerId } from '../identity.js'

export interface KeyInfo { address: string, peerId: string }

/** Creates a new wallet and writes it to `path` (refuses to overwrite unless `force`). */
export async function writeNewKeyFile (path: string, force = false): Promise<KeyInfo> {
  const key = await generateKeyPair('Ed25519')
  const bytes = Array.from(key.raw) // 64 bytes: seed + public key
  await writeFile(path, JSON.stringify(bytes) + '\n', { mode: 0o600, flag: force ? 'w' : 'wx' })
  await chmod(path, 0o600)
  const peerId = peerIdFromPrivateKey(key)
  return { address: peerIdToWallet(peerId)!, peerId: peerId.toString() }
}

/** Reads a Solana CLI keypair file into the 64 secret bytes. */
export async function readKeyFile (path: string): Promise<string | Uint8Array> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError('keyFile', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  return await parseSecretKey(text, 'keyFile')
}

/** A secret key given as a JSON array of 64 bytes or base58 text, checked to be a consistent Ed25519 wallet key. */
export async function parseSecretKey (text: string, field: string): Promise<string | Uint8Array> {
  const trimmed = text.trim()
  let secret: string | Uint8Array = trimmed
  if (trimmed.startsWith('[')) {
    let arr: unknown
    try { arr = JSON.parse(trimmed) } catch { arr = undefined }
    if (!Array.isArray(arr) || arr.length !== 64 || !arr.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
      throw new ConfigError(field, 'expected a JSON array of 64 bytes (Solana CLI keypair format)')
    }
    secret = Uint8Array.from(arr as number[])
  } else if (!/^[1-9A-HJ-NP-Za-km-z]+$/.test(trimmed)) {
    throw new ConfigError(field, 'expected base58 text or a JSON array of 64 bytes')
  }
  try {
    await walletPrivateKey(secret)
  } catch (err) {
    throw new ConfigError(field, (err as Error).message)
  }
  return secret
}

/** `id FILE|ADDRESS`: the address and peer id of a key file, wallet address or peer id. */
export async function describeIdentity (arg: string): Promise<KeyInfo> {
  if (/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(arg)) {
    const address = normalizeWalletAddress(arg)
    return { address, peerId: walletToPeerId(address).toString() }
  }
  if (/^12D3Koo[1-9A-HJ-NP-Za-km-z]+$/.test(arg)) {
    const address = peerIdToWallet(arg)
    if (address == null) throw new ConfigError('id', `${arg} is not an Ed25519 peer id`)
    return { address, peerId: arg }
  }
  const secret = await readKeyFile(arg)
  const key = await walletPrivateKey(secret)
  const peerId = peerIdFromPrivateKey(key)
  return { address: peerIdToWallet(peerId)!, peerId: peerId.toString() }
}
