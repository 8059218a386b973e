/*
 * The read-only inspection listener and the `depin-node status` / `depin-node topics` commands, on
 * two real daemon processes (`node dist/cli.js start`): node A (bootstrap, inspection listener on
 * the default 127.0.0.1) and node B (listener widened to 0.0.0.0), both bridging the sticky topic
 * `log`; B publishes to it through stdin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePorts } from '../../support/cluster.js'
import { DaemonProcess, buildDist, cli, httpGet } from '../../support/daemon-process.js'

const dir = mkdtempSync(join(tmpdir(), 'depin-inspect-'))
interface Node { name: string, keyFile: string, address: string, peerId: string, ports: { quic: number, tcp: number }, http: number, inspect: number, proc?: DaemonProcess }
const nodes: Node[] = []

/** Local address a TCP port listens on, from /proc/net/tcp (Linux): '127.0.0.1', '0.0.0.0', ... */
function listenAddress (port: number): string | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [local, , state] = line.trim().split(/\s+/).slice(1, 4)
    if (state !== '0A' || local == null || !local.endsWith(`:${hexPort}`)) continue // 0A = LISTEN
    const hex = local.split(':')[0]!
    return [3, 2, 1, 0].map((i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16)).join('.')
  }
  return undefined
}

async function waitFor (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

async function get (node: Node, path: string): Promise<any> {
  const r = await httpGet(node.inspect, path)
  expect(r.status, `${path}: ${r.body}`).toBe(200)
  return JSON.parse(r.body)
}

describe('inspection endpoints and commands on running daemons', () => {
  let a: Node, b: Node

  beforeAll(async () => {
    buildDist()
    for (const name of ['a', 'b']) {
      const keyFile = join(dir, `${name}.json`)
      const out = cli(['keygen', '--out', keyFile])
      expect(out.status).toBe(0)
      const { address, peerId } = JSON.parse(out.stdout) as { address: string, peerId: string }
      nodes.push({ name, keyFile, address, peerId, ports: await freePorts(), http: (await freePorts()).tcp, inspect: (await freePorts()).tcp })
    }
    [a, b] = nodes as [Node, Node]
    writeFileSync(join(dir, 'registry.json'), JSON.stringify(nodes.map((n) => n.address)))
    writeFileSync(join(dir, 'config.yaml'), `database: inspect-test
listen: { host: 127.0.0.1 }
registry: { file: ${join(dir, 'registry.json')} }
bootstrap: { nodes: ['${a.address}@127.0.0.1:${a.ports.quic}:${a.ports.tcp}'] }
topics: { sticky: [log] }
stdin: true
options: { bootstrapFirstRetryDelayMs: 200, bootstrapRetryIntervalMs: 500, sticky: { writeQuorum: 2 } }
`)
    for (const n of nodes) {
      n.proc = new DaemonProcess(n.name, ['start', '--config', join(dir, 'config.yaml')], {
        DEPIN_KEY_FILE: n.keyFile,
        DEPIN_QUIC_PORT: String(n.ports.quic),
        DEPIN_TCP_PORT: String(n.ports.tcp),
        DEPIN_HTTP_HOST: '127.0.0.1',
        DEPIN_HTTP_PORT: String(n.http),
        DEPIN_INSPECT_PORT: String(n.inspect),
        ...(n === b ? { DEPIN_INSPECT_HOST: '0.0.0.0' } : {}),
        DEPIN_LOG_LEVEL: 'warn'
      })
    }
    for (const n of nodes) await waitFor(`${n.name} ready`, async () => (await httpGet(n.http, '/readyz')).status === 200)
    // B publishes to the sticky topic; A (subscribed) receives it
    b.proc!.send({ topic: 'log', data: { hello: 'inspect' }, sticky: true })
    await waitFor('the sticky message at A', () => a.proc!.lines.some((l) => l.type === 'sticky' && l.message.data?.hello === 'inspect'))
  }, 120_000)

  afterAll(async () => {
    for (const n of nodes) n.proc?.child.kill('SIGTERM')
    await Promise.all(nodes.map(async (n) => { if (n.proc != null) await Promise.race([n.proc.exit, new Promise((resolve) => setTimeout(resolve, 15_000))]) }))
    await Promise.all(nodes.map(async (n) => { await n.proc?.kill() }))
  }, 30_000)

  it('listens on 127.0.0.1 by default (and where inspect.host says), apart from /metrics', async () => {
    if (existsSync('/proc/net/tcp')) {
      expect(listenAddress(a.inspect)).toBe('127.0.0.1')
      expect(listenAddress(b.inspect)).toBe('0.0.0.0')
    }
    expect((await httpGet(a.inspect, '/metrics')).status).toBe(404) // /metrics, /healthz, /readyz stay on http.port
    expect((await httpGet(a.http, '/peers')).status).toBe(404)
  })

  it('/node and /peers: identity, readiness, authorized peers with addresses, transport and latency', async () => {
    const node = await get(a, '/node')
    expect(node).toMatchObject({ peerId: a.peerId, wallet: a.address, database: 'inspect-test', ready: true, peers: 1 })
    const peers = await get(a, '/peers') as any[]
    expect(peers).toHaveLength(1)
    expect(peers[0]).toMatchObject({ peerId: b.peerId, wallet: b.address })
    expect(peers[0].addrs.length).toBeGreaterThan(0)
    expect(peers[0].connections.length).toBeGreaterThan(0)
    for (const c of peers[0].connections) expect(['quic', 'tcp']).toContain(c.transport)
    expect(peers[0].connections[0].addr).toMatch(/^\/ip4\/127\.0\.0\.1\//)
    expect(typeof peers[0].latencyMs).toBe('number')
  })

  it('/topics and /topics/<name>: roles, topicInfo, replica set, heads and commits', async () => {
    // each daemon records its subscription in the topic once it is sticky-ready, in the background:
    // B's entry may still be on its way when A has B's message
    let list: any
    await waitFor('both subscriptions recorded in the topic', async () => {
      list = await get(a, '/topics')
      return list.topics.find((t: any) => t.topic === 'log')?.info?.subscriberCount === 2
    })
    const log = list.topics.find((t: any) => t.topic === 'log')
    expect(log.roles).toEqual(expect.arrayContaining(['replica', 'subscriber']))
    expect(log.info).toMatchObject({ messageCount: 1, subscriberCount: 2, state: 'ACTIVE', retired: false })
    const fromB = await get(b, '/topics')
    expect(fromB.topics.find((t: any) => t.topic === 'log').roles).toEqual(expect.arrayContaining(['writer', 'replica', 'subscriber']))

    const detail = await get(b, '/topics/log')
    expect(detail.info.messageCount).toBe(1)
    expect(detail.replicas).toEqual([{ peerId: a.peerId, wallet: a.address, connected: true }])
    expect(detail.heads.length).toBeGreaterThan(0)
    expect(detail.heads[0].version).toBe(detail.info.version)
    expect(detail.commits.length).toBeGreaterThan(0)
    expect(detail.commits[0]).toMatchObject({ version: expect.any(Number), items: expect.any(Number), durationMs: expect.any(Number) })
    const unknown = await get(a, `/topics/${encodeURIComponent('no such/topic')}`)
    expect(unknown).toMatchObject({ topic: 'no such/topic', roles: [], info: { version: 0, messageCount: 0 } })
    expect((await httpGet(a.inspect, '/nothing')).status).toBe(404)
  })

  it('depin-node status and depin-node topics print tables, or JSON with --json', () => {
    const url = `http://127.0.0.1:${a.inspect}`
    const status = cli(['status', '--http', url])
    expect(status.status).toBe(0)
    expect(status.stdout).toContain(`node      ${a.peerId}`)
    expect(status.stdout).toMatch(/database +inspect-test +ready/)
    expect(status.stdout).toMatch(/^PEER +WALLET +TRANSPORT +DIR +ADDRESS +LATENCY$/m)
    expect(status.stdout).toMatch(new RegExp(`${b.address} +(quic|tcp) +(inbound|outbound) +/ip4/127\\.0\\.0\\.1/\\S+ +\\d+ ms`))
    const json = JSON.parse(cli(['status', '--http', url, '--json']).stdout)
    expect(json.node.peerId).toBe(a.peerId)
    expect(json.peers[0].peerId).toBe(b.peerId)

    const topics = cli(['topics', '--http', url])
    expect(topics.status).toBe(0)
    expect(topics.stdout).toMatch(/^TOPIC +ROLES +VERSION +MESSAGES +SUBSCRIBERS +STATE +MODIFIED$/m)
    expect(topics.stdout).toMatch(/^log +\S*replica\S* +\d+ +1 +2 +ACTIVE +\d+s ago$/m)
    const one = cli(['topics', 'log', '--http', `http://127.0.0.1:${b.inspect}`])
    expect(one.stdout).toMatch(/info +version \d+, 1 message\(s\), 2 subscriber\(s\), ACTIVE/)
    expect(one.stdout).toMatch(new RegExp(`^${a.peerId} +${a.address} +yes$`, 'm'))
    expect(JSON.parse(cli(['topics', 'log', '--http', url, '--json']).stdout).topic).toBe('log')

    const down = cli(['status', '--http', 'http://127.0.0.1:1'])
    expect(down.status).toBe(1)
    expect(down.stdout).toContain('no answer from http://127.0.0.1:1/node')
  })
})
