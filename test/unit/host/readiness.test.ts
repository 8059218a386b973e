import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Keypair } from '@solana/web3.js'
import { Bootstrapper, Readiness, resolveBootstrapNode, type ResolvedBootstrapNode } from '../../../src/host/readiness.js'
import { silentLogger } from '../../../src/logger.js'
import type { BootstrapNode } from '../../../src/config.js'

const self = Keypair.generate().publicKey.toBase58()
const other = Keypair.generate().publicKey.toBase58()
const node = (publicKey: string): BootstrapNode => ({ publicKey, ip: '10.0.0.1', quicPort: 4001, tcpPort: 4002 })

function setup () {
  const readiness = new Readiness()
  const state = { nodes: [] as BootstrapNode[], dials: [] as ResolvedBootstrapNode[], dialSucceeds: false, listCalls: 0 }
  const boot = new Bootstrapper({
    selfWallet: self,
    logger: silentLogger,
    getBootstrapNodes: async () => { state.listCalls++; return state.nodes },
    dial: async (n) => {
      state.dials.push(n)
      if (!state.dialSucceeds) throw new Error('refused')
      readiness.add(`peer-${n.wallet}`)
    }
  }, readiness, { firstRetryDelayMs: 2_000, retryIntervalMs: 5_000, connectTimeoutMs: 30_000 })
  return { readiness, boot, state }
}

describe('readiness', () => {
  it('flips on the first peer and back on the last, emitting each transition once', () => {
    const r = new Readiness()
    const events: boolean[] = []
    r.onChange((ready) => events.push(ready))
    r.add('a'); r.add('b'); r.add('a')
    r.remove('a')
    expect(r.ready).toBe(true)
    r.remove('b')
    expect(r.ready).toBe(false)
    r.reset(['c'])
    expect(events).toEqual([true, false, true])
  })

  it('waitUntilReady resolves on the ready event and rejects when aborted', async () => {
    const r = new Readiness()
    const waiting = r.waitUntilReady()
    r.add('x')
    await expect(waiting).resolves.toBeUndefined()
    const r2 = new Readiness()
    const controller = new AbortController()
    const p = r2.waitUntilReady(controller.signal)
    controller.abort()
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })
})

describe('bootstrap retry loop', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('retries after 2 s and then every 5 s until a bootstrap node answers, then stops', async () => {
    const { readiness, boot, state } = setup()
    await boot.start() // no nodes yet
    expect(state.listCalls).toBe(1)
    expect(boot.retrying).toBe(true)
    await vi.advanceTimersByTimeAsync(1_999)
    expect(state.listCalls).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(state.listCalls).toBe(2)
    await vi.advanceTimersByTimeAsync(5_000)
    expect(state.listCalls).toBe(3)
    state.nodes = [node(other)]
    state.dialSucceeds = true
    await vi.advanceTimersByTimeAsync(5_000)
    expect(readiness.ready).toBe(true)
    expect(boot.retrying).toBe(false)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(state.listCalls).toBe(4)
    boot.stop()
  })

  it('skips entries with the node\'s own key and invalid entries', async () => {
    const { boot, state } = setup()
    state.nodes = [node(self), node(other), { publicKey: 'bad', ip: '1.2.3.4', quicPort: 1, tcpPort: 2 }, { ...node(other), ip: 'nope' }]
    await boot.start()
    expect(state.dials.map((d) => d.wallet)).toEqual([other])
    boot.stop()
  })

  it('restarts the loop when the last peer is lost, and runs only one loop at a time', async () => {
    const { readiness, boot, state } = setup()
    state.nodes = [node(other)]
    state.dialSucceeds = true
    await boot.start()
    expect(readiness.ready).toBe(true)
    expect(boot.retrying).toBe(false)
    state.dialSucceeds = false
    readiness.remove(`peer-${other}`)
    expect(boot.retrying).toBe(true)
    readiness.add('z'); readiness.remove('z') // flapping must not start a second loop
    await vi.advanceTimersByTimeAsync(2_000)
    expect(state.dials).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(5_000)
    expect(state.dials).toHaveLength(3)
    readiness.add('y') // a peer arrives by other means: the loop stops on the event
    expect(boot.retrying).toBe(false)
    await vi.advanceTimersByTimeAsync(20_000)
    expect(state.dials).toHaveLength(3)
    boot.stop()
  })

  it('stops for good on stop(), even if peers are then lost', async () => {
    const { readiness, boot, state } = setup()
    await boot.start()
    boot.stop()
    readiness.add('a'); readiness.remove('a')
    expect(boot.retrying).toBe(false)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(state.listCalls).toBe(1)
  })

  it('bounds a hanging dial by the connect timeout', async () => {
    const readiness = new Readiness()
    const boot = new Bootstrapper({
      selfWallet: self, logger: silentLogger,
      getBootstrapNodes: async () => [node(other)],
      dial: async () => await new Promise<never>(() => {})
    }, readiness, { firstRetryDelayMs: 2_000, retryIntervalMs: 5_000, connectTimeoutMs: 30_000 })
    const started = boot.start()
    await vi.advanceTimersByTimeAsync(30_000)
    await started
    expect(boot.retrying).toBe(true)
    boot.stop()
  })
})

describe('bootstrap attempt with many entries', () => {
  it('dials more nodes than Node\'s listener warning threshold (10) without a process warning; stop() aborts every dial', async () => {
    const wallets = Array.from({ length: 15 }, () => Keypair.generate().publicKey.toBase58())
    const aborted: string[] = []
    const boot = new Bootstrapper({
      selfWallet: self, logger: silentLogger,
      getBootstrapNodes: async () => wallets.map(node),
      dial: async (n, signal) => await new Promise<never>((_resolve, reject) => {
        signal.addEventListener('abort', () => { aborted.push(n.wallet); reject(signal.reason) }, { once: true })
      })
    }, new Readiness(), { firstRetryDelayMs: 2_000, retryIntervalMs: 5_000, connectTimeoutMs: 30_000 })
    const warnings: Error[] = []
    const onWarning = (w: Error): void => { warnings.push(w) }
    process.on('warning', onWarning)
    try {
      const started = boot.start()
      await new Promise((resolve) => setImmediate(resolve)) // all 15 dials pending; a warning is emitted on the next tick
      boot.stop()
      await started
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off('warning', onWarning)
    }
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([])
    expect(aborted.sort()).toEqual([...wallets].sort())
  })
})

describe('bootstrap entries (Go library format)', () => {
  it('accepts base58 or PublicKey keys and a missing port', () => {
    const kp = Keypair.generate()
    expect(resolveBootstrapNode({ publicKey: kp.publicKey, ip: '192.168.1.2', quicPort: 4001, tcpPort: 0 }))
      .toEqual({ wallet: kp.publicKey.toBase58(), ip: '192.168.1.2', quicPort: 4001, tcpPort: 0 })
    expect(resolveBootstrapNode({ publicKey: 'x', ip: '1.1.1.1', quicPort: 1, tcpPort: 1 })).toMatch(/base58|bytes/)
    expect(resolveBootstrapNode({ publicKey: other, ip: '1.1.1.1', quicPort: 0, tcpPort: 0 })).toMatch(/neither/)
  })
})
