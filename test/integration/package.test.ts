/*
 * A package that installs: `npm pack` of the built library, installed into an empty project the way
 * a consumer gets it, then used there: a plain-JavaScript consumer (`import { connect } from
 * 'depin-p2p'`, two nodes, one event) run with plain Node, the installed `depin-node` bin, and the
 * type declarations compiled in a strict `moduleResolution: node16` consumer.
 *
 * The install runs offline from the npm cache, so CI needs nothing beyond `npm ci`: the consumer
 * project gets a lockfile made of the package and the non-dev entries of this repository's
 * lockfile (the exact tree a consumer of these pinned dependencies gets), whose tarballs `npm ci`
 * left in the cache.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT, buildDist } from '../../support/daemon-process.js'

const dir = mkdtempSync(join(tmpdir(), 'depin-package-'))
const project = join(dir, 'consumer')
/** npm's own variables from an enclosing `npm test` would point the nested npm at this repository */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_(package|lifecycle|config_local_prefix)/.test(k)))

async function run (program: string, args: string[], options: { cwd?: string, extraEnv?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(program, args, { cwd: options.cwd ?? project, env: { ...env, ...options.extraEnv }, encoding: 'utf8', timeout: 180_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err == null) resolve(stdout)
      else reject(new Error(`${program} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`))
    })
  })
}

const CONSUMER_JS = `
import { readFileSync } from 'node:fs'
import { connect, silentLogger } from 'depin-p2p'

const [a, b] = ['a.json', 'b.json'].map((f) => Uint8Array.from(JSON.parse(readFileSync(f, 'utf8'))))
const wallets = JSON.parse(process.env.WALLETS)
let bootstrap = []
const node = async (key) => await connect({
  walletPrivateKey: key,
  databaseName: 'packaged',
  listenHost: '127.0.0.1',
  listenPorts: { quic: 0, tcp: 0 },
  getAuthorizedWallets: async () => wallets,
  getBootstrapNodes: async () => bootstrap,
  bootstrapFirstRetryDelayMs: 200,
  logger: silentLogger
})
const first = await node(a)
const addrs = first.libp2p.getMultiaddrs().map(String)
const port = (re) => Number(addrs.map((s) => re.exec(s)?.[1]).find((p) => p != null))
bootstrap = [{ publicKey: first.walletAddress, ip: '127.0.0.1', quicPort: port(/udp\\/(\\d+)\\/quic-v1/), tcpPort: port(/tcp\\/(\\d+)/) }]
const second = await node(b)
await second.waitUntilReady({ signal: AbortSignal.timeout(30_000) })
const received = new Promise((resolve) => { void first.subscribe('hello', resolve) })
const sent = await second.publish('hello', { from: 'the packaged library' })
const event = await received
await Promise.all([first.disconnect(), second.disconnect()])
console.log(event.id === sent.id ? 'OK ' + JSON.stringify(event.message) : 'FAILED')
`

const CONSUMER_TS = `
import { connect, ConfigError, STICKY_DEFAULTS, type ConnectOptions, type Database, type Event, type StickyMessage, type TopicInfo } from 'depin-p2p'

const options: ConnectOptions = {
  walletPrivateKey: new Uint8Array(64),
  databaseName: 'typed',
  getAuthorizedWallets: async () => [],
  getBootstrapNodes: async () => [],
  sticky: { pollIntervalMs: STICKY_DEFAULTS.pollIntervalMs }
}
export async function use (): Promise<number> {
  const db: Database = await connect(options)
  await db.subscribe<{ n: number }>('t', (e: Event<{ n: number }>) => { const n: number = e.message.n; void n })
  const sub = await db.sticky.subscribe('s', { onMessage: (m: StickyMessage) => { void m.data } })
  const info: TopicInfo = await db.sticky.topicInfo('s')
  await sub.unsubscribe()
  try { await db.disconnect() } catch (err) { if (err instanceof ConfigError) return err.field.length }
  return info.version
}
`

describe('the packed library, installed into an empty project', () => {
  let tarball: string
  let files: string[]

  /** the declarations' compile runs while the other tests run */
  let typecheck: Promise<string>

  beforeAll(async () => {
    buildDist()
    const packed = JSON.parse(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT })) as Array<{ filename: string, files: Array<{ path: string }> }>
    tarball = join(dir, packed[0]!.filename)
    files = packed[0]!.files.map((f) => f.path)

    const repoPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, any>
    const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
    const spec = `file:${tarball}`
    const packages: Record<string, unknown> = {
      '': { name: 'consumer', dependencies: { 'depin-p2p': spec } },
      'node_modules/depin-p2p': {
        version: repoPackage.version, resolved: spec, license: repoPackage.license, engines: repoPackage.engines, dependencies: repoPackage.dependencies, bin: repoPackage.bin
      }
    }
    for (const [path, entry] of Object.entries(repoLock.packages)) if (path !== '' && entry.dev !== true) packages[path] = entry
    mkdirSync(project)
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { 'depin-p2p': spec } }))
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages }))
    await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'])
    writeFileSync(join(project, 'consumer-types.mts'), CONSUMER_TS)
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, module: 'node16', moduleResolution: 'node16', target: 'ES2022', lib: ['ES2022', 'DOM'], noEmit: true,
        // check the shipped .d.ts too; Node's types come from this repository (a consumer has its own)
        skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')]
      },
      files: ['consumer-types.mts']
    }))
    typecheck = run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project])
    typecheck.catch(() => {}) // awaited (and reported) by its test
  }, 240_000)

  afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

  it('ships dist/ with the entry point, declarations and the bin, and nothing else of the repository', () => {
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js']))
    expect(files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(f))).toEqual([])
  })

  it('the installed depin-node bin runs: --help and keygen', async () => {
    const bin = join(project, 'node_modules', '.bin', 'depin-node')
    expect(await run(bin, ['--help'])).toMatch(/Usage: depin-node[\s\S]*start[\s\S]*keygen/)
    for (const name of ['a', 'b']) {
      const out = JSON.parse(await run(bin, ['keygen', '--out', join(project, `${name}.json`)])) as { address: string, peerId: string }
      expect(out.peerId).toMatch(/^12D3KooW/)
    }
  })

  it('a plain-JavaScript consumer imports it and sends one event between two nodes', async () => {
    const bin = join(project, 'node_modules', '.bin', 'depin-node')
    const wallets = await Promise.all(['a', 'b'].map(async (n) => (JSON.parse(await run(bin, ['id', join(project, `${n}.json`)])) as { address: string }).address))
    writeFileSync(join(project, 'consumer.mjs'), CONSUMER_JS)
    const out = await run(process.execPath, ['consumer.mjs'], { extraEnv: { WALLETS: JSON.stringify(wallets) } })
    expect(out.trim()).toBe('OK {"from":"the packaged library"}')
  }, 60_000)

  it('the type declarations compile in a strict moduleResolution: node16 consumer', async () => {
    await typecheck
  }, 120_000)
})
