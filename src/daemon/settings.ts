/*
 * The daemon's settings: one table (SETTINGS) names every setting once with its config-file path,
 * environment variable, command-line flag, type and default; the zod schema below validates the
 * merged result. Both the loader (load-config.ts) and the CLI's --help are built from the table, so
 * a setting cannot exist in one place and be missing in another.
 */
import { z } from 'zod'
import { DATABASE_NAME_DOC, DATABASE_NAME_PATTERN, DEFAULTS } from '../config.js'

/**
 * The daemon's own defaults (library defaults come from config.ts DEFAULTS): the table's help and
 * the schema both read them, so each is typed once.
 */
export const DAEMON_DEFAULTS = {
  httpHost: '0.0.0.0',
  httpPort: 9464,
  readyz: 'peer',
  inspectHost: '127.0.0.1',
  inspectPort: 9470,
  logLevel: 'info',
  solanaWalletOffset: 8,
  solanaCommitment: 'confirmed',
  stdin: false,
  shutdownTimeoutMs: 10_000
} as const

export type SettingType = 'string' | 'int' | 'bool' | 'list' | 'secret'

export interface Setting {
  /** dotted path in the config file, e.g. `listen.quicPort` */
  path: string
  env: string
  /** command-line flag; secrets have none (flags are visible in `ps`) */
  flag?: string
  type: SettingType
  help: string
}

