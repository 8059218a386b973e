/*
 * The Grafana dashboard (deploy/grafana/depin-p2p.json) cannot rot: every metric its queries use,
 * and every label they select or group by, exists in the registry of a real daemon node (the
 * project's metrics, libp2p's and the process metrics, as one running node registers them). The
 * compose `monitoring` profile mounts files that exist and scrapes the compose nodes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Keypair } from '@solana/web3.js'
import { parse as parseYaml } from 'yaml'
import { connect, silentLogger, type Database } from '../../src/index.js'
import { createDaemonMetrics } from '../../src/daemon/metrics.js'
import { ROOT } from '../../support/daemon-process.js'

const DEPLOY = join(ROOT, 'deploy')
/** labels Prometheus adds to every scraped series, and the histogram bucket label */
const SCRAPE_LABELS = new Set(['instance', 'job'])

interface Panel { title?: string, type: string, targets?: Array<{ expr: string }>, panels?: Panel[] }

function queries (): Array<{ panel: string, expr: string }> {
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'depin-p2p.json'), 'utf8')) as {
    panels: Panel[], templating: { list: Array<{ name: string, query?: string | { query: string } }> }
  }
  const out: Array<{ panel: string, expr: string }> = []
  const walk = (panels: Panel[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) out.push({ panel: p.title ?? p.type, expr: t.expr })
      walk(p.panels ?? [])
    }
  }
  walk(dashboard.panels)
  for (const v of dashboard.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query
    if (q != null && v.name !== 'datasource') out.push({ panel: `variable ${v.name}`, expr: q })
  }
  return out
}

/** metric name -> its label names, and which are histograms, from a live registry */
let known: Map<string, Set<string>>
let db: Database | undefined

beforeAll(async () => {
  const metrics = createDaemonMetrics()
  const wallet = Keypair.generate()
  db = await connect({
    walletPrivateKey: wallet.secretKey,
    databaseName: 'dashboard-test',
    listenHost: '127.0.0.1',
    listenPorts: { quic: 0, tcp: 0 },
    getAuthorizedWallets: async () => [wallet.publicKey.toBase58()],
    getBootstrapNodes: async () => [],
    logger: silentLogger,
    libp2pMetrics: metrics.libp2p as never
  })
  metrics.attach(db)
  known = new Map()
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const labels = new Set<string>((metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? [])
    if (String(m.type) === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) known.set(m.name + suffix, suffix === '_bucket' ? new Set([...labels, 'le']) : labels)
    } else {
      known.set(m.name, labels)
    }
  }
}, 60_000)

afterAll(async () => { await db?.disconnect() })

describe('Grafana dashboard', () => {
  it('queries only metrics and labels a running daemon exports', () => {
    const list = queries()
    expect(list.length).toBeGreaterThan(15)
    expect(known.size).toBeGreaterThan(100) // libp2p and process metrics were registered too
    const problems: string[] = []
    for (const { panel, expr } of list) {
      const names = [...expr.matchAll(/\b((?:depin|libp2p|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!)
      if (names.length === 0) problems.push(`${panel}: no metric in ${expr}`)
      const labelsOfExpr = new Set<string>(SCRAPE_LABELS)
      for (const name of names) {
        const labels = known.get(name)
        if (labels == null) { problems.push(`${panel}: unknown metric ${name}`); continue }
        for (const l of labels) labelsOfExpr.add(l)
      }
      // label matchers right after a metric name: name{label="x", other=~"y"}
      for (const m of expr.matchAll(/\b([a-z0-9_]+)\{([^}]*)\}/g)) {
        const labels = known.get(m[1]!)
        for (const matcher of m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
          if (labels != null && !labels.has(matcher[1]!) && !SCRAPE_LABELS.has(matcher[1]!)) problems.push(`${panel}: ${m[1]} has no label ${matcher[1]}`)
        }
      }
      // grouping labels: by (a, b)
      for (const m of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
        for (const l of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
          if (!labelsOfExpr.has(l)) problems.push(`${panel}: groups by ${l}, which none of ${names.join(', ')} has`)
        }
      }
    }
    expect(problems).toEqual([])
  })

  it('covers readiness, peers, gater, events, sticky commits and latency, replicas and registry age', () => {
    const all = queries().map((q) => q.expr).join('\n')
    for (const metric of [
      'depin_ready', 'depin_connected_peers', 'depin_gater_decisions_total', 'depin_events_published_total',
      'depin_events_received_total', 'depin_events_dropped_total', 'depin_sticky_commits_total',
      'depin_sticky_commit_duration_seconds_bucket', 'depin_sticky_replica_requests_total',
      'depin_sticky_replica_records_total', 'depin_registry_last_success_timestamp_seconds'
    ]) expect(all, metric).toContain(metric)
    expect(all).toMatch(/histogram_quantile\(0\.99,/)
  })

  it('the compose monitoring profile mounts files that exist and scrapes every node', () => {
    const compose = parseYaml(readFileSync(join(DEPLOY, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { profiles?: string[], volumes?: string[] }>
    }
    const nodes = Object.keys(compose.services).filter((s) => s.startsWith('node-'))
    for (const name of ['prometheus', 'grafana']) {
      const service = compose.services[name]!
      expect(service.profiles).toEqual(['monitoring'])
      for (const volume of service.volumes ?? []) expect(existsSync(join(DEPLOY, volume.split(':')[0]!)), volume).toBe(true)
    }
    const prometheus = parseYaml(readFileSync(join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ metrics_path: string, static_configs: Array<{ targets: string[] }> }>
    }
    const job = prometheus.scrape_configs[0]!
    expect(job.metrics_path).toBe('/metrics')
    expect(job.static_configs.flatMap((c) => c.targets).sort()).toEqual(nodes.map((n) => `${n}:9464`).sort())
  })
})
