/*
 * connect() options: the public option types, their defaults (documented once, here, with
 * @default), and validation. Validation uses zod; the first problem becomes a ConfigError naming
 * the option's path, e.g. `invalid config: listenPorts.quic: expected an integer 0-65535, got -1`.
 */
import { resolve } from 'node:path'
import { z } from 'zod'
import { ConfigError } from './errors.js'
import { MAX_EVENT_BYTES } from './host/gossip-wire.js'
import type { Logger } from './logger.js'
import type { WalletLike } from './identity.js'
import { stickyOptionsSchema, type StickyOptions } from './sticky/options.js'
import { ms } from './config-fields.js'

/** A bootstrap node in the Go library's format: wallet public key, IP, QUIC and TCP ports. */
export interface BootstrapNode {
  publicKey: WalletLike
  ip: string
  quicPort: number
  tcpPort: number
}

/**
 * The registry: resolves with the wallet addresses (or public keys) allowed to connect. Called at
 * start, every `registryRefreshIntervalMs` and (rate-limited) for unknown peers; invalid entries are
 * skipped and counted.
 */
export type GetAuthorizedWallets = (signal: AbortSignal) => Promise<Iterable<WalletLike>>
/** Resolves with the bootstrap nodes to dial; called at start and on every retry while not ready. */
export type GetBootstrapNodes = (signal: AbortSignal) => Promise<BootstrapNode[]>

/**
 * Options of {@link connect}; every optional one has its default in {@link DEFAULT_OPTIONS}. Unknown
 * options are refused.
 */
export interface ConnectOptions {
  /** Base58 string of the 64-byte Solana secret key, or the 64 bytes themselves. */
  walletPrivateKey: string | Uint8Array
  /** Namespace: 1-64 chars of [A-Za-z0-9._-]. */
  databaseName: string
  /** Returns the registry's authorized wallets (base58 strings or PublicKeys). */
  getAuthorizedWallets: GetAuthorizedWallets
  /** Returns bootstrap nodes; entries with this node's own key are skipped. */
  getBootstrapNodes: GetBootstrapNodes
  /** @default pino JSON on stderr, level from DEPIN_LOG_LEVEL or 'info' */
  logger?: Logger
  /** 0 = ephemeral port. @default { quic: 4001, tcp: 4002 } */
  listenPorts?: { quic?: number, tcp?: number }
  /** IPv4 address to listen on. @default '0.0.0.0' */
  listenHost?: string
  /** Multiaddrs announced instead of the listen addresses (e.g. a public IP behind NAT). @default [] */
  announceAddresses?: string[]
  /** Registry cache refresh period. @default 30_000 */
  registryRefreshIntervalMs?: number
  /** Time limit for one getAuthorizedWallets call. @default 10_000 */
  registryTimeoutMs?: number
  /** Minimum time between two registry calls caused by unknown peers (cache misses). @default 2_000 */
  registryMissIntervalMs?: number
  /**
   * A registry refresh that removes more than this fraction of the authorized set is held back until
   * a second read (after registryMissIntervalMs) confirms it; smaller removals apply at once. 1 = never hold back. @default 0.5
   */
  registryMaxShrinkFraction?: number
  /** Delay before the first bootstrap retry. @default 2_000 */
  bootstrapFirstRetryDelayMs?: number
  /** Delay between later bootstrap retries. @default 5_000 */
  bootstrapRetryIntervalMs?: number
  /** Time limit for dialing one bootstrap node (and for one getBootstrapNodes call). @default 30_000 */
  connectTimeoutMs?: number
  /** low: discovery stops dialing new peers at this many connections; high: hard cap. @default { low: 100, high: 400 } */
  connectionLimits?: { low?: number, high?: number }
  /** Act as a circuit relay v2 server for other authorized peers. @default false */
  relayServer?: boolean
  /** Reserve a slot on connected relays so peers can reach this node through them (listen on /p2p-circuit). @default false */
  relayReservation?: boolean
  /**
   * Largest encoded event, in bytes, published or accepted. At most 1_047_552: with its signed
   * envelope the event must fit one 1 MiB GossipSub frame, the most a Go node reads. @default 1_047_552
   */
  maxMessageBytes?: number
  /** How long publish() waits for a subscribed peer before failing with NoSubscribersError. @default 5_000 */
  publishTimeoutMs?: number
  /** Advertise this database's rendezvous on the DHT this often. @default 30_000 */
  discoveryAdvertiseIntervalMs?: number
  /** Look up other peers of this database this often. @default 60_000 */
  discoveryLookupIntervalMs?: number
  /** Dial at most this many newly discovered peers per lookup. @default 5 */
  discoveryMaxDialsPerRound?: number
  /**
   * Directory for this wallet's records (sticky heads and content, kad-dht records), on disk with
   * synchronous writes; one per wallet host, locked. Host-wide: a later connect() for the same wallet
   * must give the same value (ConfigError otherwise). @default none: records in memory
   */
  dataDir?: string
  /** A libp2p metrics implementation, e.g. `prometheusMetrics()` from @libp2p/prometheus-metrics (the daemon uses it). Host-wide: taken from the first connect() of a wallet. @default none */
  libp2pMetrics?: (components: any) => unknown
  /** Sticky topic settings; each declared once, with its default and validation, in src/sticky/options.ts. */
  sticky?: Partial<StickyOptions>
}

