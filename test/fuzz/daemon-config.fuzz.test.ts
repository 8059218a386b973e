/*
 * Fuzz surface: daemon config. Generated environment variables, flags and config files (JSON and
 * YAML, hostile shapes, wrong types, boundary numbers, YAML alias bombs, random text) go through
 * the daemon's loader, and the `options` block through connect()'s validation. Checked: every input
 * either loads or fails with a ConfigError naming a field (never another exception, never a hang),
 * no unhandled rejection, bounded memory, and a valid config still loads afterwards.
 */
import { afterAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bs58 from 'bs58'
import { Keypair } from '@solana/web3.js'
import { stringify as toYaml } from 'yaml'
import { loadDaemonConfig } from '../../src/daemon/load-config.js'
import { SETTINGS } from '../../src/daemon/settings.js'
import { resolveOptions } from '../../src/config.js'
import { CrashWatch, edgeJson, edgeNumber, edgeString, fuzzParams, fuzzRuns, settledHeapBytes } from './harness.js'

const RUNS = fuzzRuns(300)
const dir = mkdtempSync(join(tmpdir(), 'depin-fuzz-config-'))
const key = bs58.encode(Keypair.generate().secretKey)
const wallet = Keypair.generate().publicKey.toBase58()

/** plausible values per setting type, mixed with hostile ones */
const valueFor = (type: string): fc.Arbitrary<string> => fc.oneof(
  { weight: 3, arbitrary: edgeString() },
  { weight: 2, arbitrary: edgeNumber().map(String) },
  { weight: 1, arbitrary: fc.constantFrom('true', 'false', 'yes', 'off', '1', '0', '', ',', 'a,,b', 'http://127.0.0.1:1/x', 'https://u:p@h/?api-key=k', '0.0.0.0', '999.1.1.1', `${wallet}@10.0.0.1:4001:4002`, wallet, key) },
  { weight: type === 'list' ? 2 : 0, arbitrary: fc.array(edgeString().map((s) => s.slice(0, 50)), { maxLength: 5 }).map((a) => a.join(',')) }
)
const env = fc.dictionary(fc.constantFrom(...SETTINGS.map((s) => s.env)), fc.constant(''), { maxKeys: 8 })
  .chain((keys) => fc.record(Object.fromEntries(Object.keys(keys).map((k) => [k, valueFor(SETTINGS.find((s) => s.env === k)!.type)]))))
const flags = fc.oneof(fc.constant({}), fc.dictionary(fc.constantFrom(...SETTINGS.filter((s) => s.flag != null).map((s) => s.path)), fc.oneof(valueFor('string'), fc.boolean()), { maxKeys: 4 }))
const fileObject = fc.oneof(
  edgeJson(),
  fc.record({
    database: fc.oneof(fc.constant('db'), edgeJson()), key: fc.oneof(fc.constant(key), edgeJson()),
    registry: fc.oneof(fc.constant({ url: 'http://127.0.0.1:1/r' }), edgeJson()),
    listen: edgeJson(), http: edgeJson(), topics: edgeJson(), bootstrap: edgeJson(),
    options: fc.oneof(edgeJson(), fc.dictionary(fc.constantFrom('maxMessageBytes', 'connectionLimits', 'sticky', 'listenPorts', 'registryMaxShrinkFraction', 'bogus'), edgeJson(), { maxKeys: 3 }))
  }, { requiredKeys: [] })
)
const optionsBlock = fc.dictionary(fc.constantFrom('maxMessageBytes', 'connectionLimits', 'sticky', 'listenPorts', 'registryMaxShrinkFraction', 'publishTimeoutMs', 'bogus'),
  fc.oneof(edgeJson(), edgeNumber(), fc.record({ low: edgeNumber(), high: edgeNumber(), quic: edgeNumber(), flushDelayMs: edgeNumber() }, { requiredKeys: [] })), { maxKeys: 3 })
const file = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: optionsBlock.map((options) => ({ name: 'c.json', text: JSON.stringify({ database: 'db', key, registry: { url: 'http://127.0.0.1:1/r' }, options }) })) },
  { weight: 1, arbitrary: fileObject.map((o) => ({ name: 'c.json', text: JSON.stringify(o) ?? 'null' })) },
  fileObject.map((o) => ({ name: 'c.yaml', text: toYaml(o) })),
  edgeString().map((t) => ({ name: 'c.yaml', text: t })),
  edgeString().map((t) => ({ name: 'c.json', text: t })),
  fc.constant({ name: 'c.yaml', text: 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n' })
)

describe('fuzz: daemon config', () => {
  afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

  it(`${RUNS} generated configurations: each loads or fails with a ConfigError`, async () => {
    const watch = new CrashWatch().start()
    const heapBefore = await settledHeapBytes()
    let loaded = 0; let refused = 0; let optionsRefused = 0
    const base = { DEPIN_KEY: key, DEPIN_DATABASE: 'db', DEPIN_REGISTRY_URL: 'http://127.0.0.1:1/r' }
    // half the runs start from a valid configuration that the generated values then override
    const envs = fc.tuple(fc.boolean(), env).map(([valid, e]) => (valid ? { ...base, ...e } : e))
    await fc.assert(fc.asyncProperty(envs, flags, file, async (e, f, content) => {
      let path: string | undefined
      if (content != null) { path = join(dir, content.name); writeFileSync(path, content.text) }
      try {
        const config = await loadDaemonConfig({ env: e, flags: f, file: path })
        loaded++
        try {
          resolveOptions({ ...config.options, walletPrivateKey: key, databaseName: config.database, getAuthorizedWallets: async () => [], getBootstrapNodes: async () => [] })
        } catch (err) {
          expect(err).toMatchObject({ code: 'ERR_INVALID_CONFIG', field: expect.any(String) })
          optionsRefused++
        }
      } catch (err) {
        expect(err).toMatchObject({ code: 'ERR_INVALID_CONFIG', field: expect.any(String) })
        refused++
      }
    }), fuzzParams(RUNS))
    // a valid configuration still loads
    const ok = await loadDaemonConfig({ env: { DEPIN_KEY: key, DEPIN_DATABASE: 'db', DEPIN_REGISTRY_URL: 'http://127.0.0.1:1/r' } })
    expect(ok.database).toBe('db')
    watch.stop()
    const heapGrowth = await settledHeapBytes() - heapBefore
    expect(watch.problems).toEqual([])
    expect(heapGrowth).toBeLessThan(128 * 1024 * 1024)
    console.log(`fuzz daemon config: ${loaded + refused} generated configurations, ${loaded} loaded (${optionsRefused} of them with options refused by connect()), ${refused} refused with a ConfigError; heap growth ${(heapGrowth / 1e6).toFixed(1)} MB`)
  }, 30 * 60_000)
})
