/*
 * Shared by the examples: what a real deployment gets from its config (the registry, bootstrap
 * addresses) made up on loopback, so every example runs on one machine with no setup.
 */
import type { BootstrapNode, Database, Logger } from '../src/index.js'

/** The Go-format bootstrap entry of a node listening on 127.0.0.1. */
export function localBootstrapEntry (db: Database): BootstrapNode {
  const addrs = db.libp2p.getMultiaddrs().map(String)
  const port = (re: RegExp): number => Number(addrs.map((a) => re.exec(a)?.[1]).find((p) => p != null))
  return { publicKey: db.walletAddress, ip: '127.0.0.1', quicPort: port(/udp\/(\d+)\/quic-v1/), tcpPort: port(/tcp\/(\d+)/) }
}

/** Warnings and errors only, on stderr. */
export const quietLogger: Logger = {
  debug () {},
  info () {},
  warn: (m, ...kv) => { console.warn('warn:', m, ...kv) },
  error: (m, ...kv) => { console.error('error:', m, ...kv) }
}