/** The default of every optional {@link ConnectOptions} field (exported as `DEFAULT_OPTIONS`). */
export const DEFAULTS = {
  listenPorts: { quic: 4001, tcp: 4002 },
  listenHost: '0.0.0.0',
  announceAddresses: [] as string[],
  registryRefreshIntervalMs: 30_000,
  registryTimeoutMs: 10_000,
  registryMissIntervalMs: 2_000,
  registryMaxShrinkFraction: 0.5,
  bootstrapFirstRetryDelayMs: 2_000,
  bootstrapRetryIntervalMs: 5_000,
  connectTimeoutMs: 30_000,
  connectionLimits: { low: 100, high: 400 },
  relayServer: false,
  relayReservation: false,
  maxMessageBytes: MAX_EVENT_BYTES,
  publishTimeoutMs: 5_000,
  discoveryAdvertiseIntervalMs: 30_000,
  discoveryLookupIntervalMs: 60_000,
  discoveryMaxDialsPerRound: 5
} as const

export const DATABASE_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
/** DATABASE_NAME_PATTERN in words (error messages, help). */
export const DATABASE_NAME_DOC = '1-64 characters of [A-Za-z0-9._-]'

const port = z.number({ error: 'expected an integer 0-65535' }).int('expected an integer 0-65535').min(0, 'expected an integer 0-65535').max(65535, 'expected an integer 0-65535')
const fn = (what: string): z.ZodType<(...args: any[]) => any> => z.custom<(...args: any[]) => any>((v) => typeof v === 'function', { error: `expected a function ${what}` })

