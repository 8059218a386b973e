/*
 * The datacenter daemon: turns a validated DaemonConfig into a running node. It builds the registry
 * and bootstrap callbacks from the configured sources, connects, serves /metrics, /healthz and
 * /readyz (and the read-only inspection endpoints on their own listener), runs the stdin/stdout bridge and owns the graceful stop order:
 *   stop reading stdin -> flush queued sticky batches -> wait for the lines read -> unsubscribe ->
 *   disconnect (stops the host) -> close the HTTP servers.
 */
import type { Readable, Writable } from 'node:stream'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { settlesWithin } from '../abort.js'
import { openDatabase } from '../connect.js'
import { DEFAULTS, type BootstrapNode, type ConnectOptions } from '../config.js'
import type { DatabaseImpl } from '../database.js'
import { ConfigError } from '../errors.js'
import { normalizeWalletAddress, walletPrivateKey } from '../identity.js'
import { ComponentLogger, createPinoLogger, type Logger } from '../logger.js'
import { Bridge } from './bridge.js'
import { HttpServer } from './http-server.js'
import { InspectServer, Inspector } from './inspect.js'
import { redactingLogger } from './redact.js'
import { parseSecretKey, readKeyFile } from './keys.js'
import { createDaemonMetrics, type DaemonMetrics } from './metrics.js'
import type { DaemonConfig } from './settings.js'
import {
  FileSource, HttpSource, LastGood, SolanaRegistrySource, StaticSource, fetchAll, parseBootstrapEntry, parseBootstrapList,
  parseWalletList, type ListSource
} from './sources.js'

export interface DaemonIo {
  stdin?: Readable
  stdout: Writable
  /** replaces the pino logger (tests) */
  logger?: Logger
}

export interface RunningDaemon {
  db: DatabaseImpl
  metrics: DaemonMetrics
  httpPort: number
  inspectPort: number
  /** graceful stop; resolves when everything is closed */
  stop(): Promise<void>
}