export const SETTINGS: readonly Setting[] = [
  { path: 'database', env: 'DEPIN_DATABASE', flag: '--database', type: 'string', help: `database (namespace) name, ${DATABASE_NAME_DOC} (required)` },
  { path: 'keyFile', env: 'DEPIN_KEY_FILE', flag: '--key-file', type: 'string', help: 'wallet key file in Solana CLI format (JSON array of 64 bytes)' },
  { path: 'key', env: 'DEPIN_KEY', type: 'secret', help: 'wallet secret key, base58 or a JSON array of 64 bytes (env only; never logged)' },
  { path: 'listen.host', env: 'DEPIN_LISTEN_HOST', flag: '--listen-host', type: 'string', help: `IPv4 address to listen on (default ${DEFAULTS.listenHost})` },
  { path: 'listen.quicPort', env: 'DEPIN_QUIC_PORT', flag: '--quic-port', type: 'int', help: `QUIC (UDP) port (default ${DEFAULTS.listenPorts.quic}; 0 = ephemeral)` },
  { path: 'listen.tcpPort', env: 'DEPIN_TCP_PORT', flag: '--tcp-port', type: 'int', help: `TCP port (default ${DEFAULTS.listenPorts.tcp}; 0 = ephemeral)` },
  { path: 'announce', env: 'DEPIN_ANNOUNCE', flag: '--announce', type: 'list', help: 'multiaddrs to announce instead of the listen addresses (comma-separated)' },
  { path: 'http.host', env: 'DEPIN_HTTP_HOST', flag: '--http-host', type: 'string', help: `address of the metrics/health HTTP server (default ${DAEMON_DEFAULTS.httpHost})` },
  { path: 'http.port', env: 'DEPIN_HTTP_PORT', flag: '--http-port', type: 'int', help: `port of the metrics/health HTTP server (default ${DAEMON_DEFAULTS.httpPort}; 0 = ephemeral)` },
  { path: 'inspect.host', env: 'DEPIN_INSPECT_HOST', flag: '--inspect-host', type: 'string', help: `address of the read-only inspection listener (/node, /peers, /topics; default ${DAEMON_DEFAULTS.inspectHost}: its answers name peers, addresses and topics, so widen it only on a trusted network)` },
  { path: 'inspect.port', env: 'DEPIN_INSPECT_PORT', flag: '--inspect-port', type: 'int', help: `port of the inspection listener (default ${DAEMON_DEFAULTS.inspectPort}; 0 = ephemeral)` },
  { path: 'http.readyz', env: 'DEPIN_HTTP_READYZ', flag: '--http-readyz', type: 'string', help: `what /readyz waits for: peer (one authorized peer) | sticky (enough replica-capable peers for the sticky write quorum) (default ${DAEMON_DEFAULTS.readyz})` },
  { path: 'dataDir', env: 'DEPIN_DATA_DIR', flag: '--data-dir', type: 'string', help: 'directory for this node\'s records (sticky history, DHT records) on disk; unset = in memory (lost on restart)' },
  { path: 'log.level', env: 'DEPIN_LOG_LEVEL', flag: '--log-level', type: 'string', help: `debug | info | warn | error | silent (default ${DAEMON_DEFAULTS.logLevel})` },
  { path: 'registry.file', env: 'DEPIN_REGISTRY_FILE', flag: '--registry-file', type: 'string', help: 'JSON file of authorized wallet addresses (re-read when it changes)' },
  { path: 'registry.url', env: 'DEPIN_REGISTRY_URL', flag: '--registry-url', type: 'string', help: 'HTTP(S) URL returning a JSON list of authorized wallet addresses' },
  { path: 'registry.solana.rpcUrl', env: 'DEPIN_SOLANA_RPC_URL', flag: '--solana-rpc-url', type: 'string', help: 'Solana JSON-RPC URL of the on-chain registry' },
  { path: 'registry.solana.programId', env: 'DEPIN_SOLANA_PROGRAM_ID', flag: '--solana-program-id', type: 'string', help: 'registry program id (base58)' },
  { path: 'registry.solana.accountSize', env: 'DEPIN_SOLANA_ACCOUNT_SIZE', flag: '--solana-account-size', type: 'int', help: 'byte size of one registry account (getProgramAccounts dataSize filter)' },
  { path: 'registry.solana.walletOffset', env: 'DEPIN_SOLANA_WALLET_OFFSET', flag: '--solana-wallet-offset', type: 'int', help: `byte offset of the 32-byte wallet key in the account (default ${DAEMON_DEFAULTS.solanaWalletOffset})` },
  { path: 'registry.solana.commitment', env: 'DEPIN_SOLANA_COMMITMENT', flag: '--solana-commitment', type: 'string', help: `processed | confirmed | finalized (default ${DAEMON_DEFAULTS.solanaCommitment})` },
  { path: 'registry.refreshIntervalMs', env: 'DEPIN_REGISTRY_REFRESH_MS', flag: '--registry-refresh-ms', type: 'int', help: `registry refresh period (default ${DEFAULTS.registryRefreshIntervalMs})` },
  { path: 'registry.timeoutMs', env: 'DEPIN_REGISTRY_TIMEOUT_MS', flag: '--registry-timeout-ms', type: 'int', help: `time limit of one registry source call (default ${DEFAULTS.registryTimeoutMs})` },
  { path: 'bootstrap.file', env: 'DEPIN_BOOTSTRAP_FILE', flag: '--bootstrap-file', type: 'string', help: 'JSON file of bootstrap nodes [{publicKey, ip, quicPort, tcpPort}]' },
  { path: 'bootstrap.nodes', env: 'DEPIN_BOOTSTRAP', flag: '--bootstrap', type: 'list', help: 'bootstrap nodes as WALLET@IP:QUICPORT:TCPPORT (comma-separated)' },
  { path: 'bootstrap.url', env: 'DEPIN_BOOTSTRAP_URL', flag: '--bootstrap-url', type: 'string', help: 'HTTP(S) URL returning a JSON list of bootstrap nodes' },
  { path: 'relay.server', env: 'DEPIN_RELAY_SERVER', flag: '--relay-server', type: 'bool', help: `act as a circuit relay v2 server (default ${DEFAULTS.relayServer})` },
  { path: 'relay.reservation', env: 'DEPIN_RELAY_RESERVATION', flag: '--relay-reservation', type: 'bool', help: `reserve a slot on connected relays (default ${DEFAULTS.relayReservation})` },
  { path: 'topics.realtime', env: 'DEPIN_TOPICS', flag: '--topics', type: 'list', help: 'real-time topics written to stdout as JSON lines (comma-separated)' },
  { path: 'topics.sticky', env: 'DEPIN_STICKY_TOPICS', flag: '--sticky-topics', type: 'list', help: 'sticky topics written to stdout as JSON lines, history included (comma-separated)' },
  { path: 'topics.stickyStateFile', env: 'DEPIN_STICKY_STATE_FILE', flag: '--sticky-state-file', type: 'string', help: 'file keeping each sticky topic\'s lastSeenVersion: after a restart the topics resume after it instead of replaying their history' },
  { path: 'stdin', env: 'DEPIN_STDIN', flag: '--stdin', type: 'bool', help: `publish JSON lines read from stdin: {"topic", "data", "sticky"?} (default ${DAEMON_DEFAULTS.stdin})` },
  { path: 'shutdownTimeoutMs', env: 'DEPIN_SHUTDOWN_TIMEOUT_MS', flag: '--shutdown-timeout-ms', type: 'int', help: `exit non-zero if a graceful stop takes longer (default ${DAEMON_DEFAULTS.shutdownTimeoutMs})` }
]