const schema = z.object({
  walletPrivateKey: z.union([z.string().min(1), z.instanceof(Uint8Array)], { error: 'expected a base58 string or a Uint8Array(64)' }),
  databaseName: z.string({ error: 'expected a string' }).regex(DATABASE_NAME_PATTERN, `expected ${DATABASE_NAME_DOC}`),
  getAuthorizedWallets: fn('(signal) => Promise<Iterable<string | PublicKey>>'),
  getBootstrapNodes: fn('(signal) => Promise<BootstrapNode[]>'),
  logger: z.custom<Logger>((v) => v != null && ['debug', 'info', 'warn', 'error'].every((k) => typeof (v as any)[k] === 'function'),
    { error: 'expected an object with debug, info, warn and error functions' }).optional(),
  listenPorts: z.object({ quic: port.optional(), tcp: port.optional() }).strict().optional(),
  listenHost: z.ipv4({ error: 'expected an IPv4 address' }).optional(),
  announceAddresses: z.array(z.string().startsWith('/', 'expected a multiaddr string')).optional(),
  registryRefreshIntervalMs: ms(100).optional(),
  registryTimeoutMs: ms(1).optional(),
  registryMissIntervalMs: ms(0).optional(),
  registryMaxShrinkFraction: z.number({ error: 'expected a fraction between 0 and 1' }).min(0, 'expected a fraction between 0 and 1').max(1, 'expected a fraction between 0 and 1').optional(),
  bootstrapFirstRetryDelayMs: ms(0).optional(),
  bootstrapRetryIntervalMs: ms(1).optional(),
  connectTimeoutMs: ms(1).optional(),
  connectionLimits: z.object({ low: z.number().int().min(1).optional(), high: z.number().int().min(1).optional() }).strict().optional(),
  relayServer: z.boolean({ error: 'expected true or false' }).optional(),
  relayReservation: z.boolean({ error: 'expected true or false' }).optional(),
  maxMessageBytes: z.number().int().min(64, 'expected at least 64 bytes').max(MAX_EVENT_BYTES, `expected at most ${MAX_EVENT_BYTES} bytes: an event and its signed envelope must fit one GossipSub frame of 1 MiB, the largest a Go node (go-libp2p-pubsub) reads`).optional(),
  publishTimeoutMs: ms(0).optional(),
  discoveryAdvertiseIntervalMs: ms(100).optional(),
  discoveryLookupIntervalMs: ms(100).optional(),
  discoveryMaxDialsPerRound: z.number().int().min(0).optional(),
  dataDir: z.string({ error: 'expected a directory path' }).min(1, 'expected a directory path').optional(),
  libp2pMetrics: fn('(components) => Metrics, e.g. prometheusMetrics()').optional(),
  sticky: stickyOptionsSchema
}).strict()

type Defaults = typeof DEFAULTS
/** connect() options after validation: every default filled in, `sticky` included. */
export type ResolvedOptions = Omit<ConnectOptions, keyof Defaults | 'sticky'> & { sticky: StickyOptions } & {
  -readonly [K in keyof Defaults]: K extends 'listenPorts' ? { quic: number, tcp: number }
    : K extends 'connectionLimits' ? { low: number, high: number }
      : K extends 'announceAddresses' ? string[]
        : Defaults[K] extends boolean ? boolean : Defaults[K] extends number ? number : Defaults[K] extends string ? string : Defaults[K]
}

/** Validates connect() options and fills in defaults. Throws ConfigError naming the first bad field. */
export function resolveOptions (input: unknown): ResolvedOptions {
  if (input == null || typeof input !== 'object') throw new ConfigError('options', 'expected an object')
  const result = schema.safeParse(input)
  if (!result.success) {
    const issue = result.error.issues[0]!
    const field = issue.path.length > 0 ? issue.path.join('.') : 'options'
    let message = issue.message
    if (issue.code === 'unrecognized_keys') message = `unknown option(s): ${issue.keys.join(', ')}`
    else if (issue.path.length === 1 && (input as Record<string, unknown>)[String(issue.path[0])] === undefined) message = `is required (${message})`
    throw new ConfigError(field, message)
  }
  const o = result.data
  const limits = { ...DEFAULTS.connectionLimits, ...o.connectionLimits }
  if (limits.low > limits.high) throw new ConfigError('connectionLimits.low', `must not exceed connectionLimits.high (${limits.high})`)
  return {
    ...DEFAULTS,
    ...o,
    listenPorts: { ...DEFAULTS.listenPorts, ...o.listenPorts },
    connectionLimits: limits,
    announceAddresses: o.announceAddresses ?? [],
    dataDir: o.dataDir == null ? undefined : resolve(o.dataDir)
  } as ResolvedOptions
}
