/*
 * Read-only inspection of a running node for its operator, served on a second HTTP listener
 * (`inspect.host`, 127.0.0.1 by default: the answers name peers, addresses and topics, which the
 * public /metrics listener does not):
 *   /node           this node: identity, database, readiness, listen addresses
 *   /peers          authorized peers: addresses, connections (transport, direction), latency
 *   /topics         sticky topics this node writes, holds as a replica or subscribes to, with topicInfo
 *   /topics/<name>  topicInfo, the replica set, the current heads and this node's last commits
 * Nothing here changes state; topic answers read the topic's replicas like topicInfo() does.
 */
import { createServer, type Server } from 'node:http'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection } from '@libp2p/interface'
import type { DatabaseImpl as Database } from '../database.js'
import { peerIdToWallet } from '../identity.js'
import { closeServer, listenOn } from './http-listen.js'

/** Commits remembered per topic for /topics/<name>. */
const LAST_COMMITS = 10
/** Topics answered by /topics at most (each costs a read of its replicas); `total` says how many. */
const MAX_TOPICS = 100

export interface InspectDeps {
  db: Database
  database: string
  /** sticky topics the daemon subscribes to (the bridged ones) */
  subscribedTopics: () => readonly string[]
}

interface Commit { version: number, items: number, durationMs: number, at: number }
type Role = 'writer' | 'replica' | 'subscriber'

export class Inspector {
  private readonly commits = new Map<string, Commit[]>()
  private readonly startedAt = Date.now()

  constructor (private readonly deps: InspectDeps) {
    deps.db.sticky.on('commit', (c) => {
      const list = this.commits.get(c.topic) ?? []
      list.push({ version: c.version, items: c.items, durationMs: c.durationMs, at: Date.now() })
      if (list.length > LAST_COMMITS) list.shift()
      this.commits.set(c.topic, list)
    })
  }

  node (): Record<string, unknown> {
    const { db } = this.deps
    return {
      peerId: db.peerId,
      wallet: db.walletAddress,
      database: this.deps.database,
      ready: db.isReady(),
      peers: db.connectedPeers().length,
      connections: db.libp2p.getConnections().length,
      addrs: db.libp2p.getMultiaddrs().map(String),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000)
    }
  }

  async peers (): Promise<Array<Record<string, unknown>>> {
    const { db } = this.deps
    return await Promise.all(db.connectedPeers().map(async (p) => {
      const conns = db.libp2p.getConnections(peerIdFromString(p.peerId))
      return {
        peerId: p.peerId,
        wallet: p.wallet,
        addrs: p.addrs,
        connections: conns.map((c) => ({
          addr: c.remoteAddr.toString(), transport: transportOf(c), direction: c.direction, openedAt: c.timeline.open, ...(c.limits != null ? { limited: true } : {})
        })),
        latencyMs: await this.latency(p.peerId, conns)
      }
    }))
  }

  async topics (): Promise<{ total: number, topics: Array<Record<string, unknown>> }> {
    const roles = await this.roles()
    const names = [...roles.keys()].sort()
    const topics = await mapLimited(names.slice(0, MAX_TOPICS), 8, async (topic) => ({ topic, roles: roles.get(topic), info: await this.info(topic) }))
    return { total: names.length, topics }
  }

  async topic (topic: string): Promise<Record<string, unknown>> {
    const { db } = this.deps
    const connected = new Set(db.libp2p.getConnections().map((c) => c.remotePeer.toString()))
    const [roles, info, replicas, heads] = await Promise.all([
      this.roles(),
      this.info(topic),
      db.sticky.store.replicas(topic),
      db.sticky.loadCoordinator(topic).catch(() => [])
    ])
    return {
      topic,
      roles: roles.get(topic) ?? [],
      info,
      replicas: replicas.map((p) => ({ peerId: p.toString(), wallet: walletOf(p.toString()), connected: connected.has(p.toString()) })),
      heads: heads.map(({ id, head }) => ({ id, version: head.version, writer: head.writer, lastModified: head.lastModified, state: head.state, retired: head.retired })),
      commits: [...(this.commits.get(topic) ?? [])].reverse()
    }
  }

  private async roles (): Promise<Map<string, Role[]>> {
    const roles = new Map<string, Role[]>()
    const add = (topic: string, role: Role): void => { roles.set(topic, [...(roles.get(topic) ?? []), role]) }
    for (const topic of this.commits.keys()) add(topic, 'writer')
    for (const topic of await this.deps.db.sticky.store.localTopics()) add(topic, 'replica')
    for (const topic of this.deps.subscribedTopics()) add(topic, 'subscriber')
    return roles
  }

  private async info (topic: string): Promise<unknown> {
    return await this.deps.db.sticky.topicInfo(topic).catch((err: Error) => ({ error: err.message }))
  }

  /** The connection monitor's round trip time, or one ping (bounded) while it has none yet. */
  private async latency (peerId: string, conns: Connection[]): Promise<number | null> {
    const rtt = conns.find((c) => c.rtt != null)?.rtt
    if (rtt != null) return rtt
    return await this.deps.db.libp2p.services.ping.ping(peerIdFromString(peerId), { signal: AbortSignal.timeout(1_000) }).catch(() => null)
  }
}

function transportOf (c: Connection): string {
  const addr = c.remoteAddr.toString()
  if (addr.includes('/p2p-circuit')) return 'relay'
  if (addr.includes('/quic-v1')) return 'quic'
  if (addr.includes('/tcp/')) return 'tcp'
  return 'other'
}

function walletOf (peerId: string): string | null {
  try { return peerIdToWallet(peerId) ?? null } catch { return null }
}

async function mapLimited<T, R> (items: T[], limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await f(items[i]!) }
  }))
  return out
}

/** The inspection listener: GET only, JSON answers. */
export class InspectServer {
  private server: Server | undefined

  constructor (private readonly inspector: Inspector) {}

  async listen (host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      const send = (status: number, body: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n') }
      if (req.method !== 'GET') { res.writeHead(405, { allow: 'GET' }).end(); return }
      const path = (req.url ?? '/').split('?')[0]!
      let answer: Promise<unknown> | undefined
      if (path === '/node') answer = Promise.resolve(this.inspector.node())
      else if (path === '/peers') answer = this.inspector.peers()
      else if (path === '/topics') answer = this.inspector.topics()
      else if (path.startsWith('/topics/') && path.length > 8) {
        let topic: string
        try { topic = decodeURIComponent(path.slice(8)) } catch { send(400, { error: 'bad topic encoding' }); return }
        answer = this.inspector.topic(topic)
      }
      if (answer == null) { send(404, { error: 'not found: try /node, /peers, /topics or /topics/<name>' }); return }
      answer.then((body) => { send(200, body) }, (err: unknown) => { send(500, { error: err instanceof Error ? err.message : String(err) }) })
    })
    this.server = server
    return await listenOn(server, host, port)
  }

  async close (): Promise<void> {
    const server = this.server
    if (server == null) return
    this.server = undefined
    await closeServer(server)
  }
}
