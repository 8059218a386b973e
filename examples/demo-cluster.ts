/*
 * `npm start`: a local three-node depin-p2p network with generated wallets and an embedded
 * registry, on loopback. Node 0 is the bootstrap node; every node publishes a greeting on the
 * real-time topic `chat` every few seconds and prints what it receives. Ctrl-C stops it cleanly.
 *
 *   npm start                      # ports 4001-4006 (QUIC/TCP pairs)
 *   DEMO_BASE_PORT=0 npm start     # ephemeral ports
 */
import { Keypair } from '@solana/web3.js'
import { connect, type BootstrapNode, type Database } from '../src/index.js'

const basePort = Number(process.env.DEMO_BASE_PORT ?? 4001)
const size = Number(process.env.DEMO_NODES ?? 3)
const wallets = Array.from({ length: size }, () => Keypair.generate())
const registry = wallets.map((w) => w.publicKey.toBase58()) // the "on-chain" registry, embedded
const quiet = { debug () {}, info () {}, warn: (m: string, ...kv: unknown[]) => { console.warn('warn:', m, ...kv) }, error: (m: string, ...kv: unknown[]) => { console.error('error:', m, ...kv) } }

const nodes: Database[] = []
let bootstrap: BootstrapNode[] = []
for (const [i, wallet] of wallets.entries()) {
  const ports = basePort === 0 ? { quic: 0, tcp: 0 } : { quic: basePort + 2 * i, tcp: basePort + 2 * i + 1 }
  const db = await connect({
    walletPrivateKey: wallet.secretKey,
    databaseName: 'demo',
    listenHost: '127.0.0.1',
    listenPorts: ports,
    getAuthorizedWallets: async () => registry,
    getBootstrapNodes: async () => bootstrap,
    logger: quiet,
    bootstrapFirstRetryDelayMs: 500,
    bootstrapRetryIntervalMs: 1_000
  })
  if (i === 0) {
    const addrs = db.libp2p.getMultiaddrs().map(String)
    const port = (re: RegExp): number => Number(addrs.map((a) => re.exec(a)?.[1]).find((p) => p != null))
    bootstrap = [{ publicKey: db.walletAddress, ip: '127.0.0.1', quicPort: port(/udp\/(\d+)\/quic-v1/), tcpPort: port(/tcp\/(\d+)/) }]
  }
  await db.subscribe('chat', (event) => {
    console.log(`node${i} <- ${event.fromPeerId.slice(-6)}: ${JSON.stringify(event.message)}`)
  })
  console.log(`node${i} wallet ${db.walletAddress} peer ${db.peerId}`)
  nodes.push(db)
}

await Promise.all(nodes.slice(1).map(async (n) => { await n.waitUntilReady({ signal: AbortSignal.timeout(30_000) }) }))
console.log(`all ${size} nodes ready; publishing every 3 s (Ctrl-C to stop)`)

let round = 0
const timer = setInterval(() => {
  round++
  // DEMO_ROUNDS=N: publish N rounds, stop on the tick after the last (the smoke test uses it)
  if (process.env.DEMO_ROUNDS != null && round > Number(process.env.DEMO_ROUNDS)) { void shutdown(); return }
  for (const [i, n] of nodes.entries()) {
    n.publish('chat', { hello: `from node${i}`, round }).catch((err: Error) => { console.warn(`node${i} publish: ${err.message}`) })
  }
}, 3_000)

async function shutdown (): Promise<void> {
  clearInterval(timer)
  await Promise.all(nodes.map(async (n) => { await n.disconnect() }))
  console.log('stopped')
  process.exit(0)
}
process.once('SIGINT', () => { void shutdown() })
process.once('SIGTERM', () => { void shutdown() })