export async function startDaemon (config: DaemonConfig, io: DaemonIo): Promise<RunningDaemon> {
  const secret = config.key != null ? await parseSecretKey(config.key, 'key (DEPIN_KEY)') : await readKeyFile(config.keyFile!)
  const peerId = peerIdFromPrivateKey(await walletPrivateKey(secret)).toString()
  // credentials in the configured URLs never reach a log line, whoever writes it (libraries included)
  const base = redactingLogger(io.logger ?? createPinoLogger(config.log.level), [config.registry.url, config.bootstrap.url, config.registry.solana?.rpcUrl])
  const log = new ComponentLogger(base).child('peer', peerId, 'component', 'daemon')

  const registry = registrySources(config, log)
  const bootstrap = bootstrapSources(config, log)
  const metrics = createDaemonMetrics()
  const db = await openDatabase({
    ...(config.options as Partial<ConnectOptions>),
    walletPrivateKey: secret,
    databaseName: config.database,
    logger: base,
    listenHost: config.listen.host,
    listenPorts: { quic: config.listen.quicPort, tcp: config.listen.tcpPort },
    announceAddresses: config.announce,
    ...(config.dataDir != null ? { dataDir: config.dataDir } : {}),
    relayServer: config.relay.server,
    relayReservation: config.relay.reservation,
    registryRefreshIntervalMs: config.registry.refreshIntervalMs,
    // each source has its own time limit (registry.timeoutMs) and keeps its last good answer
    registryTimeoutMs: config.registry.timeoutMs + 1_000,
    libp2pMetrics: metrics.libp2p,
    getAuthorizedWallets: async (signal) => await fetchAll(registry.sources, signal, (w) => w),
    getBootstrapNodes: async (signal) => await fetchAll(bootstrap, signal, (n) => `${String(n.publicKey)}@${n.ip}`)
  })
  metrics.attach(db)
  const unwatch = registry.file?.watch(() => {
    log.info('registry file changed; refreshing')
    void db.registry.refresh('registry file changed')
  })

  let stopping: Promise<void> | undefined
  const http = new HttpServer({
    registry: metrics.registry,
    // 'sticky': a rolling restart moves on only once this node can take part in sticky quorums again
    isReady: () => stopping == null && db.isReady() && (config.http.readyz !== 'sticky' || db.sticky.isReady()),
    readyDetail: () => ({ peerId, stopping: stopping != null, peers: db.connectedPeers().length, mode: config.http.readyz, stickyReady: db.sticky.isReady() })
  })
  const inspect = new InspectServer(new Inspector({ db, database: config.database, subscribedTopics: () => config.topics.sticky }))
  // a line carries one message as JSON: twice the event limit leaves room for escaping
  const maxMessageBytes = (config.options as Partial<ConnectOptions>).maxMessageBytes ?? DEFAULTS.maxMessageBytes
  const bridge = new Bridge({
    db, stdin: io.stdin, stdout: io.stdout, metrics: metrics.bridge, logger: log.child('component', 'bridge'), maxLineBytes: 2 * maxMessageBytes + 4096
  })
  let httpPort = 0
  let inspectPort = 0
  try {
    httpPort = await http.listen(config.http.host, config.http.port)
    inspectPort = await inspect.listen(config.inspect.host, config.inspect.port)
    await bridge.start(config.topics, config.stdin)
  } catch (err) {
    unwatch?.()
    bridge.stopReading()
    await http.close()
    await inspect.close()
    await db.disconnect()
    throw err
  }
  log.info('daemon started', 'database', config.database, 'addrs', db.libp2p.getMultiaddrs().map(String), 'httpPort', httpPort, 'inspectPort', inspectPort)

  const stop = async (): Promise<void> => {
    const started = Date.now()
    log.info('stopping: no new publishes; flushing queued messages')
    bridge.stopReading()
    // commit queued sticky batches now rather than after their flush delay
    await db.sticky.flush().catch((err: unknown) => { log.warn('some queued sticky messages could not be committed', 'error', err) })
    await bridge.drain()
    // leaving the sticky subscriber collections is a courtesy (entries expire anyway): bounded
    const left = await settlesWithin(config.shutdownTimeoutMs / 4, bridge.unsubscribeAll())
    if (!left) log.warn('unsubscribing took too long; the subscriptions will expire on their own')
    unwatch?.()
    // What is left queued now are subscription removals, a courtesy too: they get until half the
    // deadline, the other half is for closing libp2p, the datastore and the servers. (Until the
    // deadline's last 2 s, they took all of it whenever no quorum was left, two nodes of three
    // stopping together, and on a loaded machine the close then outran the 2 s: exit code 1.)
    await db.disconnect({ flushTimeoutMs: Math.max(100, config.shutdownTimeoutMs / 2 - (Date.now() - started)) })
    await http.close()
    await inspect.close()
    log.info('stopped', 'ms', Date.now() - started)
  }
  return { db, metrics, httpPort, inspectPort, stop: async () => { stopping ??= stop(); await stopping } }
}

function registrySources (config: DaemonConfig, log: ComponentLogger): { sources: Array<ListSource<string>>, file?: FileSource<string> } {
  const timeout = config.registry.timeoutMs
  const sources: Array<ListSource<string>> = []
  const file = config.registry.file != null ? new FileSource(config.registry.file, parseWalletList) : undefined
  if (file != null) sources.push(new LastGood(file, timeout, log))
  if (config.registry.url != null) sources.push(new LastGood(new HttpSource(config.registry.url, parseWalletList), timeout, log))
  if (config.registry.solana != null) {
    let solana: SolanaRegistrySource
    try {
      solana = new SolanaRegistrySource(config.registry.solana)
    } catch (err) {
      throw new ConfigError('registry.solana.walletOffset', (err as Error).message)
    }
    sources.push(new LastGood(solana, timeout, log))
  }
  return { sources, file }
}

function bootstrapSources (config: DaemonConfig, log: ComponentLogger): Array<ListSource<BootstrapNode>> {
  const timeout = config.registry.timeoutMs
  const sources: Array<ListSource<BootstrapNode>> = []
  const fixed = config.bootstrap.nodes.map((entry, i) => {
    try {
      const node = parseBootstrapEntry(entry)
      normalizeWalletAddress(node.publicKey)
      return node
    } catch (err) {
      throw new ConfigError(`bootstrap.nodes.${i}`, `${(err as Error).message}`)
    }
  })
  if (fixed.length > 0) sources.push(new StaticSource(fixed))
  if (config.bootstrap.file != null) sources.push(new LastGood(new FileSource(config.bootstrap.file, parseBootstrapList), timeout, log))
  if (config.bootstrap.url != null) sources.push(new LastGood(new HttpSource(config.bootstrap.url, parseBootstrapList), timeout, log))
  return sources
}
