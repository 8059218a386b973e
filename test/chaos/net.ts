/*
 * The chaos network: a "switch" namespace holding a bridge, and one namespace per node joined to it
 * by a veth pair (node side `eth0`, 10.210.0.x/24). Nothing is created in the root namespace. Faults
 * are applied inside namespaces this run created: iptables DROP rules (partitions, random loss with
 * `-m statistic`), links set down, and, when the network is built `delayable`, a delay forwarder
 * (delayfwd.go) in the switch namespace that sits between each node's veth and the bridge and holds
 * the node's outgoing frames back (L2, so addresses stay real and peers see nothing in between).
 *
 * Names: every namespace is `dch<pid>...` (pid of the process that built it); a startup sweep kills
 * the processes in, and deletes, every `dch*` namespace whose creating process is gone. Exit hooks
 * (exit, SIGINT, SIGTERM, uncaught errors) clean up this process's namespaces and processes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'

export const PREFIX = 'dch'
const SUBNET = '10.210.0'

export function run (cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
}
const ip = (...args: string[]): string => run('ip', args)
const tryRun = (cmd: string, args: string[]): void => { try { run(cmd, args) } catch {} }

/** Why the chaos suite cannot run here, or undefined when it can. */
export function chaosUnavailable (): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: network namespaces need root'
  try { ip('netns', 'list') } catch { return 'the ip command (iproute2) cannot manage network namespaces' }
  try { run('iptables', ['--version']) } catch { return 'iptables is not installed (bash .ci/run installs it)' }
  return undefined
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

function killNamespaceProcesses (ns: string): void {
  let pids: number[] = []
  try { pids = ip('netns', 'pids', ns).split(/\s+/).filter(Boolean).map(Number) } catch { return }
  for (const pid of pids) {
    try { process.kill(pid, 'SIGCONT') } catch {}
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
}

function deleteNamespace (ns: string): void {
  killNamespaceProcesses(ns)
  tryRun('ip', ['netns', 'del', ns])
}

/** Removes leftovers of earlier runs: `dch*` namespaces whose creating process no longer runs. */
export function sweepLeftovers (): string[] {
  const removed: string[] = []
  let list = ''
  try { list = ip('netns', 'list') } catch { return removed }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const m = new RegExp(`^${PREFIX}(\\d+)`).exec(name)
    if (m == null) continue
    if (Number(m[1]) === process.pid || alive(Number(m[1]))) continue
    deleteNamespace(name)
    removed.push(name)
  }
  return removed
}

// ---- exit hooks: one registry of live networks per process ----
const live = new Set<ChaosNet>()
let hooked = false
function hookExit (): void {
  if (hooked) return
  hooked = true
  const cleanAll = (): void => { for (const n of live) n.destroy() }
  process.on('exit', cleanAll)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => { cleanAll(); process.kill(process.pid, sig) })
  }
  process.on('uncaughtException', (err) => { cleanAll(); console.error(err); process.exit(1) })
}

export interface NetOptions {
  /** route every node's link through the delay forwarder (needs Go and ethtool) */
  delayable?: boolean
}

export class ChaosNet {
  readonly sw: string
  readonly dir: string
  private readonly nodes = new Map<string, { ns: string, addr: string, index: number }>()
  private readonly procs = new Set<ChildProcess>()
  private forwarder: ChildProcess | undefined
  private destroyed = false

