/*
 * One chaos node: a `depin-node` daemon process (the container's command, `node dist/cli.js start
 * --config FILE`) inside the node's network namespace. The harness drives it only from outside:
 * publishes go to its stdin, what it delivers comes from its stdout (both recorded in the history),
 * readiness and metrics come from its HTTP port. The HTTP port lives inside the namespace, so a tiny
 * proxy in the same namespace exposes it on a Unix socket in the run's directory (filesystem paths
 * are not namespaced). Faults on the process: SIGKILL, SIGSTOP/SIGCONT, SIGTERM, restart.
 */
import { type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { peerIdToWallet } from '../../src/identity.js'
import { containerCommand } from '../../support/daemon-process.js'
import type { HistoryOp } from './history.js'
import type { ChaosNet } from './net.js'

export const HTTP_PORT = 9464

const PROXY = `const net=require('net');const fs=require('fs');const [sock,port]=process.argv.slice(1);
try{fs.unlinkSync(sock)}catch{}
net.createServer((c)=>{const u=net.connect(+port,'127.0.0.1');c.pipe(u).pipe(c);u.on('error',()=>c.destroy());c.on('error',()=>u.destroy())}).listen(sock)`

export interface NodeSpec {
  name: string
  wallet: string
  keyFile: string
  configFile: string
  /** topics this node's daemon bridges (recorded with each session) */
  sticky: string[]
  realtime: string[]
  resume: boolean
  /** the node's data dir (DEPIN_DATA_DIR), kept across restarts, once the daemon has that setting */
  dataDir?: string
}

export class ChaosNode {
  child: ChildProcess | undefined
  session = ''
  private sessions = 0
  private lineNo = 0
  private readonly pending = new Map<number, string>()
  private readonly sock: string
  private readonly log: WriteStream
  private exited: Promise<void> = Promise.resolve()
  frozen = false

  constructor (private readonly net: ChaosNet, readonly spec: NodeSpec, private readonly record: (op: HistoryOp) => void) {
    this.sock = join(net.dir, `${spec.name}.sock`)
    this.log = createWriteStream(join(net.dir, `${spec.name}.log`), { flags: 'a' })
    const proxy = net.spawnIn(this.ns, process.execPath, ['-e', PROXY, this.sock, String(HTTP_PORT)], { ...process.env })
    proxy.stdin!.end()
  }

  get name (): string { return this.spec.name }
  get ns (): string { return this.net.ns(this.spec.name) }
  get addr (): string { return this.net.addr(this.spec.name) }
  get running (): boolean { return this.child != null && this.child.exitCode == null && this.child.signalCode == null }

  /** Starts the daemon (a new session); resolves once the process was spawned. */
  start (): void {
    if (this.running) throw new Error(`${this.name} is already running`)
    const cmd = containerCommand(this.spec.configFile)
    const child = this.net.spawnIn(this.ns, cmd.program, cmd.args, {
      ...process.env,
      DEPIN_KEY_FILE: this.spec.keyFile,
      ...(this.spec.dataDir != null ? { DEPIN_DATA_DIR: this.spec.dataDir } : {})
    })
    this.child = child
    this.frozen = false
    this.session = `${this.name}#${++this.sessions}`
    this.lineNo = 0
    this.pending.clear()
    const session = this.session
    this.record({ type: 'session-start', t: Date.now(), node: this.name, session, wallet: this.spec.wallet, sticky: this.spec.sticky, realtime: this.spec.realtime, resume: this.spec.resume && this.sessions > 1 })
    child.stdin!.on('error', () => {}) // writes to a dead process
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      let i
      while ((i = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, i)
        out = out.slice(i + 1)
        this.onLine(session, line)
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      this.log.write(chunk)
      if (process.env.DEPIN_TEST_LOGS === '1') process.stderr.write(`[${this.name}] ${chunk.toString()}`)
    })
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.record({ type: 'session-end', t: Date.now(), session, how: signal ?? `exit ${String(code)}` })
        this.log.write(`--- ${session} exited: ${signal ?? code}\n`)
        resolve()
      })
    })
  }

  private onLine (session: string, raw: string): void {
    let l: Record<string, any>
    try { l = JSON.parse(raw) } catch { return }
    const t = Date.now()
    if (l.type === 'event') {
      const from = peerIdToWallet(String(l.event?.fromPeerId)) ?? String(l.event?.fromPeerId)
      this.record({ type: 'recv', t, node: this.name, session, topic: l.topic, kind: 'realtime', op: l.event?.message?.op, msgId: l.event?.id, from })
    } else if (l.type === 'sticky') {
      this.record({ type: 'recv', t, node: this.name, session, topic: l.topic, kind: 'sticky', op: l.message?.data?.op, msgId: l.message?.messageId, from: l.message?.publisher })
    } else if (l.type === 'published' || l.type === 'error') {
      const op = this.pending.get(l.line)
      if (op == null) return
      this.pending.delete(l.line)
      if (l.type === 'published') this.record({ type: 'ok', t, node: this.name, op, msgId: l.id })
      else this.record({ type: 'fail', t, node: this.name, op, error: `${String(l.code)}: ${String(l.error)}` })
    }
  }

  /** Writes a publish to stdin (recorded as invoked even when the process cannot take it). */
  publish (topic: string, kind: 'sticky' | 'realtime', op: string): void {
    this.record({ type: 'invoke', t: Date.now(), node: this.name, op, topic, kind })
    if (!this.running) return
    this.pending.set(++this.lineNo, op)
    this.child!.stdin!.write(JSON.stringify({ topic, data: { op }, sticky: kind === 'sticky' }) + '\n')
  }

  /** Answers still awaited (publishes in flight). */
  get inFlight (): number { return this.pending.size }

  async kill (): Promise<void> {
    if (!this.running) return
    this.child!.kill('SIGCONT')
    this.child!.kill('SIGKILL')
    await this.exited
  }

  /** Graceful stop (SIGTERM); resolves when the process exited. */
  async terminate (): Promise<void> {
    if (!this.running) return
    if (this.frozen) this.thaw()
    this.child!.kill('SIGTERM')
    await this.exited
  }

  freeze (): void { this.child?.kill('SIGSTOP'); this.frozen = true }
  thaw (): void { this.child?.kill('SIGCONT'); this.frozen = false }

  async http (path: string, timeoutMs = 2_000): Promise<{ status: number, body: string }> {
    return await new Promise((resolve) => {
      const req = request({ socketPath: this.sock, path, timeout: timeoutMs }, (res) => {
        let body = ''
        res.on('data', (d: Buffer) => { body += d.toString() })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
        res.on('error', () => { resolve({ status: 0, body: '' }) })
      })
      req.on('timeout', () => { req.destroy() })
      req.on('error', () => { resolve({ status: 0, body: '' }) })
      req.end()
    })
  }

  /** /readyz: ready flag and authorized peer count (peers -1 when the node does not answer). */
  async readyz (): Promise<{ ready: boolean, peers: number }> {
    const r = await this.http('/readyz')
    try {
      const b = JSON.parse(r.body) as { peers: number }
      return { ready: r.status === 200, peers: b.peers }
    } catch {
      return { ready: false, peers: -1 }
    }
  }

  async metric (series: string): Promise<number | undefined> {
    const text = (await this.http('/metrics')).body
    for (const line of text.split('\n')) if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1))
    return undefined
  }

  /** Polls /readyz until ready; returns the time it took, or throws after timeoutMs. */
  async waitReady (timeoutMs: number, intervalMs = 100): Promise<number> {
    const started = Date.now()
    while (Date.now() - started < timeoutMs) {
      if ((await this.readyz()).ready) return Date.now() - started
      await sleep(intervalMs)
    }
    throw new Error(`${this.name} not ready within ${timeoutMs} ms`)
  }
}

export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
