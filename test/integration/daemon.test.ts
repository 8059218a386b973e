/*
 * The container's entrypoint command (`node dist/cli.js start --config FILE`, deploy/Dockerfile) run
 * as three local processes on loopback, configured like deploy/docker-compose.yml: a shared registry
 * file, node A as bootstrap, per-node settings from DEPIN_* env. Covers readiness flipping on
 * /readyz, an event crossing through the stdin/stdout bridge, /metrics after real traffic, a graceful
 * SIGTERM that flushes a pending sticky batch, and a registry file change dropping a peer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync, renameSync, statSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { loadDaemonConfig } from '../../src/daemon/load-config.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePorts } from '../../support/cluster.js'
import { DaemonProcess, ROOT, buildDist, cli, containerCommand, httpGet, metricValue } from '../../support/daemon-process.js'

const dir = mkdtempSync(join(tmpdir(), 'depin-daemon-'))
const nodes: DaemonProcess[] = []
interface NodeSpec { name: string, keyFile: string, address: string, ports: { quic: number, tcp: number }, http: number }
const specs: NodeSpec[] = []

function writeJson (name: string, value: unknown): string {
  const path = join(dir, name)
  writeFileSync(path + '.tmp', JSON.stringify(value))
  renameSync(path + '.tmp', path)
  return path
}

function start (spec: NodeSpec, config: string, extraEnv: NodeJS.ProcessEnv = {}): DaemonProcess {
  const p = new DaemonProcess(spec.name, containerCommand(config), {
    DEPIN_KEY_FILE: spec.keyFile,
    DEPIN_QUIC_PORT: String(spec.ports.quic),
    DEPIN_TCP_PORT: String(spec.ports.tcp),
    DEPIN_HTTP_PORT: String(spec.http),
    DEPIN_HTTP_HOST: '127.0.0.1',
    DEPIN_LOG_LEVEL: 'info',
    ...extraEnv
  })
  nodes.push(p)
  return p
}

async function readyz (spec: NodeSpec): Promise<number> { return (await httpGet(spec.http, '/readyz')).status }

describe('depin-node daemon: three processes from the container entrypoint', () => {
  let a: DaemonProcess, b: DaemonProcess, c: DaemonProcess
  let registryFile: string
  let baseConfig: string
  let cConfig: string

  beforeAll(async () => {
    buildDist()
    for (const name of ['a', 'b', 'c']) {
      const keyFile = join(dir, `${name}.json`)
      const out = cli(['keygen', '--out', keyFile])
      expect(out.status).toBe(0)
      const { address } = JSON.parse(out.stdout) as { address: string }
      specs.push({ name, keyFile, address, ports: await freePorts(), http: (await freePorts()).tcp })
    }
    registryFile = writeJson('registry.json', specs.map((s) => s.address))
    const bootstrapFile = writeJson('bootstrap.json', [{ publicKey: specs[0]!.address, ip: '127.0.0.1', quicPort: specs[0]!.ports.quic, tcpPort: specs[0]!.ports.tcp }])
    const config = (name: string, stickyTopics: string, sticky = ''): string => {
      const path = join(dir, name)
      writeFileSync(path, `database: dc-test
listen:
  host: 127.0.0.1
registry:
  file: ${registryFile}
bootstrap:
  file: ${bootstrapFile}
topics:
  realtime: [chat]
  sticky: [${stickyTopics}]
stdin: true
options:
  bootstrapFirstRetryDelayMs: 200
  bootstrapRetryIntervalMs: 500
  discoveryLookupIntervalMs: 1000
${sticky}`)
      return path
    }
    baseConfig = config('node.yaml', 'log')
    // node C queues sticky publishes for a minute: only a graceful stop's flush can commit them in time
    cConfig = config('c.yaml', '', '  sticky:\n    flushDelayMs: 60000\n')
  }, 120_000)

  afterAll(async () => {
    await Promise.all(nodes.map(async (n) => { await n.kill() }))
  })

  it('bootstrap node alone is alive but not ready; all three become ready once connected', async () => {
    a = start(specs[0]!, baseConfig)
    await expect.poll(async () => (await httpGet(specs[0]!.http, '/healthz')).status, { timeout: 20_000, interval: 200 }).toBe(200)
    expect(await readyz(specs[0]!)).toBe(503)
    b = start(specs[1]!, baseConfig)
    c = start(specs[2]!, cConfig)
    for (const s of specs) await expect.poll(async () => await readyz(s), { timeout: 30_000, interval: 250 }).toBe(200)
    const body = JSON.parse((await httpGet(specs[0]!.http, '/readyz')).body) as { ready: boolean, peers: number }
    expect(body.ready).toBe(true)
    expect(body.peers).toBeGreaterThanOrEqual(1)
    // every log line names the node that wrote it
    const logLines = a.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { peer?: string })
    expect(logLines.length).toBeGreaterThan(0)
    expect(logLines.every((l) => typeof l.peer === 'string' && l.peer.startsWith('12D3Koo'))).toBe(true)
    const secret = JSON.parse(readFileSync(specs[0]!.keyFile, 'utf8')) as number[]
    expect(a.logs.join('\n')).not.toContain(secret.slice(0, 8).join(',')) // the key is never logged
  }, 60_000)

  it('an event written to B\'s stdin reaches A and C on stdout, and /metrics counts it', async () => {
    await expect.poll(() => {
      b.send({ topic: 'chat', data: { hello: 'from b', n: 1 } })
      return b.lines.some((l) => l.type === 'published')
    }, { timeout: 20_000, interval: 1_000 }).toBe(true)
    const id = b.lines.find((l) => l.type === 'published')!.id as string
    for (const n of [a, c]) await expect.poll(() => n.lines.some((l) => l.type === 'event' && l.event.id === id), { timeout: 10_000 }).toBe(true)
    const seen = a.lines.find((l) => l.type === 'event' && l.event.id === id)!
    expect(seen).toMatchObject({ topic: 'chat', event: { message: { hello: 'from b', n: 1 } } })
    b.send({ topic: 'chat' }) // malformed: reported, not published
    await expect.poll(() => b.lines.some((l) => l.type === 'error'), { timeout: 5_000 }).toBe(true)

    const metrics = (await httpGet(specs[0]!.http, '/metrics')).body
    expect(metricValue(metrics, 'depin_events_received_total')).toBeGreaterThanOrEqual(1)
    expect(metricValue(metrics, 'depin_ready')).toBe(1)
    expect(metricValue(metrics, 'depin_connected_peers')).toBeGreaterThanOrEqual(1)
    expect(metricValue(metrics, 'depin_registry_wallets')).toBe(3)
    expect(metricValue(metrics, 'depin_registry_refreshes_total')).toBeGreaterThanOrEqual(1)
    // inboundUpgraded: every connection passes it (QUIC, now dialled first, never passes the encrypted-connection hooks)
    expect(metricValue(metrics, 'depin_gater_decisions_total{hook="inboundUpgraded",decision="allow"}')).toBeGreaterThanOrEqual(1)
    expect(metrics).toMatch(/^depin_bridge_stdout_lines_total\{kind="event"\} [1-9]/m)
    expect(metrics).toMatch(/^libp2p_/m) // libp2p's own metrics in the same registry
    expect(metrics).toMatch(/^depin_sticky_commit_duration_seconds_bucket/m)
    const bMetrics = (await httpGet(specs[1]!.http, '/metrics')).body
    expect(metricValue(bMetrics, 'depin_events_published_total')).toBeGreaterThanOrEqual(1)
    expect(metricValue(bMetrics, 'depin_bridge_stdin_lines_total{result="invalid"}')).toBe(1)
  }, 60_000)

  it('SIGTERM flushes a pending sticky batch, unsubscribes and exits 0 within the deadline', async () => {
    c.send({ topic: 'log', data: { last: 'words' }, sticky: true })
    // the line is read and queued for 60 s (flushDelayMs); stop now
    await expect.poll(() => c.logs.length, { timeout: 2_000 }).toBeGreaterThan(0)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const sentAt = Date.now()
    c.child.kill('SIGTERM')
    const exit = await c.exit
    expect(exit.code).toBe(0)
    expect(exit.at - sentAt).toBeLessThan(10_000)
    const published = c.lines.find((l) => l.type === 'published' && l.sticky === true)
    expect(published).toBeDefined()
    // A subscribed to the sticky topic: it receives the flushed message exactly once
    await expect.poll(() => a.lines.filter((l) => l.type === 'sticky' && l.message.messageId === published!.id).length, { timeout: 15_000 }).toBe(1)
    expect(a.lines.find((l) => l.type === 'sticky')!.message).toMatchObject({ topic: 'log', data: { last: 'words' }, publisher: specs[2]!.address })
    const metrics = (await httpGet(specs[2]!.http, '/metrics'))
    expect(metrics.status).toBe(0) // HTTP server closed with the process
  }, 60_000)

  it('a registry file change is picked up at once: a removed wallet is disconnected and readiness flips', async () => {
    await expect.poll(async () => await readyz(specs[0]!), { timeout: 15_000 }).toBe(200)
    writeJson('registry.json', [specs[0]!.address]) // B and C removed; refresh interval is 30 s, the watcher reacts now
    await expect.poll(async () => metricValue((await httpGet(specs[0]!.http, '/metrics')).body, 'depin_registry_wallets'), { timeout: 10_000 }).toBe(1)
    await expect.poll(async () => await readyz(specs[0]!), { timeout: 10_000 }).toBe(503)
    writeJson('registry.json', specs.map((s) => s.address))
    await expect.poll(async () => await readyz(specs[0]!), { timeout: 30_000, interval: 500 }).toBe(200)
  }, 60_000)

  it('SIGINT stops the remaining nodes cleanly', async () => {
    for (const n of [a, b]) n.child.kill('SIGINT')
    for (const n of [a, b]) expect((await n.exit).code).toBe(0)
    for (const n of [a, b]) expect(n.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true)
  }, 30_000)

  it('deploy/: init-cluster.sh output, the compose services and the k8s ConfigMap all make valid daemon configs', async () => {
    const out = join(dir, 'cluster')
    execFileSync('bash', [join(ROOT, 'deploy', 'init-cluster.sh'), out], { stdio: 'pipe' })
    const registry = JSON.parse(readFileSync(join(out, 'registry.json'), 'utf8')) as string[]
    const bootstrap = JSON.parse(readFileSync(join(out, 'bootstrap.json'), 'utf8')) as Array<{ publicKey: string, ip: string }>
    expect(registry).toHaveLength(4) // a-c for compose, d for the 4-pod StatefulSet
    expect(bootstrap).toEqual([{ publicKey: registry[0], ip: '172.28.0.11', quicPort: 4001, tcpPort: 4002 }])
    for (const n of ['a', 'b', 'c', 'd']) expect(statSync(join(out, 'keys', `${n}.json`)).mode & 0o777).toBe(0o600)

    const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8')
    const dockerEnv = Object.fromEntries([...dockerfile.matchAll(/(DEPIN_[A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]))
    expect(dockerfile).toMatch(/^FROM node:20-slim AS build$/m)
    expect(dockerfile).toMatch(/^USER node$/m)
    expect(dockerfile).toMatch(/^EXPOSE 4001\/udp 4002\/tcp 9464\/tcp$/m)
    expect(dockerfile).toMatch(/HEALTHCHECK[\s\S]*\/readyz/)
    expect(dockerfile).toContain('npm prune --omit=dev')

    const compose = parseYaml(readFileSync(join(ROOT, 'deploy', 'docker-compose.yml'), 'utf8'), { merge: true }) as any
    const configFile = join(ROOT, 'deploy', 'config.yaml')
    for (const [name, service] of Object.entries<any>(compose.services).filter(([n]) => n.startsWith('node-'))) {
      const config = await loadDaemonConfig({ file: configFile, env: { ...dockerEnv, ...service.environment } })
      expect(config.keyFile, name).toBe(`/run/secrets/${service.secrets[0] as string}`)
      expect(compose.secrets[service.secrets[0]].file).toMatch(/^\.\/cluster\/keys\/[abc]\.json$/)
      expect(service.volumes.map((v: string) => v.split(':')[1])).toEqual(expect.arrayContaining([config.registry.file, config.bootstrap.file, '/etc/depin-node/config.yaml']))
      expect(config.http.port).toBe(9464)
      // each node's records on its own named volume at the configured data dir
      expect(service.volumes).toContain(`data-${name.slice(-1)}:${config.dataDir!}`)
      expect(compose.volumes).toHaveProperty(`data-${name.slice(-1)}`)
    }
    expect(compose.services['node-a'].networks.depin.ipv4_address).toBe(bootstrap[0]!.ip)

    const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'k8s', 'depin-node.yaml'), 'utf8')).map((d) => d.toJS())
    const configMap = docs.find((d) => d.kind === 'ConfigMap')
    const k8sConfig = join(dir, 'k8s-config.yaml')
    writeFileSync(k8sConfig, (configMap.data['config.yaml'] as string).replace('REPLACE_WITH_NODE0_WALLET', registry[0]!))
    const config = await loadDaemonConfig({ file: k8sConfig, env: { ...dockerEnv, DEPIN_KEY_FILE: '/run/secrets/depin/depin-node-0.json' } })
    expect(config.bootstrap.nodes[0]).toContain('@10.96.100.10:4001:4002')
    const statefulSet = docs.find((d) => d.kind === 'StatefulSet')
    expect(statefulSet.spec.template.spec.containers[0].readinessProbe.httpGet.path).toBe('/readyz')
    // safe rollouts: /readyz waits for sticky readiness, every pod has its own volume at the data dir,
    // all pods start together, and a disruption budget keeps a write quorum up
    expect(config.http.readyz).toBe('sticky')
    const claim = statefulSet.spec.volumeClaimTemplates[0].metadata.name
    expect(statefulSet.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: claim, mountPath: config.dataDir })
    expect(statefulSet.spec.podManagementPolicy).toBe('Parallel')
    const pdb = docs.find((d) => d.kind === 'PodDisruptionBudget')
    expect(pdb.spec.minAvailable).toBe(3)
    expect(statefulSet.spec.replicas).toBeGreaterThan(pdb.spec.minAvailable)
  })
})
