/*
 * Durability with real processes: daemons (`node dist/cli.js start`, the container's command) with
 * data dirs on loopback, killed with SIGKILL or restarted one by one, and in-process nodes joining
 * afterwards to read the history.
 *   - three daemons: 500 acknowledged sticky messages, then a stream of publishes during which all
 *     three are SIGKILLed at once; after a restart a new node gets every acknowledged message exactly
 *     once, each intact (unacknowledged ones may or may not be there, never half);
 *   - a second process on a data dir in use exits 2 with a clear message;
 *   - a rolling restart of five daemons (SIGTERM, restart, wait for /readyz in sticky mode) while a
 *     publisher runs throughout: no acknowledged message lost, a late joiner gets them all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePorts, newWallet, startNode, TestRegistry, waitFor, type Wallet } from '../../support/cluster.js'
import { DaemonProcess, buildDist, httpGet } from '../../support/daemon-process.js'
import type { BootstrapNode, Database, StickyMessage } from '../../src/index.js'

const root = mkdtempSync(join(tmpdir(), 'depin-durable-daemons-'))
const running: DaemonProcess[] = []
const inProcess: Database[] = []

interface Spec { name: string, wallet: Wallet, keyFile: string, dataDir: string, ports: { quic: number, tcp: number }, http: number }

async function specs (prefix: string, n: number): Promise<Spec[]> {
  const out: Spec[] = []
  for (let i = 0; i < n; i++) {
    const wallet = newWallet()
    const keyFile = join(root, `${prefix}${i}.json`)
    writeFileSync(keyFile, JSON.stringify([...wallet.secretKey]), { mode: 0o600 })
    const dataDir = join(root, `${prefix}${i}-data`)
    mkdirSync(dataDir)
    out.push({ name: `${prefix}${i}`, wallet, keyFile, dataDir, ports: await freePorts(), http: (await freePorts()).tcp })
  }
  return out
}

const entry = (s: Spec): BootstrapNode => ({ publicKey: s.wallet.address, ip: '127.0.0.1', quicPort: s.ports.quic, tcpPort: s.ports.tcp })

/** Config shared by a cluster's daemons: registry = every wallet, bootstrap = every daemon. */
function writeConfig (name: string, daemons: Spec[], others: Wallet[]): string {
  const registry = join(root, `${name}-registry.json`)
  writeFileSync(registry, JSON.stringify([...daemons.map((s) => s.wallet.address), ...others.map((w) => w.address)]))
  const bootstrap = join(root, `${name}-bootstrap.json`)
  writeFileSync(bootstrap, JSON.stringify(daemons.map(entry)))
  const path = join(root, `${name}-config.yaml`)
  writeFileSync(path, `database: durable
listen:
  host: 127.0.0.1
http:
  host: 127.0.0.1
  readyz: sticky
registry:
  file: ${registry}
bootstrap:
  file: ${bootstrap}
stdin: true
log:
  level: info
options:
  bootstrapFirstRetryDelayMs: 200
  bootstrapRetryIntervalMs: 500
  discoveryLookupIntervalMs: 1000
  sticky: { pollIntervalMs: 1000 }
`)
  return path
}

function start (s: Spec, config: string): DaemonProcess {
  const p = new DaemonProcess(s.name, ['start', '--config', config], {
    DEPIN_KEY_FILE: s.keyFile,
    DEPIN_DATA_DIR: s.dataDir,
    DEPIN_QUIC_PORT: String(s.ports.quic),
    DEPIN_TCP_PORT: String(s.ports.tcp),
    DEPIN_HTTP_PORT: String(s.http)
  })
  running.push(p)
  return p
}

