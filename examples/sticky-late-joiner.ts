/*
 * Sticky topics: history that outlives the publisher's connection. Three nodes form a network; one
 * posts 20 status updates to the sticky topic `status`; a fourth node joins afterwards and still
 * receives all 20, oldest first, then a live one.
 *
 *   npx tsx examples/sticky-late-joiner.ts
 */
import { Keypair } from '@solana/web3.js'
import { connect, type BootstrapNode, type Database, type StickyMessage } from '../src/index.js'
import { localBootstrapEntry, quietLogger } from './local-network.js'

const wallets = Array.from({ length: 4 }, () => Keypair.generate())
const registry = wallets.map((w) => w.publicKey.toBase58())
let bootstrap: BootstrapNode[] = []

async function node (wallet: Keypair): Promise<Database> {
  const db = await connect({
    walletPrivateKey: wallet.secretKey,
    databaseName: 'sticky-demo',
    listenHost: '127.0.0.1',
    listenPorts: { quic: 0, tcp: 0 },
    getAuthorizedWallets: async () => registry,
    getBootstrapNodes: async () => bootstrap,
    bootstrapFirstRetryDelayMs: 200,
    logger: quietLogger
  })
  if (bootstrap.length === 0) bootstrap = [localBootstrapEntry(db)]
  return db
}

const early = [await node(wallets[0]!), await node(wallets[1]!), await node(wallets[2]!)]
await Promise.all(early.slice(1).map(async (n) => { await n.waitUntilReady({ signal: AbortSignal.timeout(30_000) }) }))
const publisher = early[1]!
// acknowledged = on a majority of the topic's replicas; publishes to one topic are batched
const acks = await Promise.all(Array.from({ length: 20 }, async (_, i) => await publisher.sticky.publish('status', { update: i + 1 })))
console.log(`published 20 updates, coordinator version ${Math.max(...acks.map((a) => a.version))}`)

const late = await node(wallets[3]!)
await late.waitUntilReady({ signal: AbortSignal.timeout(30_000) })
const got: StickyMessage[] = []
const sub = await late.sticky.subscribe('status', {
  onMessage: (m) => { got.push(m); console.log(`late joiner <- update ${(m.data as { update: number }).update} (v${m.addedInVersion})`) }
})
await publisher.sticky.publish('status', { update: 21 })
const deadline = Date.now() + 20_000
while (got.length < 21 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
const info = await late.sticky.topicInfo('status')
console.log(`topic: version ${info.version}, ${info.messageCount} messages, ${info.subscriberCount} subscriber(s)`)
const ok = got.length === 21 && got.every((m, i) => (m.data as { update: number }).update === i + 1)
await sub.unsubscribe()
await Promise.all([...early, late].map(async (n) => { await n.disconnect() }))
console.log(ok ? 'OK: history and live update, in order, exactly once' : `FAILED: got ${got.length} of 21`)
process.exit(ok ? 0 : 1)
