/*
 * Where the daemon gets its registry and bootstrap lists (the library itself only takes callbacks):
 * a JSON file (re-read when it changes), an HTTP(S) URL, a Solana program's registry accounts, or a
 * fixed list. Every source is wrapped in `LastGood`: each call has a time limit, and when a call
 * fails the source answers with its last good list (an empty registry because an RPC node hiccuped
 * would disconnect the whole network). A large answer's per-entry work (encoding 100,000 wallet keys,
 * joining sources) runs in slices with a turn of the event loop between them.
 */
import { readFile, stat } from 'node:fs/promises'
import bs58 from 'bs58'
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { Commitment } from '@solana/web3.js'
import { withDeadline } from '../abort.js'
import { Slicer } from '../slicer.js'
import type { BootstrapNode } from '../config.js'
import { normalizeWalletAddress } from '../identity.js'
import type { Logger } from '../logger.js'
import { maskUrl } from './redact.js'
import { RpcAnswerError, readAccountData } from './rpc-accounts.js'

export interface ListSource<T> {
  readonly name: string
  fetch(signal: AbortSignal): Promise<T[]>
}

/** Time-limits a source and answers with its last good list when a call fails. */
export class LastGood<T> implements ListSource<T> {
  readonly name: string
  private last: T[] | undefined
  failures = 0

  constructor (private readonly source: ListSource<T>, private readonly timeoutMs: number, private readonly log: Logger) {
    this.name = source.name
  }

  async fetch (signal: AbortSignal): Promise<T[]> {
    try {
      this.last = await withDeadline(this.timeoutMs, `${this.name} took longer than ${this.timeoutMs} ms`, async (s) => await this.source.fetch(s), signal)
      return this.last
    } catch (err) {
      this.failures++
      if (this.last == null) throw err
      this.log.warn('source failed; using its last good answer', 'source', this.name, 'entries', this.last.length, 'error', err)
      return this.last
    }
  }
}

/** A JSON file; parsed again only when its size or mtime changed. `watch` reports changes at once. */
export class FileSource<T> implements ListSource<T> {
  readonly name: string
  private cached: { key: string, list: T[] } | undefined

  constructor (private readonly path: string, private readonly parse: (json: unknown) => T[]) {
    this.name = `file:${path}`
  }

  async fetch (): Promise<T[]> {
    const st = await stat(this.path)
    const key = `${st.size}:${st.mtimeMs}`
    if (this.cached?.key === key) return this.cached.list
    const list = this.parse(JSON.parse(await readFile(this.path, 'utf8')))
    this.cached = { key, list }
    return list
  }

  /** Calls onChange (debounced) when the file is written, replaced or renamed into place. */
  watch (onChange: () => void): () => void {
    let timer: ReturnType<typeof setTimeout> | undefined
    let watcher: FSWatcher | undefined
    try {
      // watch the directory: editors and Kubernetes ConfigMaps replace the file rather than write it
      watcher = watch(dirname(this.path), (_event, name) => {
        if (name != null && name !== basename(this.path) && !name.startsWith('..')) return
        clearTimeout(timer)
        timer = setTimeout(onChange, 100)
      })
      watcher.on('error', () => {})
    } catch {
      // no watch support: the periodic refresh still picks changes up
    }
    return () => { clearTimeout(timer); watcher?.close() }
  }
}

/** GET url, expecting JSON. */
export class HttpSource<T> implements ListSource<T> {
  readonly name: string
  constructor (private readonly url: string, private readonly parse: (json: unknown) => T[]) {
    this.name = `http:${maskUrl(url)}`
  }

  async fetch (signal: AbortSignal): Promise<T[]> {
    const res = await fetch(this.url, { signal, headers: { accept: 'application/json' } })
    if (!res.ok) throw new Error(`HTTP ${res.status} from ${maskUrl(this.url)}`)
    return this.parse(await res.json())
  }
}

export interface SolanaRegistryOptions {
  rpcUrl: string
  programId: string
  /** size of one registry account in bytes (dataSize filter) */
  accountSize: number
  /** where the 32-byte wallet key starts in the account data (8 = after an Anchor discriminator) */
  walletOffset: number
  commitment: Commitment
}

/** The registry program's accounts of `accountSize` bytes; each holds a wallet key at `walletOffset`. */
export class SolanaRegistrySource implements ListSource<string> {
  readonly name: string
  constructor (private readonly options: SolanaRegistryOptions) {
    if (options.walletOffset + 32 > options.accountSize) {
      throw new RangeError(`registry.solana.walletOffset ${options.walletOffset} + 32 exceeds accountSize ${options.accountSize}`)
    }
    this.name = `solana:${options.programId}`
  }

