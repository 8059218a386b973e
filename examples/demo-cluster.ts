/*
 * `npm start`: a local depin-p2p network on loopback with generated wallets and an embedded
 * registry, showing both topic kinds. Three nodes take turns publishing to the real-time topic
 * `chat` (delivered to whoever is subscribed now) and to the sticky topic `log` (kept in the
 * network). After a few rounds a fourth node joins late: it prints the `log` history it received,
 * then keeps receiving live. Ctrl-C stops every node gracefully.
 *
 *   npm start                      # ports 4001-4008 (QUIC/TCP pairs)
 *   DEMO_BASE_PORT=0 npm start     # ephemeral ports
 *   DEMO_INTERVAL_MS=500 DEMO_LATE_ROUND=2 DEMO_ROUNDS=5 npm start   # faster, stops by itself
 */
import { Keypair } from '@solana/web3.js'
import { connect, type BootstrapNode, type Database, type StickyMessage, type StickySubscription } from '../src/index.js'
import { localBootstrapEntry, quietLogger } from './local-network.js'

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback)
const basePort = env('DEMO_BASE_PORT', 4001)
const intervalMs = env('DEMO_INTERVAL_MS', 2_000)
const lateRound = env('DEMO_LATE_ROUND', 3) // the fourth node joins after this many rounds
const rounds = process.env.DEMO_ROUNDS != null ? env('DEMO_ROUNDS', 0) : Infinity
const wallets = Array.from({ length: 4 }, () => Keypair.generate())
const registry = wallets.map((w) => w.publicKey.toBase58()) // the "on-chain" registry, embedded

const t0 = Date.now()
const names = new Map<string, string>() // peer id -> node name
const say = (what: string): void => { console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${what}`) }
const text = (m: unknown): string => JSON.stringify(m)
const nodes: Database[] = []
let lateSub: StickySubscription | undefined
/** sticky publishes made before node3 joins: it joins once they are acknowledged, so its history holds them */
const earlier: Array<Promise<void>> = []
let bootstrap: BootstrapNode[] = []
let stopping = false
let timer: NodeJS.Timeout | undefined

async function shutdown (why: string): Promise<void> {
  if (stopping) return
  stopping = true
  clearInterval(timer)
  const started = Date.now()
  say(`${why}: stopping ${nodes.length} nodes (queued sticky messages are committed first)`)
  // leave the topic's subscriber collection while every replica is still up, then stop the nodes
  await lateSub?.unsubscribe()
  await Promise.all(nodes.map(async (n) => { await n.disconnect() }))
  say(`stopped: all ${nodes.length} nodes disconnected gracefully in ${Date.now() - started} ms`)
  process.exit(0)
}
// Ctrl-C reaches both npm and this process, and npm forwards it again: a repeat within a second is
// the same press
let firstSigint = 0
process.on('SIGINT', () => {
  if (firstSigint > 0 && Date.now() - firstSigint < 1_000) return
  if (stopping) { console.log('second Ctrl-C: exiting now'); process.exit(1) }
  firstSigint = Date.now()
  process.stdout.write('\n')
  void shutdown('Ctrl-C')
})
process.on('SIGTERM', () => { void shutdown('SIGTERM') })

async function startNode (i: number): Promise<Database> {
  const ports = basePort === 0 ? { quic: 0, tcp: 0 } : { quic: basePort + 2 * i, tcp: basePort + 2 * i + 1 }
  const db = await connect({
    walletPrivateKey: wallets[i]!.secretKey,
    databaseName: 'demo',
    listenHost: '127.0.0.1',
    listenPorts: ports,
    getAuthorizedWallets: async () => registry,
    getBootstrapNodes: async () => bootstrap,
    logger: quietLogger,
    bootstrapFirstRetryDelayMs: 300,
    bootstrapRetryIntervalMs: 1_000
  })
  if (i === 0) bootstrap = [localBootstrapEntry(db)]
  names.set(db.peerId, `node${i}`)
  const entry = localBootstrapEntry(db)
  console.log(`  node${i}  wallet ${db.walletAddress.padEnd(44)}  quic ${entry.quicPort}  tcp ${entry.tcpPort}${i === 0 ? '  (bootstrap)' : ''}`)
  nodes.push(db)
  return db
}

console.log('depin-p2p demo: database "demo" on 127.0.0.1, real-time topic "chat", sticky topic "log"')
for (let i = 0; i < 3; i++) {
  const db = await startNode(i)
  await db.subscribe('chat', (event) => { say(`chat    node${i} <- ${names.get(event.fromPeerId) ?? event.fromPeerId}  ${text(event.message)}`) })
}
await Promise.all(nodes.map(async (n) => { await n.waitUntilReady({ signal: AbortSignal.timeout(30_000) }) }))
say(`3 nodes ready; one publishes to each topic every ${intervalMs / 1000} s; node3 joins after round ${lateRound} (Ctrl-C to stop)`)

let round = 0
timer = setInterval(() => { void tick() }, intervalMs)

async function tick (): Promise<void> {
  if (stopping) return
  round++
  if (round > rounds) { await shutdown('DEMO_ROUNDS reached'); return }
  const entry = round
  const i = (entry - 1) % 3
  const from = nodes[i]!
  from.publish('chat', { hello: `from node${i}`, round: entry }).catch((err: Error) => { say(`chat    node${i} publish failed: ${err.message}`) })
  const started = Date.now()
  const acked = from.sticky.publish('log', { entry, by: `node${i}` }).then((ack) => {
    say(`sticky  node${i} -> log  entry ${String(entry).padEnd(3)} acknowledged by a quorum of replicas in ${Date.now() - started} ms (v${ack.version})`)
  }, (err: Error) => { if (!stopping) say(`sticky  node${i} publish failed: ${err.message}`) })
  if (entry < lateRound) earlier.push(acked)
  if (entry === lateRound) lateJoiner().catch((err: Error) => { if (!stopping) say(`node3 failed: ${err.message}`) })
}

async function lateJoiner (): Promise<void> {
  await Promise.all(earlier)
  if (stopping) return
  say('node3 starts late')
  const late = await startNode(3)
  await late.waitUntilReady({ signal: AbortSignal.timeout(30_000) })
  const history: StickyMessage[] = []
  let live = false
  lateSub = await late.sticky.subscribe('log', {
    receiveHistory: true,
    onMessage: (m) => {
      if (!live) { history.push(m); return }
      say(`sticky  node3 <- log  ${text(m.data)}  (live, v${m.addedInVersion})`)
    }
  })
  live = true
  if (stopping) return
  // oldest first: a message pushed while the history was loading may have arrived before it
  history.sort((a, b) => a.publishedAt - b.publishedAt)
  const describe = (m: StickyMessage | undefined): string => (m == null ? '-' : text(m.data))
  say(`sticky  node3 got the history of "log": ${history.length} messages, first ${describe(history[0])}, last ${describe(history.at(-1))}`)
}
