/*
 * connect(): validates options, derives the identity from the wallet key, joins (or creates) the
 * process's shared host for that wallet and opens a Database on it. Returns once the registry has
 * been read once and the host listens; bootstrap continues in the background (use
 * waitUntilReady() or the 'ready' event).
 */
import './polyfills.js'
import { resolveOptions, type ConnectOptions } from './config.js'
import type { Database } from './api.js'
import { DatabaseImpl } from './database.js'
import { ConfigError, DepinError } from './errors.js'
import { peerIdToWallet, walletPrivateKey } from './identity.js'
import { ComponentLogger, createPinoLogger } from './logger.js'
import { acquireHost, createSharedHost, releaseHost } from './host/shared-host.js'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

/**
 * Opens a database (a namespace of topics) for a wallet: validates the options, derives the libp2p
 * identity from the wallet key, joins or creates this process's host for that wallet (one host, one
 * set of ports per wallet) and starts the registry cache, bootstrap and discovery. Resolves once the
 * registry was read once and the host listens; bootstrap continues in the background, so wait for
 * {@link Database.waitUntilReady} before publishing.
 *
 * @throws {@link ConfigError} (`ERR_INVALID_CONFIG`, with `field`) for invalid options, and
 * {@link InvalidWalletError} for a key that is not a valid Solana secret key.
 */
export async function connect (input: ConnectOptions): Promise<Database> { return await openDatabase(input) }

/** connect(), returning the implementation (the daemon needs a little more than the public API). @internal */
export async function openDatabase (input: ConnectOptions): Promise<DatabaseImpl> {
  const options = resolveOptions(input)
  let privateKey
  try {
    privateKey = await walletPrivateKey(options.walletPrivateKey)
  } catch (err) {
    throw new ConfigError('walletPrivateKey', err instanceof DepinError ? err.message : String(err))
  }
  const peerId = peerIdFromPrivateKey(privateKey)
  const wallet = peerIdToWallet(peerId)!
  const base = new ComponentLogger(options.logger ?? createPinoLogger())
  const nodeLog = base.child('peer', peerId.toString())
  const host = await acquireHost(wallet, async () => await createSharedHost(privateKey, options, nodeLog.child('component', 'host')))
  if (host.hostOptions !== options) {
    for (const key of ['listenPorts', 'listenHost', 'relayServer', 'relayReservation', 'maxMessageBytes'] as const) {
      if (JSON.stringify(host.hostOptions[key]) !== JSON.stringify(options[key])) {
        nodeLog.warn('host option ignored: this wallet\'s host is already running with another value', 'option', key)
      }
    }
  }
  const db = new DatabaseImpl(host, options, nodeLog.child('db', options.databaseName))
  try {
    await db.start()
  } catch (err) {
    await releaseHost(host)
    throw err
  }
  return db
}
