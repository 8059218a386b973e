import { describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadDaemonConfig } from '../../../src/daemon/load-config.js'
import { SETTINGS } from '../../../src/daemon/settings.js'

const dir = mkdtempSync(join(tmpdir(), 'depin-config-'))
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p }
const minimal = { DEPIN_DATABASE: 'dc', DEPIN_KEY_FILE: '/k.json', DEPIN_REGISTRY_FILE: '/r.json' }
const WALLET = 'HgNPfueRupjWCCeRn5wVxuU7RwVyCTJLfo2jvykZNcfe'

async function configError (inputs: Parameters<typeof loadDaemonConfig>[0]): Promise<{ code: string, field: string, message: string }> {
  try {
    await loadDaemonConfig(inputs)
  } catch (err) {
    return err as { code: string, field: string, message: string }
  }
  throw new Error('expected a ConfigError')
}

describe('daemon config', () => {
  it('fills defaults for everything optional', async () => {
    const c = await loadDaemonConfig({ env: minimal })
    expect(c).toMatchObject({
      database: 'dc', keyFile: '/k.json', listen: { host: '0.0.0.0', quicPort: 4001, tcpPort: 4002 }, http: { host: '0.0.0.0', port: 9464 },
      log: { level: 'info' }, registry: { file: '/r.json', refreshIntervalMs: 30_000, timeoutMs: 10_000 }, bootstrap: { nodes: [] },
      relay: { server: false, reservation: false }, topics: { realtime: [], sticky: [] }, stdin: false, shutdownTimeoutMs: 10_000, announce: []
    })
  })

  it('applies precedence flags > env > file > defaults, per field', async () => {
    const yaml = file('p.yaml', 'database: fromfile\nkeyFile: /file.json\nlisten:\n  quicPort: 1111\n  tcpPort: 2222\nregistry:\n  file: /r.json\nhttp:\n  port: 3333\n')
    const c = await loadDaemonConfig({
      file: yaml,
      env: { DEPIN_QUIC_PORT: '5555', DEPIN_HTTP_PORT: '6666', DEPIN_DATABASE: 'fromenv' },
      flags: { 'listen.quicPort': '7777' }
    })
    expect(c.listen.quicPort).toBe(7777) // flag beats env and file
    expect(c.http.port).toBe(6666) // env beats file
    expect(c.database).toBe('fromenv')
    expect(c.listen.tcpPort).toBe(2222) // file beats default
    expect(c.listen.host).toBe('0.0.0.0') // default
    expect(c.keyFile).toBe('/file.json')
  })

  it('reads JSON files, lists from env and booleans in every spelling', async () => {
    const json = file('c.json', JSON.stringify({ database: 'x', key: 'abc', registry: { url: 'https://reg.example/list' }, topics: { sticky: ['s1'] }, options: { sticky: { flushDelayMs: 5 } } }))
    const c = await loadDaemonConfig({ file: json, env: { DEPIN_TOPICS: 'a, b,,c', DEPIN_RELAY_SERVER: 'yes', DEPIN_STDIN: '1' }, flags: { 'relay.reservation': 'on' } })
    expect(c.topics).toEqual({ realtime: ['a', 'b', 'c'], sticky: ['s1'] })
    expect(c.relay).toEqual({ server: true, reservation: true })
    expect(c.stdin).toBe(true)
    expect(c.options).toEqual({ sticky: { flushDelayMs: 5 } })
  })

  it('every setting has an env var and (secrets excepted) a flag, all distinct', () => {
    const envs = SETTINGS.map((s) => s.env)
    const flags = SETTINGS.filter((s) => s.flag != null).map((s) => s.flag)
    expect(new Set(envs).size).toBe(envs.length)
    expect(new Set(flags).size).toBe(flags.length)
    for (const s of SETTINGS) { expect(s.env).toMatch(/^DEPIN_[A-Z_]+$/); if (s.type !== 'secret') expect(s.flag).toMatch(/^--[a-z-]+$/) }
    expect(SETTINGS.find((s) => s.path === 'key')!.flag).toBeUndefined()
  })

  // each bad value must name the field, the source, the value and what was expected
  const badValues: Array<[string, string, RegExp]> = [
    ['DEPIN_DATABASE', 'has space', /database \(from DEPIN_DATABASE\): expected 1-64 characters.*got "has space"/],
    ['DEPIN_LISTEN_HOST', '::1', /listen\.host \(from DEPIN_LISTEN_HOST\): expected an IPv4 address, got "::1"/],
    ['DEPIN_QUIC_PORT', '70000', /listen\.quicPort \(from DEPIN_QUIC_PORT\): expected a port number 0-65535, got 70000/],
    ['DEPIN_TCP_PORT', 'x', /listen\.tcpPort \(from DEPIN_TCP_PORT\): expected an integer, got "x"/],
    ['DEPIN_ANNOUNCE', 'not-a-multiaddr', /announce\.0.*expected a multiaddr string, got "not-a-multiaddr"/],
    ['DEPIN_HTTP_HOST', 'localhost', /http\.host \(from DEPIN_HTTP_HOST\): expected an IPv4 address, got "localhost"/],
    ['DEPIN_HTTP_PORT', '-1', /http\.port \(from DEPIN_HTTP_PORT\): expected a port number 0-65535, got -1/],
    ['DEPIN_LOG_LEVEL', 'loud', /log\.level \(from DEPIN_LOG_LEVEL\): expected debug, info, warn, error or silent, got "loud"/],
    ['DEPIN_REGISTRY_URL', 'ftp://x', /registry\.url \(from DEPIN_REGISTRY_URL\): expected an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x"/],
    ['DEPIN_REGISTRY_REFRESH_MS', '5', /registry\.refreshIntervalMs \(from DEPIN_REGISTRY_REFRESH_MS\): expected an integer number of milliseconds >= 100, got 5/],
    ['DEPIN_REGISTRY_TIMEOUT_MS', '0', /registry\.timeoutMs \(from DEPIN_REGISTRY_TIMEOUT_MS\): expected an integer number of milliseconds >= 1, got 0/],
    ['DEPIN_BOOTSTRAP', 'nope', /bootstrap\.nodes\.0.*expected WALLET@IP:QUICPORT:TCPPORT, got "nope"/],
    ['DEPIN_BOOTSTRAP_URL', 'x', /bootstrap\.url \(from DEPIN_BOOTSTRAP_URL\): expected an http/],
    ['DEPIN_RELAY_SERVER', 'maybe', /relay\.server \(from DEPIN_RELAY_SERVER\): expected true or false, got "maybe"/],
    ['DEPIN_STDIN', '2', /stdin \(from DEPIN_STDIN\): expected true or false, got "2"/],
    ['DEPIN_SHUTDOWN_TIMEOUT_MS', '1.5', /shutdownTimeoutMs \(from DEPIN_SHUTDOWN_TIMEOUT_MS\): expected an integer, got "1.5"/]
  ]
  for (const [env, value, expected] of badValues) {
    it(`rejects ${env}=${value} naming field, source, value and expectation`, async () => {
      const err = await configError({ env: { ...minimal, [env]: value } })
      expect(err.code).toBe('ERR_INVALID_CONFIG')
      expect(err.message).toMatch(expected)
    })
  }

  it('rejects bad Solana registry settings field by field', async () => {
    const solana = { DEPIN_DATABASE: 'dc', DEPIN_KEY_FILE: '/k', DEPIN_SOLANA_RPC_URL: 'http://127.0.0.1:8899', DEPIN_SOLANA_PROGRAM_ID: WALLET, DEPIN_SOLANA_ACCOUNT_SIZE: '72' }
    expect((await loadDaemonConfig({ env: solana })).registry.solana).toEqual({ rpcUrl: 'http://127.0.0.1:8899', programId: WALLET, accountSize: 72, walletOffset: 8, commitment: 'confirmed' })
    expect((await configError({ env: { ...solana, DEPIN_SOLANA_PROGRAM_ID: 'O0O0' } })).message).toMatch(/registry\.solana\.programId.*expected a base58 public key, got "O0O0"/)
    expect((await configError({ env: { ...solana, DEPIN_SOLANA_ACCOUNT_SIZE: '8' } })).message).toMatch(/registry\.solana\.accountSize.*expected a byte count/)
    expect((await configError({ env: { ...solana, DEPIN_SOLANA_COMMITMENT: 'max' } })).message).toMatch(/registry\.solana\.commitment.*expected processed, confirmed or finalized, got "max"/)
    expect((await configError({ env: { ...solana, DEPIN_SOLANA_ACCOUNT_SIZE: undefined } })).message).toMatch(/registry\.solana\.accountSize/)
  })

  it('requires a key, a database and a registry source', async () => {
    expect((await configError({ env: { DEPIN_DATABASE: 'dc', DEPIN_REGISTRY_FILE: '/r' } })).field).toBe('keyFile')
    expect((await configError({ env: { DEPIN_KEY_FILE: '/k', DEPIN_REGISTRY_FILE: '/r' } })).message).toMatch(/database: is required/)
    expect((await configError({ env: { DEPIN_DATABASE: 'dc', DEPIN_KEY_FILE: '/k' } })).message).toMatch(/registry: is required/)
  })

  it('never echoes the secret key in an error', async () => {
    const err = await configError({ env: { ...minimal, DEPIN_KEY: 'secret-material', DEPIN_KEY_FILE: undefined, DEPIN_QUIC_PORT: 'x' } })
    expect(err.message).not.toContain('secret-material')
    const json = file('k.json', JSON.stringify({ database: 'dc', key: 42, registry: { file: '/r' } }))
    const keyErr = await configError({ file: json })
    expect(keyErr.field).toMatch(/^key/)
    expect(keyErr.message).toContain('(secret)')
    expect(keyErr.message).not.toContain('42')
  })

  it('rejects unknown settings, unreadable and malformed files', async () => {
    expect((await configError({ file: file('u.json', JSON.stringify({ database: 'dc', keyFile: '/k', registry: { file: '/r' }, listen: { udp: 1 } })) })).message).toMatch(/listen.*unknown setting\(s\): udp/)
    expect((await configError({ file: join(dir, 'missing.yaml') })).message).toMatch(/--config: cannot read/)
    expect((await configError({ file: file('bad.yaml', 'a: [1,\n') })).message).toMatch(/not valid YAML/)
    expect((await configError({ file: file('bad.json', '{') })).message).toMatch(/not valid JSON/)
    expect((await configError({ file: file('arr.json', '[1]') })).message).toMatch(/must hold an object/)
  })
})

describe('operator documentation', () => {
  it('the README documents every daemon setting and every project metric', async () => {
    const { readFileSync } = await import('node:fs')
    const { createDaemonMetrics } = await import('../../../src/daemon/metrics.js')
    const readme = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8')
    for (const s of SETTINGS) {
      expect(readme, s.path).toContain(`| \`${s.path}\` | \`${s.env}\` |`)
      if (s.flag != null) expect(readme, s.flag).toContain(`\`${s.flag}\``)
    }
    const metrics = await createDaemonMetrics().registry.getMetricsAsJSON()
    expect(metrics.length).toBeGreaterThan(20)
    for (const m of metrics) expect(readme, m.name).toContain(`| \`${m.name}\` |`)
  })
})