  /**
   * One getProgramAccounts call made directly (JSON-RPC over fetch), not through @solana/web3.js:
   * web3.js validates the answer with superstruct, which took 17-20 s of one event-loop turn for
   * 100,000 accounts. Each account's 32-byte slice is base64 in the answer; it is decoded and
   * base58-encoded in slices. A large answer (about 22 MB for 100,000 accounts) is read as it
   * streams in rather than parsed whole (rpc-accounts.ts).
   */
  async fetch (signal: AbortSignal): Promise<string[]> {
    normalizeWalletAddress(this.options.programId)
    const res = await fetch(this.options.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'getProgramAccounts',
        params: [this.options.programId, {
          commitment: this.options.commitment,
          encoding: 'base64',
          filters: [{ dataSize: this.options.accountSize }],
          dataSlice: { offset: this.options.walletOffset, length: 32 }
        }]
      }),
      signal
    })
    if (!res.ok) throw new Error(`Solana RPC ${maskUrl(this.options.rpcUrl)} answered HTTP ${res.status}`)
    if (res.body == null) throw new RpcAnswerError('Solana RPC answer to getProgramAccounts is empty')
    // decoded at once: a matched base64 string is a slice of its whole network chunk and would keep it
    const keys: Buffer[] = []
    await readAccountData(textChunks(res.body), (base64) => { keys.push(Buffer.from(base64, 'base64')) })
    const wallets: string[] = []
    const slicer = new Slicer()
    for (const key of keys) {
      if (slicer.due()) await slicer.yield()
      if (key.length === 32) wallets.push(bs58.encode(key))
    }
    return wallets
  }
}

/** A response body's text, chunk by chunk as it arrives. */
async function * textChunks (body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  try {
    for (let r = await reader.read(); r.done !== true; r = await reader.read()) yield decoder.decode(r.value, { stream: true })
    yield decoder.decode()
  } finally { reader.cancel().catch(() => {}) } // an answer we stopped reading (an error) frees its connection
}

export class StaticSource<T> implements ListSource<T> {
  readonly name = 'list'
  constructor (private readonly list: T[]) {}
  async fetch (): Promise<T[]> { return this.list }
}

/** Wallet lists: `["addr", ...]` or `{ "wallets": ["addr", ...] }`. */
export function parseWalletList (json: unknown): string[] {
  const list = Array.isArray(json) ? json : (json as { wallets?: unknown } | null)?.wallets
  if (!Array.isArray(list)) throw new TypeError('expected a JSON array of wallet addresses or { "wallets": [...] }')
  return list.filter((x): x is string => typeof x === 'string')
}

/** Bootstrap lists: `[{ publicKey, ip, quicPort, tcpPort }, ...]` (the Go library's format) or `{ "nodes": [...] }`. */
export function parseBootstrapList (json: unknown): BootstrapNode[] {
  const list = Array.isArray(json) ? json : (json as { nodes?: unknown } | null)?.nodes
  if (!Array.isArray(list)) throw new TypeError('expected a JSON array of {publicKey, ip, quicPort, tcpPort} or { "nodes": [...] }')
  const out: BootstrapNode[] = []
  for (const n of list) {
    if (n == null || typeof n !== 'object') continue
    const { publicKey, ip, quicPort, tcpPort } = n as Record<string, unknown>
    if (typeof publicKey !== 'string' || typeof ip !== 'string' || !isPort(quicPort) || !isPort(tcpPort)) continue
    out.push({ publicKey, ip, quicPort, tcpPort })
  }
  return out
}

/** `WALLET@IP:QUICPORT:TCPPORT` */
export function parseBootstrapEntry (entry: string): BootstrapNode {
  const m = /^([^@]+)@([0-9.]+):(\d+):(\d+)$/.exec(entry)
  if (m == null) throw new TypeError(`bootstrap entry ${JSON.stringify(entry)} is not WALLET@IP:QUICPORT:TCPPORT`)
  normalizeWalletAddress(m[1]!)
  return { publicKey: m[1]!, ip: m[2]!, quicPort: Number(m[3]), tcpPort: Number(m[4]) }
}

function isPort (v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535
}

/** Calls every source and joins the answers; fails only when every source failed. */
export async function fetchAll<T> (sources: Array<ListSource<T>>, signal: AbortSignal, key: (x: T) => string): Promise<T[]> {
  const results = await Promise.allSettled(sources.map(async (s) => await s.fetch(signal)))
  const ok = results.filter((r): r is PromiseFulfilledResult<T[]> => r.status === 'fulfilled')
  if (ok.length === 0 && results.length > 0) throw (results[0] as PromiseRejectedResult).reason
  const seen = new Map<string, T>()
  const slicer = new Slicer()
  for (const r of ok) {
    for (const x of r.value) {
      if (slicer.due()) await slicer.yield()
      seen.set(key(x), x)
    }
  }
  return [...seen.values()]
}
