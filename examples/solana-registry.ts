/*
 * A Solana RPC registry adapter: the getAuthorizedWallets callback for a registry program whose
 * accounts each hold one authorized wallet. Uses @solana/web3.js getProgramAccounts with a dataSize
 * filter (only registry accounts) and a dataSlice (only the 32 wallet bytes come over the wire).
 *
 *   SOLANA_RPC_URL=https://api.mainnet-beta.solana.com REGISTRY_PROGRAM_ID=<program> \
 *   REGISTRY_ACCOUNT_SIZE=72 REGISTRY_WALLET_OFFSET=8 npx tsx examples/solana-registry.ts
 *
 * It connects a node with the adapter and prints how many wallets the registry holds. (The daemon
 * has the same source built in: registry.solana in its config.)
 */
import { Connection, PublicKey } from '@solana/web3.js'
import { Keypair } from '@solana/web3.js'
import { connect, type GetAuthorizedWallets } from '../src/index.js'
import { quietLogger } from './local-network.js'

export function solanaRegistry (o: { rpcUrl: string, programId: string, accountSize: number, walletOffset: number }): GetAuthorizedWallets {
  const programId = new PublicKey(o.programId)
  return async (signal) => {
    // connect() gives each call a deadline (registryTimeoutMs); pass it down to the HTTP requests
    const connection = new Connection(o.rpcUrl, { commitment: 'confirmed', fetch: async (input, init) => await fetch(input, { ...init, signal }) })
    const accounts = await connection.getProgramAccounts(programId, {
      filters: [{ dataSize: o.accountSize }],
      dataSlice: { offset: o.walletOffset, length: 32 }
    })
    return accounts.map((a) => new PublicKey(a.account.data))
  }
}

const rpcUrl = process.env.SOLANA_RPC_URL
const programId = process.env.REGISTRY_PROGRAM_ID
if (rpcUrl == null || programId == null) {
  console.error('set SOLANA_RPC_URL and REGISTRY_PROGRAM_ID (and REGISTRY_ACCOUNT_SIZE, REGISTRY_WALLET_OFFSET)')
  process.exit(2)
}
const getAuthorizedWallets = solanaRegistry({
  rpcUrl, programId, accountSize: Number(process.env.REGISTRY_ACCOUNT_SIZE ?? 72), walletOffset: Number(process.env.REGISTRY_WALLET_OFFSET ?? 8)
})
const wallets = [...await getAuthorizedWallets(AbortSignal.timeout(10_000))]
console.log(`registry program ${programId} lists ${wallets.length} wallet(s)`)

const db = await connect({
  walletPrivateKey: Keypair.generate().secretKey,
  databaseName: 'registry-demo',
  listenHost: '127.0.0.1',
  listenPorts: { quic: 0, tcp: 0 },
  getAuthorizedWallets,
  getBootstrapNodes: async () => [],
  logger: quietLogger
})
console.log(`node ${db.peerId} started; the gater admits the ${db.stats().registry.wallets} registry wallet(s)`)
await db.disconnect()
console.log('OK')
