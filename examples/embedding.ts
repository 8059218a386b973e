/*
 * Embedding depin-p2p in node software. The node software already knows how to read the on-chain
 * registry and where its bootstrap nodes are; it hands both to connect() as callbacks, starts its
 * work when the network is ready, and disconnects on shutdown.
 *
 *   npx tsx examples/embedding.ts
 *
 * Here two "media server" instances run in one process with a made-up registry; in production each
 * process runs one, with callbacks that call the real registry (see solana-registry.ts).
 */
import { Keypair } from '@solana/web3.js'
import { connect, type BootstrapNode, type Database, type Event } from '../src/index.js'
import { localBootstrapEntry, quietLogger } from './local-network.js'

interface JobAnnouncement { jobId: string, codec: string }

class MediaServer {
  private db: Database | undefined
  readonly received: Array<Event<JobAnnouncement>> = []

  constructor (private readonly wallet: Keypair, private readonly registry: () => Promise<string[]>, private readonly bootstrap: () => Promise<BootstrapNode[]>) {}

  async start (): Promise<Database> {
    this.db = await connect({
      walletPrivateKey: this.wallet.secretKey,
      databaseName: 'media-jobs',
      listenHost: '127.0.0.1',
      listenPorts: { quic: 0, tcp: 0 },
      // called at start, every 30 s and when an unknown peer knocks; errors keep the last good set
      getAuthorizedWallets: async (signal) => { signal.throwIfAborted(); return await this.registry() },
      // called until the node has a peer (2 s, then every 5 s)
      getBootstrapNodes: async () => await this.bootstrap(),
      logger: quietLogger
    })
    this.db.on('ready', () => { console.log(`${this.name}: ready (${this.db!.connectedPeers().length} peer(s))`) })
    this.db.on('not-ready', () => { console.log(`${this.name}: lost all peers; bootstrapping again`) })
    await this.db.subscribe<JobAnnouncement>('jobs', (event) => {
      this.received.push(event)
      console.log(`${this.name}: job ${event.message.jobId} (${event.message.codec}) from ${event.fromPeerId.slice(-6)}`)
    })
    return this.db
  }

  get name (): string { return `server-${this.wallet.publicKey.toBase58().slice(0, 4)}` }

  async announce (job: JobAnnouncement): Promise<void> { await this.db!.publish('jobs', job) }

  async stop (): Promise<void> { await this.db?.disconnect() }
}

const wallets = [Keypair.generate(), Keypair.generate()]
const onChainRegistry = async (): Promise<string[]> => wallets.map((w) => w.publicKey.toBase58())
let bootstrapNodes: BootstrapNode[] = []
const servers = wallets.map((w) => new MediaServer(w, onChainRegistry, async () => bootstrapNodes))

const first = await servers[0]!.start()
bootstrapNodes = [localBootstrapEntry(first)]
const second = await servers[1]!.start()
await second.waitUntilReady({ signal: AbortSignal.timeout(30_000) })
await servers[1]!.announce({ jobId: 'job-1', codec: 'av1' })
const deadline = Date.now() + 10_000
while (servers[0]!.received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
const ok = servers[0]!.received.length === 1
await Promise.all(servers.map(async (s) => { await s.stop() }))
console.log(ok ? 'OK: the job announcement crossed' : 'FAILED: nothing arrived')
process.exit(ok ? 0 : 1)
