/*
 * A chaos cluster: N daemon processes (n1..nN), each in its own namespace on the chaos switch, with
 * wallets derived from the scenario's seed, one registry file (re-read by every daemon when it
 * changes) and n1 (by default) as bootstrap node. Every fault is a method that applies it and writes
 * it into the history, so the checker knows when links were healthy. Optional outsider nodes
 * (x1..) hold wallets that are not in the registry and try to join all the same.
 */
import { createHash } from 'node:crypto'
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Keypair } from '@solana/web3.js'
import { SETTINGS } from '../../src/daemon/settings.js'
import { checkHistory, type CheckParams, type CheckResult, type HistoryOp, type Kind } from './history.js'
import { ChaosNet } from './net.js'
import { ChaosNode, sleep } from './node.js'

export interface ClusterOptions {
  scenario: string
  nodes: number
  seed: number
  sticky?: string[]
  realtime?: string[]
  /** 1-based indices of the bootstrap nodes (default [1]) */
  bootstrap?: number[]
  delayable?: boolean
  /** daemons keep their sticky topics' lastSeenVersion in a file and resume from it */
  resume?: boolean
  registryRefreshMs?: number
  outsiders?: number
  /** library options (the config file's `options`) */
  options?: Record<string, unknown>
}

/** A small seeded PRNG (mulberry32): scenarios pick victims and timings from it. */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Whether the daemon has the durable-storage setting (DEPIN_DATA_DIR) yet. */
export const hasDataDir = SETTINGS.some((s) => s.env === 'DEPIN_DATA_DIR')

export class ChaosCluster {
  readonly net: ChaosNet
  readonly nodes: ChaosNode[] = []
  readonly outsiders: ChaosNode[] = []
  readonly history: HistoryOp[] = []
  readonly random: () => number
  readonly registryRefreshMs: number
  private readonly registryFile: string
  private readonly openRegistryFile: string
  private registry: string[] = []
  private opCounter = 0
  private faultCounter = 0
  private readonly t0 = Date.now()