async function stickyReady (s: Spec, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await httpGet(s.http, '/readyz')).status !== 200) {
    if (Date.now() > deadline) throw new Error(`${s.name}: /readyz not 200 after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const acked = (p: DaemonProcess): string[] => p.lines.filter((l) => l.type === 'published' && l.sticky === true).map((l) => l.id as string)

/** An in-process node that subscribes to `topic` with history and collects what it gets. */
async function lateJoiner (registry: TestRegistry, wallet: Wallet, boot: Spec[], topic: string): Promise<{ db: Database, got: StickyMessage[] }> {
  const { db } = await startNode({ wallet, registry, databaseName: 'durable', name: 'late', bootstrap: () => boot.map(entry) })
  inProcess.push(db)
  await db.sticky.waitUntilReady({ signal: AbortSignal.timeout(20_000) })
  const got: StickyMessage[] = []
  await db.sticky.subscribe(topic, { onMessage: (m) => { got.push(m) } })
  return { db, got }
}

function expectAllOnce (got: StickyMessage[], ids: string[]): void {
  const counts = new Map<string, number>()
  for (const m of got) counts.set(m.messageId, (counts.get(m.messageId) ?? 0) + 1)
  expect([...counts.values()].every((c) => c === 1)).toBe(true)
  const missing = ids.filter((id) => !counts.has(id))
  expect(missing).toEqual([])
}

beforeAll(() => { buildDist() })
afterAll(async () => {
  await Promise.allSettled(inProcess.map(async (d) => { await d.disconnect({ flushTimeoutMs: 500 }) }))
  await Promise.allSettled(running.map(async (p) => { await p.kill() }))
})

describe('durable sticky history across process deaths', () => {
  it('three daemons SIGKILLed at once (also mid-stream) keep every acknowledged message; a new node gets each exactly once', async () => {
    const nodes = await specs('k', 3)
    const late = newWallet()
    const config = writeConfig('kill', nodes, [late])
    let procs = nodes.map((s) => start(s, config))
    await Promise.all(nodes.map(async (s) => { await stickyReady(s) }))
    const [a] = procs

    // a second process on a data dir in use: clear error, exit code 2
    const intruder = new DaemonProcess('intruder', ['start', '--config', config], {
      DEPIN_KEY_FILE: nodes[0]!.keyFile, DEPIN_DATA_DIR: nodes[0]!.dataDir, DEPIN_QUIC_PORT: '0', DEPIN_TCP_PORT: '0', DEPIN_HTTP_PORT: '0'
    })
    running.push(intruder)

    for (let i = 0; i < 500; i++) a!.send({ topic: 'hist', data: { i, text: `message ${i}` }, sticky: true })
    const exited = await intruder.exit
    expect(exited.code).toBe(2)
    expect(intruder.logs.join('\n')).toMatch(/data dir .* is in use by another process/)
    await waitFor(() => acked(a!).length >= 500, 60_000, `500 acknowledgements (got ${acked(a!).length})`)
    expect(a!.lines.filter((l) => l.type === 'error')).toEqual([])

    // a stream of publishes; all three are killed while it runs
    for (let i = 500; i < 1000; i++) a!.send({ topic: 'hist', data: { i, text: `message ${i}` }, sticky: true })
    await waitFor(() => acked(a!).length >= 560, 30_000, 'the stream under way')
    for (const p of procs) p.child.kill('SIGKILL')
    await Promise.all(procs.map(async (p) => await p.exit))
    const ack = acked(a!)
    expect(ack.length).toBeGreaterThanOrEqual(560)
    expect(ack.length).toBeLessThan(1000) // killed mid-stream

    procs = nodes.map((s) => start(s, config))
    await Promise.all(nodes.map(async (s) => { await stickyReady(s) }))
    const registry = new TestRegistry()
    registry.add(...nodes.map((s) => s.wallet.address), late.address)
    const { got } = await lateJoiner(registry, late, nodes, 'hist')
    await waitFor(() => ack.every((id) => got.some((m) => m.messageId === id)), 20_000, `every acknowledged message (got ${got.length} of ${ack.length} acknowledged)`)
    await new Promise((resolve) => setTimeout(resolve, 1_500)) // a poll round: duplicates would show
    expectAllOnce(got, ack)
    // every message delivered is whole: the data it was published with
    for (const m of got) {
      const d = m.data as { i: number, text: string }
      expect(d.text).toBe(`message ${d.i}`)
    }
    expect(new Set(got.filter((m) => (m.data as { i: number }).i < 500).map((m) => (m.data as { i: number }).i)).size).toBe(500)
  }, 180_000)

  it('a rolling restart of five daemons with a publisher running throughout loses no acknowledged message', async () => {
    const nodes = await specs('r', 5)
    const publisherWallet = newWallet()
    const late = newWallet()
    const config = writeConfig('roll', nodes, [publisherWallet, late])
    const procs = nodes.map((s) => start(s, config))
    await Promise.all(nodes.map(async (s) => { await stickyReady(s) }))
    const registry = new TestRegistry()
    registry.add(...nodes.map((s) => s.wallet.address), publisherWallet.address, late.address)
    const { db: publisher } = await startNode({ wallet: publisherWallet, registry, databaseName: 'durable', name: 'publisher', bootstrap: () => nodes.map(entry) })
    inProcess.push(publisher)
    await publisher.sticky.waitUntilReady({ signal: AbortSignal.timeout(20_000) })

    const ack: string[] = []
    let failed = 0
    let stop = false
    const publishing = (async () => {
      for (let i = 0; !stop; i++) {
        await Promise.all(Array.from({ length: 5 }, async (_, j) => {
          try {
            ack.push((await publisher.sticky.publish('roll', { i, j })).messageId)
          } catch {
            failed++
          }
        }))
      }
    })()

    for (let i = 0; i < nodes.length; i++) {
      const before = ack.length
      procs[i]!.child.kill('SIGTERM')
      const { code } = await procs[i]!.exit
      expect(code).toBe(0)
      procs[i] = start(nodes[i]!, config)
      await stickyReady(nodes[i]!)
      await waitFor(() => ack.length > before, 20_000, 'publishes acknowledged during this step')
    }
    stop = true
    await publishing
    expect(ack.length).toBeGreaterThan(0)

    const { got } = await lateJoiner(registry, late, nodes, 'roll')
    await waitFor(() => ack.every((id) => got.some((m) => m.messageId === id)), 20_000, `every acknowledged message (got ${got.length} of ${ack.length})`)
    expectAllOnce(got, ack)
    console.log(`rolling restart: ${ack.length} acknowledged, ${failed} publishes failed (not acknowledged), ${got.length} delivered to the late joiner`)
  }, 360_000)
})
