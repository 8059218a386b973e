/*
 * Readiness and bootstrap for one database, as in the Go library's "Bootstrap Retry & Network
 * Resilience": ready = at least one connected peer authorized for the database. Readiness flips on
 * the connect/disconnect event itself (no polling). An initial bootstrap runs at start; while not
 * ready, exactly one retry loop runs (first attempt after 2 s, then every 5 s); it stops when the
 * node becomes ready or is stopped, and starts again when the last peer leaves.
 * Pure: dialing and the peer list come in through narrow callbacks, so fake timers can drive it.
 */
import { normalizeWalletAddress } from '../identity.js'
import type { BootstrapNode } from '../config.js'
import type { Logger } from '../logger.js'
import { AbortedError } from '../errors.js'
import { fanOutSignal, sleep, withDeadline } from '../abort.js'

/** A bootstrap entry after validation: normalized wallet address plus ports. */
export interface ResolvedBootstrapNode { wallet: string, ip: string, quicPort: number, tcpPort: number }

export interface BootstrapDeps {
  getBootstrapNodes: (signal: AbortSignal) => Promise<BootstrapNode[]>
  /** dials one node (both transports); rejects on failure */
  dial: (node: ResolvedBootstrapNode, signal: AbortSignal) => Promise<void>
  selfWallet: string
  logger: Logger
}

export interface BootstrapOptions {
  firstRetryDelayMs: number
  retryIntervalMs: number
  connectTimeoutMs: number
}

export type ReadinessListener = (ready: boolean) => void

/** Tracks the connected authorized peers and the ready flag derived from them. */
export class Readiness {
  private readonly peers = new Set<string>()
  private readonly listeners = new Set<ReadinessListener>()
  private readonly peerListeners = new Set<() => void>()

  get ready (): boolean { return this.peers.size > 0 }
  get peerIds (): ReadonlySet<string> { return this.peers }

