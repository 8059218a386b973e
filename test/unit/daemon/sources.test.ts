import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, renameSync, statSync, writeFileSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Keypair } from '@solana/web3.js'
import {
  FileSource, HttpSource, LastGood, SolanaRegistrySource, fetchAll, parseBootstrapEntry, parseBootstrapList, parseWalletList
} from '../../../src/daemon/sources.js'
import { describeIdentity, parseSecretKey, writeNewKeyFile } from '../../../src/daemon/keys.js'
import { walletPrivateKey, peerIdToWallet } from '../../../src/identity.js'
import { silentLogger } from '../../../src/logger.js'
import { LocalSolanaRpc } from '../../fixtures/solana-rpc.js'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

const dir = mkdtempSync(join(tmpdir(), 'depin-sources-'))
const wallets = Array.from({ length: 4 }, () => Keypair.generate().publicKey.toBase58())
const signal = new AbortController().signal

describe('registry and bootstrap sources', () => {
  let server: Server
  let url: string
  let body = JSON.stringify(wallets.slice(0, 2))
  let status = 200
  let delayMs = 0
  beforeAll(async () => {
    server = createServer((_req, res) => {
      setTimeout(() => { res.writeHead(status, { 'content-type': 'application/json' }).end(body) }, delayMs)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/registry`
  })
  afterAll(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })

  it('file source re-reads the file when it changes and reports the change through watch', async () => {
    const path = join(dir, 'registry.json')
    writeFileSync(path, JSON.stringify(wallets.slice(0, 1)))
    const src = new FileSource(path, parseWalletList)
    expect(await src.fetch()).toEqual(wallets.slice(0, 1))
    let changes = 0
    const unwatch = src.watch(() => { changes++ })
    try {
      // replace atomically, as editors and ConfigMaps do
      writeFileSync(path + '.tmp', JSON.stringify({ wallets: wallets.slice(0, 3) }))
      renameSync(path + '.tmp', path)
      await expect.poll(() => changes, { timeout: 5_000 }).toBeGreaterThan(0)
      expect(await src.fetch()).toEqual(wallets.slice(0, 3))
    } finally { unwatch() }
  })

  it('file source keeps the parsed list while size and mtime are unchanged', async () => {
    const path = join(dir, 'cached.json')
    writeFileSync(path, JSON.stringify(wallets))
    const src = new FileSource(path, (json) => { parses++; return parseWalletList(json) })
    let parses = 0
    await src.fetch(); await src.fetch()
    expect(parses).toBe(1)
    expect(statSync(path).size).toBeGreaterThan(0)
  })

  it('HTTP source reads the list from a local server', async () => {
    body = JSON.stringify(wallets.slice(0, 2))
    expect(await new HttpSource(url, parseWalletList).fetch(signal)).toEqual(wallets.slice(0, 2))
  })

  it('LastGood answers with the last good list when the source fails or times out, and fails when it never had one', async () => {
    const src = new LastGood(new HttpSource(url, parseWalletList), 300, silentLogger)
    status = 500
    await expect(src.fetch(signal)).rejects.toThrow(/HTTP 500/)
    status = 200; body = JSON.stringify(wallets.slice(0, 2))
    expect(await src.fetch(signal)).toEqual(wallets.slice(0, 2))
    status = 500
    expect(await src.fetch(signal)).toEqual(wallets.slice(0, 2))
    status = 200; body = 'not json'
    expect(await src.fetch(signal)).toEqual(wallets.slice(0, 2))
    body = JSON.stringify(wallets); delayMs = 2_000
    const started = Date.now()
    expect(await src.fetch(signal)).toEqual(wallets.slice(0, 2)) // timed out at 300 ms
    expect(Date.now() - started).toBeLessThan(1_500)
    delayMs = 0
    expect(await src.fetch(signal)).toEqual(wallets)
    expect(src.failures).toBe(4)
  })

  it('fetchAll joins sources, survives a failing one and fails only when all fail', async () => {
    const ok = { name: 'ok', fetch: async () => ['a', 'b'] }
    const ok2 = { name: 'ok2', fetch: async () => ['b', 'c'] }
    const bad = { name: 'bad', fetch: async (): Promise<string[]> => { throw new Error('down') } }
    expect((await fetchAll([ok, bad, ok2], signal, (x) => x)).sort()).toEqual(['a', 'b', 'c'])
    await expect(fetchAll([bad], signal, (x) => x)).rejects.toThrow('down')
  })

  it('Solana source reads wallets from registry accounts via getProgramAccounts with dataSize and dataSlice', async () => {
    const rpc = new LocalSolanaRpc()
    const programId = Keypair.generate().publicKey.toBase58()
    try {
      await rpc.start()
      for (const w of wallets.slice(0, 3)) rpc.addRegistryAccount(programId, w, 72, 8)
      rpc.addRegistryAccount(programId, wallets[3]!, 100, 8) // another account type of the program: filtered by size
      rpc.addRegistryAccount(Keypair.generate().publicKey.toBase58(), wallets[3]!, 72, 8) // another program
      const src = new SolanaRegistrySource({ rpcUrl: rpc.url, programId, accountSize: 72, walletOffset: 8, commitment: 'confirmed' })
      expect((await src.fetch(signal)).sort()).toEqual(wallets.slice(0, 3).sort())
      const req = rpc.requests.at(-1)!
      expect(req.method).toBe('getProgramAccounts')
      expect(req.params[1]).toMatchObject({ filters: [{ dataSize: 72 }], dataSlice: { offset: 8, length: 32 }, commitment: 'confirmed' })
      // a slow RPC is cut off by LastGood's time limit and the last answer is kept
      const lastGood = new LastGood(src, 300, silentLogger)
      expect((await lastGood.fetch(signal)).length).toBe(3)
      rpc.delayMs = 3_000
      expect((await lastGood.fetch(signal)).length).toBe(3)
      expect(lastGood.failures).toBe(1)
      expect(() => new SolanaRegistrySource({ rpcUrl: rpc.url, programId, accountSize: 32, walletOffset: 8, commitment: 'confirmed' })).toThrow(/exceeds accountSize/)
      rpc.delayMs = 0
      rpc.failing = true
      await expect(src.fetch(signal)).rejects.toThrow(/HTTP 500/)
      rpc.failing = false
      const otherMethod = new SolanaRegistrySource({ rpcUrl: rpc.url, programId: 'not base58 0OIl', accountSize: 72, walletOffset: 8, commitment: 'confirmed' })
      await expect(otherMethod.fetch(signal)).rejects.toThrow()
    } finally { await rpc.stop() }
  })

  it('parses bootstrap lists in the Go format and WALLET@IP:QUIC:TCP entries', () => {
    expect(parseBootstrapList([{ publicKey: wallets[0], ip: '10.0.0.1', quicPort: 4001, tcpPort: 4002 }, { publicKey: 1 }, null]))
      .toEqual([{ publicKey: wallets[0], ip: '10.0.0.1', quicPort: 4001, tcpPort: 4002 }])
    expect(parseBootstrapEntry(`${wallets[1]!}@10.0.0.2:5001:5002`)).toEqual({ publicKey: wallets[1], ip: '10.0.0.2', quicPort: 5001, tcpPort: 5002 })
    expect(() => parseBootstrapEntry('x@1.2.3.4:1:2')).toThrow()
    expect(() => parseWalletList({ nope: 1 })).toThrow(/expected a JSON array/)
  })
})

describe('key files', () => {
  it('keygen writes a 0600 Solana CLI keypair that web3.js and connect() read as the same wallet', async () => {
    const path = join(dir, 'wallet.json')
    const info = await writeNewKeyFile(path)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const bytes = JSON.parse(readFileSync(path, 'utf8')) as number[]
    expect(bytes).toHaveLength(64)
    expect(Keypair.fromSecretKey(Uint8Array.from(bytes)).publicKey.toBase58()).toBe(info.address)
    const key = await walletPrivateKey(Uint8Array.from(bytes))
    expect(peerIdFromPrivateKey(key).toString()).toBe(info.peerId)
    expect(peerIdToWallet(info.peerId)).toBe(info.address)
    await expect(writeNewKeyFile(path)).rejects.toMatchObject({ code: 'EEXIST' })
    expect(await describeIdentity(path)).toEqual(info)
    expect(await describeIdentity(info.address)).toEqual(info)
    expect(await describeIdentity(info.peerId)).toEqual(info)
  })

  it('accepts a key as base58 or a JSON array and refuses anything else without echoing it', async () => {
    const kp = Keypair.generate()
    expect(await parseSecretKey(JSON.stringify(Array.from(kp.secretKey)), 'key')).toEqual(kp.secretKey)
    const { default: bs58 } = await import('bs58')
    expect(await parseSecretKey(bs58.encode(kp.secretKey), 'key')).toBe(bs58.encode(kp.secretKey))
    await expect(parseSecretKey('[1,2,3]', 'key')).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG', message: expect.not.stringContaining('1,2,3') })
    const broken = Array.from(kp.secretKey); broken[40] = (broken[40]! + 1) % 256
    await expect(parseSecretKey(JSON.stringify(broken), 'key')).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG', message: expect.stringMatching(/inconsistent/) })
    await expect(parseSecretKey('0OIl', 'key')).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG' })
  })
})
