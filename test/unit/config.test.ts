import { describe, expect, it } from 'vitest'
import { resolveOptions, DEFAULTS } from '../../src/config.js'
import { connect } from '../../src/index.js'
import { BASE_OPTIONS, configErrorOf } from '../fixtures/connect-options.js'

const base = BASE_OPTIONS
const fieldOf = (fn: () => unknown): string | undefined => configErrorOf(fn)?.field

describe('config validation', () => {
  it('fills every default', () => {
    const o = resolveOptions(base)
    expect(o.listenPorts).toEqual({ quic: 4001, tcp: 4002 })
    expect(o.registryRefreshIntervalMs).toBe(30_000)
    expect(o.bootstrapFirstRetryDelayMs).toBe(2_000)
    expect(o.bootstrapRetryIntervalMs).toBe(5_000)
    expect(o.connectTimeoutMs).toBe(30_000)
    expect(o.connectionLimits).toEqual({ low: 100, high: 400 })
    expect(o.relayServer).toBe(false)
    expect(o.maxMessageBytes).toBe(DEFAULTS.maxMessageBytes)
  })

  it('merges partial nested options with defaults', () => {
    expect(resolveOptions({ ...base, listenPorts: { quic: 0 } }).listenPorts).toEqual({ quic: 0, tcp: 4002 })
  })

  it.each([
    [{ databaseName: '' }, 'databaseName'],
    [{ databaseName: 'has space' }, 'databaseName'],
    [{ databaseName: 'x'.repeat(65) }, 'databaseName'],
    [{ databaseName: undefined }, 'databaseName'],
    [{ walletPrivateKey: undefined }, 'walletPrivateKey'],
    [{ walletPrivateKey: 42 }, 'walletPrivateKey'],
    [{ getAuthorizedWallets: undefined }, 'getAuthorizedWallets'],
    [{ getBootstrapNodes: 'nodes' }, 'getBootstrapNodes'],
    [{ listenPorts: { quic: -1 } }, 'listenPorts.quic'],
    [{ listenPorts: { tcp: 70000 } }, 'listenPorts.tcp'],
    [{ listenHost: 'localhost' }, 'listenHost'],
    [{ registryRefreshIntervalMs: 0 }, 'registryRefreshIntervalMs'],
    [{ connectionLimits: { low: 500, high: 400 } }, 'connectionLimits.low'],
    [{ logger: { info () {} } }, 'logger'],
    [{ maxMessageBytes: 1 }, 'maxMessageBytes'],
    [{ announceAddresses: ['1.2.3.4'] }, 'announceAddresses.0'],
    [{ unknownOption: true }, 'options']
  ])('rejects %j naming field %s', (patch, field) => {
    expect(fieldOf(() => resolveOptions({ ...base, ...patch }))).toBe(field)
  })

  it('says what is wrong in the message', () => {
    expect(() => resolveOptions({ ...base, databaseName: 'a b' })).toThrow(/databaseName: expected 1-64 characters/)
    expect(() => resolveOptions({ ...base, getAuthorizedWallets: undefined })).toThrow(/getAuthorizedWallets: is required/)
    expect(() => resolveOptions({ ...base, bogus: 1 })).toThrow(/unknown option\(s\): bogus/)
  })

  it('caps maxMessageBytes so an event fits one GossipSub frame a Go node reads (1 MiB)', () => {
    expect(resolveOptions({ ...base, maxMessageBytes: 1_047_552 }).maxMessageBytes).toBe(1_047_552)
    expect(DEFAULTS.maxMessageBytes).toBe(1_047_552)
    expect(() => resolveOptions({ ...base, maxMessageBytes: 1_047_553 })).toThrow(/maxMessageBytes: expected at most 1047552 bytes.*1 MiB.*Go node/)
    expect(fieldOf(() => resolveOptions({ ...base, maxMessageBytes: 1_048_576 }))).toBe('maxMessageBytes')
  })

  it('connect() refuses a bad wallet key with a ConfigError naming walletPrivateKey', async () => {
    await expect(connect({ ...base, walletPrivateKey: new Uint8Array(10) })).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG', field: 'walletPrivateKey' })
  })
})