  constructor (readonly options: NetOptions = {}) {
    hookExit()
    sweepLeftovers()
    this.dir = join(tmpdir(), `${PREFIX}${process.pid}-${Date.now().toString(36)}`)
    mkdirSync(this.dir, { recursive: true })
    this.sw = `${PREFIX}${process.pid}sw`
    live.add(this)
    deleteNamespace(this.sw)
    ip('netns', 'add', this.sw)
    ip('-n', this.sw, 'link', 'set', 'lo', 'up')
    tryRun('ip', ['netns', 'exec', this.sw, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'])
    ip('-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge')
    ip('-n', this.sw, 'link', 'set', 'br0', 'up')
  }

  /** Adds a node namespace on the switch; returns its namespace and address. */
  addNode (name: string): { ns: string, addr: string } {
    const index = this.nodes.size + 1
    if (index > 200) throw new Error('at most 200 nodes')
    const ns = `${PREFIX}${process.pid}${name}`
    const addr = `${SUBNET}.${index + 10}`
    deleteNamespace(ns)
    ip('netns', 'add', ns)
    ip('-n', ns, 'link', 'set', 'lo', 'up')
    tryRun('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'])
    const s = `s${index}`
    if (this.options.delayable === true) {
      // eth0 <-> a<i> (switch ns, not bridged) ... forwarder ... b<i> <-> s<i> (bridged)
      ip('link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `a${index}`, 'netns', this.sw)
      ip('-n', this.sw, 'link', 'add', `b${index}`, 'type', 'veth', 'peer', 'name', s)
      for (const dev of [`a${index}`, `b${index}`]) {
        ip('-n', this.sw, 'link', 'set', dev, 'promisc', 'on', 'up')
        this.noOffload(this.sw, dev)
      }
      this.noOffload(ns, 'eth0')
      this.startForwarder().stdin!.write(`pair a${index} b${index}\n`)
    } else {
      ip('link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', s, 'netns', this.sw)
    }
    ip('-n', this.sw, 'link', 'set', s, 'master', 'br0')
    ip('-n', this.sw, 'link', 'set', s, 'up')
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
    ip('-n', ns, 'link', 'set', 'eth0', 'up')
    this.nodes.set(name, { ns, addr, index })
    return { ns, addr }
  }

  /**
   * Frames through AF_PACKET must be complete: no segmentation offloads (a frame must fit the MTU)
   * and no checksum offload (veth leaves TCP/UDP checksums unfilled, a copied frame would be dropped).
   */
  private noOffload (ns: string, dev: string): void {
    run('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx-udp-segmentation', 'off'])
  }

  ns (name: string): string { return this.node(name).ns }
  addr (name: string): string { return this.node(name).addr }
  private node (name: string): { ns: string, addr: string, index: number } {
    const n = this.nodes.get(name)
    if (n == null) throw new Error(`no node ${name}`)
    return n
  }

  /** Spawns a process inside a node's (or the switch's) namespace; it is killed on cleanup. */
  spawnIn (ns: string, program: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, program, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    this.procs.add(child)
    child.once('exit', () => { this.procs.delete(child) })
    return child
  }

  // ---- faults ----

  /** Drops every packet between the two groups (both directions, iptables in each node's namespace). */
  partition (groupA: string[], groupB: string[]): void {
    for (const a of groupA) for (const b of groupB) { this.dropBetween(a, b, '-A') }
  }

  /** Removes every partition rule. */
  heal (): void {
    for (const n of this.nodes.values()) {
      tryRun('ip', ['netns', 'exec', n.ns, 'iptables', '-F', 'INPUT'])
      tryRun('ip', ['netns', 'exec', n.ns, 'iptables', '-F', 'OUTPUT'])
    }
  }

  private dropBetween (a: string, b: string, op: '-A' | '-D'): void {
    const A = this.node(a); const B = this.node(b)
    run('ip', ['netns', 'exec', A.ns, 'iptables', op, 'INPUT', '-s', B.addr, '-j', 'DROP'])
    run('ip', ['netns', 'exec', A.ns, 'iptables', op, 'OUTPUT', '-d', B.addr, '-j', 'DROP'])
    run('ip', ['netns', 'exec', B.ns, 'iptables', op, 'INPUT', '-s', A.addr, '-j', 'DROP'])
    run('ip', ['netns', 'exec', B.ns, 'iptables', op, 'OUTPUT', '-d', A.addr, '-j', 'DROP'])
  }

  /** Cuts a node's link (veth down on the switch side): the node sees no carrier change, only silence. */
  linkDown (name: string): void { ip('-n', this.sw, 'link', 'set', `s${this.node(name).index}`, 'down') }
  linkUp (name: string): void { ip('-n', this.sw, 'link', 'set', `s${this.node(name).index}`, 'up') }

  /** Random loss of incoming packets on every node (so each node-to-node packet is dropped once with p). */
  setLoss (probability: number): void {
    for (const n of this.nodes.values()) {
      tryRun('ip', ['netns', 'exec', n.ns, 'iptables', '-t', 'mangle', '-F', 'PREROUTING'])
      if (probability > 0) {
        run('ip', ['netns', 'exec', n.ns, 'iptables', '-t', 'mangle', '-A', 'PREROUTING', '-i', 'eth0',
          '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP'])
      }
    }
  }

  /**
   * Delays every node's outgoing frames by delayMs +- jitterMs (uniform), so each node-to-node
   * packet is delayed once. Needs a `delayable` network.
   */
  setDelay (delayMs: number, jitterMs: number): void {
    if (this.options.delayable !== true) throw new Error('setDelay needs a network built with delayable: true')
    this.startForwarder().stdin!.write(`${delayMs} ${jitterMs}\n`)
  }

  private startForwarder (): ChildProcess {
    if (this.forwarder != null) return this.forwarder
    const fwd = this.spawnIn(this.sw, buildForwarder(this.dir), [], { ...process.env })
    fwd.stderr!.on('data', (d: Buffer) => { if (process.env.DEPIN_TEST_LOGS === '1') process.stderr.write(`[delayfwd] ${d.toString()}`) })
    this.forwarder = fwd
    return fwd
  }

  /** Kills every process this network started and deletes its namespaces. Idempotent, synchronous. */
  destroy (): void {
    if (this.destroyed) return
    this.destroyed = true
    live.delete(this)
    for (const p of this.procs) {
      try { p.kill('SIGCONT') } catch {}
      try { p.kill('SIGKILL') } catch {}
    }
    for (const n of this.nodes.values()) deleteNamespace(n.ns)
    deleteNamespace(this.sw)
    if (process.env.DEPIN_CHAOS_KEEP !== '1') rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Compiles delayfwd.go (Go standard library only) once per network directory. */
function buildForwarder (dir: string): string {
  const bin = join(dir, 'delayfwd')
  if (!existsSync(bin)) {
    execFileSync('go', ['build', '-o', bin, join(import.meta.dirname, 'delayfwd.go')], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'off', CGO_ENABLED: '0' }
    })
  }
  return bin
}
