/*
 * Every example in examples/ runs as a smoke test, as a user would run it (`npx tsx examples/X.ts`),
 * and must exit 0 after printing its success line.
 */
import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { Keypair } from '@solana/web3.js'
import { LocalSolanaRpc } from '../fixtures/solana-rpc.js'
import { ROOT } from '../fixtures/daemon-process.js'

async function runExample (file: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', file)], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? 1, stdout, stderr })
    })
  })
}

describe('examples (smoke)', () => {
  it('embedding.ts: node software with registry and bootstrap callbacks', async () => {
    const r = await runExample('embedding.ts')
    expect(r.stdout).toContain('OK: the job announcement crossed')
    expect(r.code).toBe(0)
  }, 100_000)

  it('realtime-chat.ts: two nodes chat', async () => {
    const r = await runExample('realtime-chat.ts')
    expect(r.stdout).toContain('OK: 3 lines each way')
    expect(r.code).toBe(0)
  }, 100_000)

  it('sticky-late-joiner.ts: a late joiner gets the history', async () => {
    const r = await runExample('sticky-late-joiner.ts')
    expect(r.stdout).toContain('OK: history and live update, in order, exactly once')
    expect(r.code).toBe(0)
  }, 100_000)

  it('solana-registry.ts: the RPC registry adapter against a local JSON-RPC endpoint', async () => {
    const rpc = new LocalSolanaRpc()
    const programId = Keypair.generate().publicKey.toBase58()
    try {
      await rpc.start()
      for (let i = 0; i < 3; i++) rpc.addRegistryAccount(programId, Keypair.generate().publicKey.toBase58(), 72, 8)
      const r = await runExample('solana-registry.ts', { SOLANA_RPC_URL: rpc.url, REGISTRY_PROGRAM_ID: programId, REGISTRY_ACCOUNT_SIZE: '72', REGISTRY_WALLET_OFFSET: '8' })
      expect(r.stdout).toContain('lists 3 wallet(s)')
      expect(r.stdout).toContain('admits the 3 registry wallet(s)')
      expect(r.code).toBe(0)
    } finally { await rpc.stop() }
  }, 100_000)

  it('demo-cluster.ts (npm start): three nodes with no configuration', async () => {
    const r = await runExample('demo-cluster.ts', { DEMO_BASE_PORT: '0', DEMO_ROUNDS: '1' })
    expect(r.stdout).toContain('all 3 nodes ready')
    expect(r.stdout).toMatch(/node\d <- /)
    expect(r.stdout).toContain('stopped')
    expect(r.code).toBe(0)
  }, 100_000)
})
