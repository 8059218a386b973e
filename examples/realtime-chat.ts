/*
 * Real-time chat between two nodes on the topic `chat` (GossipSub topic `chat-demo_chat`, the Go
 * library's naming). Each node sends three lines; each prints what the other said.
 *
 *   npx tsx examples/realtime-chat.ts
 */
import { Keypair } from '@solana/web3.js'
import { connect, type BootstrapNode, type Database } from '../src/index.js'
import { localBootstrapEntry, quietLogger } from './local-network.js'

const alice = Keypair.generate()
const bob = Keypair.generate()
const registry = [alice.publicKey.toBase58(), bob.publicKey.toBase58()]
let bootstrap: BootstrapNode[] = []

async function join (name: string, wallet: Keypair): Promise<{ db: Database, heard: string[] }> {
  const db = await connect({
    walletPrivateKey: wallet.secretKey,
    databaseName: 'chat-demo',
    listenHost: '127.0.0.1',
    listenPorts: { quic: 0, tcp: 0 },
    getAuthorizedWallets: async () => registry,
    getBootstrapNodes: async () => bootstrap,
    bootstrapFirstRetryDelayMs: 200,
    logger: quietLogger
  })
  const heard: string[] = []
  await db.subscribe<{ from: string, text: string }>('chat', (e) => {
    heard.push(e.message.text)
    console.log(`[${name}] ${e.message.from}: ${e.message.text}`)
  })
  return { db, heard }
}

const a = await join('alice', alice)
bootstrap = [localBootstrapEntry(a.db)]
const b = await join('bob', bob)
await b.db.waitUntilReady({ signal: AbortSignal.timeout(30_000) })

for (let i = 1; i <= 3; i++) {
  // publish waits (up to publishTimeoutMs) until the other side's subscription is reachable
  await a.db.publish('chat', { from: 'alice', text: `hi bob (${i})` })
  await b.db.publish('chat', { from: 'bob', text: `hi alice (${i})` })
}
const deadline = Date.now() + 10_000
while ((a.heard.length < 3 || b.heard.length < 3) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
const ok = a.heard.length === 3 && b.heard.length === 3
await Promise.all([a.db.disconnect(), b.db.disconnect()])
console.log(ok ? 'OK: 3 lines each way' : `FAILED: alice heard ${a.heard.length}, bob heard ${b.heard.length}`)
process.exit(ok ? 0 : 1)