  onChange (listener: ReadinessListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Called after every change of the peer set (sticky readiness counts replica-capable peers). */
  onPeersChange (listener: () => void): () => void {
    this.peerListeners.add(listener)
    return () => { this.peerListeners.delete(listener) }
  }

  add (peerId: string): void { this.update(() => this.peers.add(peerId)) }
  remove (peerId: string): void { this.update(() => this.peers.delete(peerId)) }
  /** Replaces the whole set (after a registry refresh changed who counts). */
  reset (peerIds: Iterable<string>): void {
    this.update(() => { this.peers.clear(); for (const p of peerIds) this.peers.add(p) })
  }

  /** Resolves when ready; rejects with AbortedError when `signal` aborts first. */
  async waitUntilReady (signal?: AbortSignal): Promise<void> {
    if (this.ready) return
    if (signal?.aborted === true) throw new AbortedError('waitUntilReady was aborted')
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { off(); reject(new AbortedError('waitUntilReady was aborted')) }
      const off = this.onChange((ready) => {
        if (!ready) return
        off(); signal?.removeEventListener('abort', onAbort); resolve()
      })
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  private update (change: () => void): void {
    const before = this.ready
    change()
    for (const l of this.peerListeners) l()
    if (before === this.ready) return
    for (const l of this.listeners) l(this.ready)
  }
}

/** Runs the initial bootstrap and the single retry loop. */
export class Bootstrapper {
  private retry: AbortController | undefined
  private readonly stopController = new AbortController()
  /** number of completed bootstrap attempts (initial + retries), for tests and metrics */
  attempts = 0

  constructor (private readonly deps: BootstrapDeps, private readonly readiness: Readiness, private readonly options: BootstrapOptions) {
    readiness.onChange((ready) => {
      if (ready) this.stopRetry()
      else this.startRetry()
    })
  }

  get retrying (): boolean { return this.retry != null }

  /** Initial bootstrap; starts the retry loop if it did not make the node ready. Never throws. */
  async start (): Promise<void> {
    await this.attempt(this.stopController.signal).catch(() => false)
    if (!this.readiness.ready) this.startRetry()
  }

  stop (): void {
    this.stopController.abort()
    this.stopRetry()
  }

  /** One attempt: fetch the list, dial every other node in parallel. True when any dial succeeded. */
  async attempt (signal: AbortSignal): Promise<boolean> {
    this.attempts++
    const nodes = await this.fetchNodes(signal)
    if (nodes.length === 0) {
      this.deps.logger.debug('no bootstrap nodes available')
      return false
    }
    // every dial's deadline listens to the attempt's signal until it settles: one listener per
    // bootstrap entry (13 in the Go interop mesh test), on a signal of the attempt's own
    const dials = fanOutSignal(signal)
    const results = await Promise.allSettled(nodes.map(async (node) => { await this.withTimeout(dials.signal, (s) => this.deps.dial(node, s)) }))
    dials.clear()
    const ok = results.filter((r) => r.status === 'fulfilled').length
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') this.deps.logger.debug('bootstrap dial failed', 'wallet', nodes[i]!.wallet, 'error', r.reason)
    }
    this.deps.logger.info('bootstrap attempt finished', 'nodes', nodes.length, 'connected', ok)
    return ok > 0
  }

  private startRetry (): void {
    if (this.retry != null || this.stopController.signal.aborted) return
    const controller = new AbortController()
    this.retry = controller
    this.deps.logger.info('not ready: starting bootstrap retry loop')
    void this.retryLoop(controller.signal).finally(() => {
      if (this.retry === controller) this.retry = undefined
    })
  }

  private stopRetry (): void {
    this.retry?.abort()
    this.retry = undefined
  }

  private async retryLoop (signal: AbortSignal): Promise<void> {
    let delay = this.options.firstRetryDelayMs
    while (!signal.aborted) {
      if (!(await sleep(delay, signal))) return
      delay = this.options.retryIntervalMs
      if (this.readiness.ready) return
      try {
        // the attempt itself is only cancelled by stop(): becoming ready mid-attempt (which ends the
        // loop) must not abort the dial that just made us ready
        await this.attempt(this.stopController.signal)
      } catch (err) {
        if (!signal.aborted) this.deps.logger.warn('bootstrap retry failed', 'error', err)
      }
      if (this.readiness.ready) return
    }
  }

  private async fetchNodes (signal: AbortSignal): Promise<ResolvedBootstrapNode[]> {
    let list: BootstrapNode[]
    try {
      list = await this.withTimeout(signal, (s) => this.deps.getBootstrapNodes(s))
    } catch (err) {
      if (!signal.aborted) this.deps.logger.warn('getBootstrapNodes failed', 'error', err)
      return []
    }
    const out: ResolvedBootstrapNode[] = []
    for (const node of Array.isArray(list) ? list : []) {
      const resolved = resolveBootstrapNode(node)
      if (typeof resolved === 'string') this.deps.logger.warn('invalid bootstrap entry skipped', 'reason', resolved)
      else if (resolved.wallet !== this.deps.selfWallet) out.push(resolved)
    }
    return out
  }

  private async withTimeout<T> (parent: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return await withDeadline(this.options.connectTimeoutMs, `timed out after ${this.options.connectTimeoutMs} ms`, fn, parent)
  }
}

/** Validates a Go-format bootstrap entry; returns the reason when invalid. */
export function resolveBootstrapNode (node: BootstrapNode): ResolvedBootstrapNode | string {
  if (node == null || typeof node !== 'object') return 'entry is not an object'
  let wallet: string
  try { wallet = normalizeWalletAddress(node.publicKey) } catch (err) { return (err as Error).message }
  if (typeof node.ip !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(node.ip)) return `ip ${JSON.stringify(node.ip)} is not an IPv4 address`
  const validPort = (p: unknown): boolean => Number.isInteger(p) && (p as number) > 0 && (p as number) < 65536
  if (!validPort(node.quicPort) && !validPort(node.tcpPort)) return `entry ${wallet} has neither a valid quicPort nor tcpPort`
  return { wallet, ip: node.ip, quicPort: validPort(node.quicPort) ? node.quicPort : 0, tcpPort: validPort(node.tcpPort) ? node.tcpPort : 0 }
}
