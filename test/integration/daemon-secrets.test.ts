/*
 * Credentials in registry and RPC URLs (basic-auth passwords, api-key query parameters, tokens in
 * the path as hosted Solana RPC providers issue them) never reach the logs: a daemon whose registry
 * URL keeps failing logs the failure with the URL masked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import bs58 from 'bs58'
import { Keypair } from '@solana/web3.js'
import { loadDaemonConfig } from '../../src/daemon/load-config.js'
import { startDaemon } from '../../src/daemon/daemon.js'
import { maskUrl } from '../../src/daemon/redact.js'
import type { Logger } from '../../src/logger.js'

const TOKEN = 'Zk3q9TokenInThePath8xYw2'
const API_KEY = 'sEcReT-api-key-7781'
const PASSWORD = 'hunter2-password'

describe('secrets in URLs', () => {
  let server: Server
  let port = 0
  beforeAll(async () => {
    server = createServer((_req, res) => { res.writeHead(500).end('down') })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })
  afterAll(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })

  it('masks passwords, query values and path tokens', () => {
    expect(maskUrl(`https://user:${PASSWORD}@rpc.example.com/${TOKEN}/?api-key=${API_KEY}&commitment=confirmed`))
      .toBe('https://user:***@rpc.example.com/***/?api-key=***&commitment=***')
    expect(maskUrl('not a url')).toBe('not a url')
  })

  it('a failing registry URL is logged without its credentials', async () => {
    const lines: string[] = []
    const capture = (level: string) => (msg: string, ...kv: unknown[]) => {
      lines.push(`${level} ${msg} ${kv.map((v) => v instanceof Error ? `${v.message} ${String((v as { cause?: unknown }).cause)}` : typeof v === 'string' ? v : JSON.stringify(v)).join(' ')}`)
    }
    const logger: Logger = { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') }
    const url = `http://user:${PASSWORD}@127.0.0.1:${port}/${TOKEN}/registry?api-key=${API_KEY}`
    const config = await loadDaemonConfig({
      env: {
        DEPIN_KEY: bs58.encode(Keypair.generate().secretKey),
        DEPIN_DATABASE: 'secrets',
        DEPIN_REGISTRY_URL: url,
        DEPIN_SOLANA_RPC_URL: `http://127.0.0.1:${port}/rpc/${TOKEN}?api-key=${API_KEY}`,
        DEPIN_SOLANA_PROGRAM_ID: Keypair.generate().publicKey.toBase58(),
        DEPIN_SOLANA_ACCOUNT_SIZE: '40',
        DEPIN_REGISTRY_TIMEOUT_MS: '500',
        DEPIN_LISTEN_HOST: '127.0.0.1',
        DEPIN_QUIC_PORT: '0',
        DEPIN_TCP_PORT: '0',
        DEPIN_HTTP_HOST: '127.0.0.1',
        DEPIN_HTTP_PORT: '0',
        DEPIN_LOG_LEVEL: 'debug'
      },
      flags: {}
    })
    const daemon = await startDaemon(config, { stdout: new Writable({ write (_c, _e, cb) { cb() } }), logger })
    await daemon.stop()
    const text = lines.join('\n')
    expect(text).toMatch(/registry call failed/)
    expect(text).toContain('***')
    for (const secret of [PASSWORD, API_KEY, TOKEN]) expect(text).not.toContain(secret)
  }, 30_000)
})