const int = (what: string, min: number, max: number): z.ZodNumber =>
  z.number({ error: `expected ${what}` }).int(`expected ${what}`).min(min, `expected ${what}`).max(max, `expected ${what}`)
const port = int('a port number 0-65535', 0, 65535)
const ms = (min: number): z.ZodNumber => int(`an integer number of milliseconds >= ${min}`, min, 2 ** 31)
const url = z.string().regex(/^https?:\/\/\S+$/, 'expected an http:// or https:// URL')
const base58 = z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, 'expected a base58 public key')

export const daemonSchema = z.object({
  database: z.string({ error: 'is required: a database name' }).regex(DATABASE_NAME_PATTERN, `expected ${DATABASE_NAME_DOC}`),
  keyFile: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  listen: z.object({
    host: z.ipv4({ error: 'expected an IPv4 address' }).default(DEFAULTS.listenHost),
    quicPort: port.default(DEFAULTS.listenPorts.quic),
    tcpPort: port.default(DEFAULTS.listenPorts.tcp)
  }).strict().prefault({}),
  announce: z.array(z.string().startsWith('/', 'expected a multiaddr string')).default([]),
  http: z.object({
    host: z.ipv4({ error: 'expected an IPv4 address' }).default(DAEMON_DEFAULTS.httpHost),
    port: port.default(DAEMON_DEFAULTS.httpPort),
    readyz: z.enum(['peer', 'sticky'], { error: 'expected peer or sticky' }).default(DAEMON_DEFAULTS.readyz)
  }).strict().prefault({}),
  inspect: z.object({
    host: z.ipv4({ error: 'expected an IPv4 address' }).default(DAEMON_DEFAULTS.inspectHost),
    port: port.default(DAEMON_DEFAULTS.inspectPort)
  }).strict().prefault({}),
  dataDir: z.string().min(1).optional(),
  log: z.object({
    level: z.enum(['debug', 'info', 'warn', 'error', 'silent'], { error: 'expected debug, info, warn, error or silent' }).default(DAEMON_DEFAULTS.logLevel)
  }).strict().prefault({}),
  registry: z.object({
    file: z.string().min(1).optional(),
    url: url.optional(),
    solana: z.object({
      rpcUrl: url,
      programId: base58,
      accountSize: int('a byte count 32-10485760', 32, 10 * 1024 * 1024),
      walletOffset: int('a byte offset >= 0', 0, 10 * 1024 * 1024).default(DAEMON_DEFAULTS.solanaWalletOffset),
      commitment: z.enum(['processed', 'confirmed', 'finalized'], { error: 'expected processed, confirmed or finalized' }).default(DAEMON_DEFAULTS.solanaCommitment)
    }).strict().optional(),
    refreshIntervalMs: ms(100).default(DEFAULTS.registryRefreshIntervalMs),
    timeoutMs: ms(1).default(DEFAULTS.registryTimeoutMs)
  }).strict().prefault({}),
  bootstrap: z.object({
    file: z.string().min(1).optional(),
    nodes: z.array(z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}@[0-9.]+:\d+:\d+$/, 'expected WALLET@IP:QUICPORT:TCPPORT')).default([]),
    url: url.optional()
  }).strict().prefault({}),
  relay: z.object({
    server: z.boolean({ error: 'expected true or false' }).default(DEFAULTS.relayServer),
    reservation: z.boolean({ error: 'expected true or false' }).default(DEFAULTS.relayReservation)
  }).strict().prefault({}),
  topics: z.object({
    realtime: z.array(z.string().min(1)).default([]),
    sticky: z.array(z.string().min(1)).default([]),
    stickyStateFile: z.string().min(1).optional()
  }).strict().prefault({}),
  stdin: z.boolean({ error: 'expected true or false' }).default(DAEMON_DEFAULTS.stdin),
  shutdownTimeoutMs: ms(100).default(DAEMON_DEFAULTS.shutdownTimeoutMs),
  /** passed to connect() as is and validated there (see the library's options) */
  options: z.record(z.string(), z.unknown()).default({})
}).strict()
  .refine((c) => c.keyFile != null || c.key != null, { message: 'is required: set keyFile (DEPIN_KEY_FILE, --key-file) or DEPIN_KEY', path: ['keyFile'] })
  .refine((c) => c.registry.file != null || c.registry.url != null || c.registry.solana != null,
    { message: 'is required: set registry.file, registry.url or registry.solana', path: ['registry'] })

export type DaemonConfig = z.infer<typeof daemonSchema>