  constructor (readonly options: ClusterOptions) {
    this.net = new ChaosNet({ delayable: options.delayable })
    this.random = rng(options.seed)
    this.registryRefreshMs = options.registryRefreshMs ?? 5_000
    this.registryFile = join(this.net.dir, 'registry.json')
    this.openRegistryFile = join(this.net.dir, 'registry-all.json')
    const names = [...Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`), ...Array.from({ length: options.outsiders ?? 0 }, (_, i) => `x${i + 1}`)]
    const wallets = new Map<string, { address: string, keyFile: string }>()
    for (const name of names) {
      this.net.addNode(name)
      const kp = Keypair.fromSeed(createHash('sha256').update(`chaos:${options.seed}:${name}`).digest())
      const keyFile = join(this.net.dir, `${name}.key.json`)
      writeFileSync(keyFile, JSON.stringify([...kp.secretKey]), { mode: 0o600 })
      wallets.set(name, { address: kp.publicKey.toBase58(), keyFile })
    }
    const members = names.filter((n) => n.startsWith('n'))
    this.registry = members.map((n) => wallets.get(n)!.address)
    this.writeJson(this.registryFile, this.registry)
    this.writeJson(this.openRegistryFile, names.map((n) => wallets.get(n)!.address))
    const bootstrapFile = join(this.net.dir, 'bootstrap.json')
    this.writeJson(bootstrapFile, (options.bootstrap ?? [1]).map((i) => ({ publicKey: wallets.get(`n${i}`)!.address, ip: this.net.addr(`n${i}`), quicPort: 4001, tcpPort: 4002 })))
    for (const name of names) {
      const w = wallets.get(name)!
      const configFile = join(this.net.dir, `${name}.config.json`)
      const sticky = options.sticky ?? []
      const realtime = options.realtime ?? []
      writeFileSync(configFile, JSON.stringify({
        database: 'chaos',
        listen: { host: this.net.addr(name), quicPort: 4001, tcpPort: 4002 },
        http: { host: '127.0.0.1', port: 9464 },
        log: { level: process.env.DEPIN_CHAOS_LOG ?? 'info' },
        registry: { file: name.startsWith('x') ? this.openRegistryFile : this.registryFile, refreshIntervalMs: this.registryRefreshMs },
        bootstrap: { file: bootstrapFile },
        topics: { sticky, realtime, ...(options.resume === true ? { stickyStateFile: join(this.net.dir, `${name}.sticky-state.json`) } : {}) },
        stdin: true,
        options: { discoveryLookupIntervalMs: 10_000, ...options.options }
      }))
      const node = new ChaosNode(this.net, { name, wallet: w.address, keyFile: w.keyFile, configFile, sticky, realtime, resume: options.resume === true, dataDir: hasDataDir ? join(this.net.dir, `${name}.data`) : undefined }, (op) => { this.history.push(op) })
      if (name.startsWith('x')) this.outsiders.push(node)
      else this.nodes.push(node)
    }
  }

  private writeJson (path: string, value: unknown): void {
    writeFileSync(path + '.tmp', JSON.stringify(value))
    renameSync(path + '.tmp', path)
  }

  node (name: string): ChaosNode {
    const n = [...this.nodes, ...this.outsiders].find((x) => x.name === name)
    if (n == null) throw new Error(`no node ${name}`)
    return n
  }

  /** seconds since the cluster was built, for logs */
  get elapsed (): string { return ((Date.now() - this.t0) / 1000).toFixed(1) }
  say (msg: string): void { if (process.env.DEPIN_CHAOS_QUIET !== '1') console.log(`  [${this.options.scenario} ${this.elapsed}s] ${msg}`) }

  startAll (): void { for (const n of this.nodes) n.start() }

  async waitAllReady (timeoutMs: number, nodes = this.nodes): Promise<void> {
    await Promise.all(nodes.map(async (n) => await n.waitReady(timeoutMs, 200)))
  }

  /**
   * Waits until every running node has at least `min` authorized peers (mesh formed). Returns the
   * nodes still short of it after timeoutMs (logged; the scenario goes on with the network it has).
   */
  async waitPeers (min: number, timeoutMs: number, nodes = this.nodes): Promise<string[]> {
    const until = Date.now() + timeoutMs
    const short: string[] = []
    for (const n of nodes) {
      while ((await n.readyz()).peers < min) {
        if (Date.now() > until) { short.push(n.name); break }
        await sleep(250)
      }
    }
    if (short.length > 0) this.say(`fewer than ${min} peers after ${timeoutMs} ms: ${short.join(',')}`)
    return short
  }

  // ---- faults (each recorded) ----

  private fault (fault: string, nodes: string[], loss = false): string {
    const id = `${fault}#${++this.faultCounter}`
    this.history.push({ type: 'fault', t: Date.now(), fault: id, nodes, loss })
    this.say(`fault ${id} ${nodes.join(',')}`)
    return id
  }

  private healed (id: string): void {
    this.history.push({ type: 'heal', t: Date.now(), fault: id })
    this.say(`healed ${id}`)
  }

  /** Records a fault the harness applies itself (e.g. a process restart); returns its heal. */
  window (fault: string, nodes: string[]): () => void {
    const id = this.fault(fault, nodes)
    return () => { this.healed(id) }
  }

  partition (a: string[], b: string[]): () => void {
    this.net.partition(a, b)
    const id = this.fault('partition', [...a, '|', ...b])
    return () => { this.net.heal(); this.healed(id) }
  }

  /** Cuts every node from every other (each one alone). */
  isolateAll (): () => void {
    const names = this.nodes.map((n) => n.name)
    for (let i = 0; i < names.length; i++) this.net.partition([names[i]!], names.slice(i + 1))
    const id = this.fault('isolate-all', names)
    return () => { this.net.heal(); this.healed(id) }
  }

  degrade (loss: number, delayMs: number, jitterMs: number): () => void {
    this.net.setLoss(loss)
    if (delayMs > 0) this.net.setDelay(delayMs, jitterMs)
    const id = this.fault(`degrade(loss ${loss * 100}% delay ${delayMs}+-${jitterMs}ms)`, ['*'], true)
    return () => {
      this.net.setLoss(0)
      if (delayMs > 0) this.net.setDelay(0, 0)
      this.healed(id)
    }
  }

  async kill (name: string): Promise<string> {
    const id = this.fault('kill', [name])
    await this.node(name).kill()
    return id
  }

  /** Restarts a killed or stopped node (its data dir and sticky state file are kept). */
  restart (name: string, faultId?: string): void {
    this.node(name).start()
    if (faultId != null) this.healed(faultId)
  }

  freeze (name: string): () => void {
    this.node(name).freeze()
    const id = this.fault('sigstop', [name])
    return () => { this.node(name).thaw(); this.healed(id) }
  }

  /** Removes a node's wallet from the registry file (every daemon watches it). */
  revoke (name: string): void {
    const wallet = this.node(name).spec.wallet
    this.registry = this.registry.filter((w) => w !== wallet)
    this.writeJson(this.registryFile, this.registry)
    this.history.push({ type: 'revoke', t: Date.now(), wallet })
    this.say(`revoked ${name}`)
  }

  // ---- traffic ----

  publish (from: string, topic: string, kind: Kind): string {
    const op = `${this.options.scenario}-${from}-${++this.opCounter}`
    this.node(from).publish(topic, kind, op)
    return op
  }

  /** Publishes round-robin from `from` (skipping nodes not running) every intervalMs until stopped. */
  publishLoop (from: string[], topic: string, kind: Kind, intervalMs: number): { stop: () => void } {
    let i = Math.floor(this.random() * from.length)
    const timer = setInterval(() => {
      for (let k = 0; k < from.length; k++) {
        const n = this.node(from[i++ % from.length]!)
        if (n.running) { this.publish(n.name, topic, kind); return }
      }
    }, intervalMs)
    return { stop: () => { clearInterval(timer) } }
  }

  /** Waits until no running node has a publish without an answer (or the timeout passed). */
  async drain (timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs
    while (Date.now() < until && this.nodes.some((n) => n.running && n.inFlight > 0)) await sleep(200)
  }

  /** Holds the current session of each named node (default: every running node) to sticky completeness. */
  verify (names?: string[]): void {
    for (const n of this.nodes) {
      if (!n.running || (names != null && !names.includes(n.name))) continue
      this.history.push({ type: 'verify', t: Date.now(), session: n.session })
    }
  }

  /**
   * Waits until every running node's stdout holds every acknowledged sticky message of its topics
   * (or the timeout passed): sticky delivery is eventually complete, the checker decides after.
   */
  async awaitStickyDelivery (timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs
    const acked = (): Set<string> => {
      const sticky = new Set(this.history.filter((o) => o.type === 'invoke' && o.kind === 'sticky').map((o) => (o as { op: string }).op))
      return new Set(this.history.filter((o) => o.type === 'ok' && sticky.has(o.op)).map((o) => (o as { msgId: string }).msgId))
    }
    while (Date.now() < until) {
      const want = acked()
      const missing = this.nodes.filter((n) => n.running && n.spec.sticky.length > 0).some((n) => {
        const have = new Set(this.history.filter((o) => o.type === 'recv' && o.kind === 'sticky' && (o.session === n.session || (n.spec.resume && o.node === n.name))).map((o) => (o as { msgId: string }).msgId))
        for (const id of want) if (!have.has(id)) return true
        return false
      })
      if (!missing) return
      await sleep(500)
    }
  }

  check (params: Partial<CheckParams> = {}): CheckResult {
    return checkHistory(this.history, {
      settleMs: 15_000,
      warmupMs: 5_000,
      deliveryWindowMs: 3_000,
      revocationGraceMs: this.registryRefreshMs + 1_000,
      outsiders: this.outsiders.map((n) => n.spec.wallet),
      answerBoundMs: 65_000, // commitDeadlineMs (60 s default) + 5 s
      ...params
    })
  }

  async destroy (): Promise<void> {
    this.net.destroy()
  }
}
