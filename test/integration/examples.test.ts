/*
 * Every example in examples/ runs as a smoke test, as a user would run it (`npx tsx examples/X.ts`),
 * and must exit 0 after printing its success line.
 */
import { describe, expect, it } from 'vitest'
import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { Keypair } from '@solana/web3.js'
import { LocalSolanaRpc } from '../fixtures/solana-rpc.js'
import { ROOT } from '../../support/daemon-process.js'

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

  it('demo-cluster.ts (npm start): both topic kinds, a late joiner, Ctrl-C, and a clean stderr', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', 'demo-cluster.ts')], {
      cwd: ROOT, env: { ...process.env, DEMO_BASE_PORT: '0', DEMO_INTERVAL_MS: '700', DEMO_LATE_ROUND: '3' }, stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const exited = new Promise<number | null>((resolve) => { child.on('exit', (code) => { resolve(code) }) })
    try {
      // run until the late joiner has its history and one live sticky message, then press "Ctrl-C"
      const deadline = Date.now() + 60_000
      while (!/node3 <- log .*\(live/.test(stdout) && child.exitCode == null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
      child.kill('SIGINT')
      const code = await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000, 'timeout'))])
      expect(stdout).toContain('3 nodes ready')
      expect(stdout).toMatch(/chat +node\d <- node\d/)
      expect(stdout).toMatch(/sticky +node\d -> log +entry 1 +acknowledged/)
      const history = /node3 got the history of "log": (\d+) messages, first \{"by":"node0","entry":1\}, last \{"by":"node\d","entry":(\d+)\}/.exec(stdout)
      expect(history, stdout).not.toBeNull()
      expect(Number(history![1])).toBeGreaterThanOrEqual(2) // entries 1 and 2 were acknowledged before node3 joined
      expect(stdout).toMatch(/node3 <- log .*\(live/)
      expect(stdout).toMatch(/stopped: all 4 nodes disconnected gracefully/)
      expect(code).toBe(0)
      // quiet, honest output: no Node process warning (e.g. MaxListenersExceededWarning) and no log line at warn or above
      expect(stderr, stderr).not.toMatch(/\(node:\d+\) \[?\w*Warning/)
      expect(stderr, stderr).not.toMatch(/^(warn|error):/m)
    } finally {
      if (child.exitCode == null) child.kill('SIGKILL')
    }
  }, 100_000)
})
