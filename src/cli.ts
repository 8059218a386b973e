#!/usr/bin/env node
/*
 * `depin-node`: the daemon's command line.
 *   depin-node start [--config FILE] [flags]   run a node (flags > DEPIN_* env > file > defaults)
 *   depin-node keygen --out FILE [--force]     new wallet, Solana CLI keypair format, mode 0600
 *   depin-node id FILE|ADDRESS|PEERID          print wallet address and peer id
 *   depin-node status [--http URL] [--json]    a running node and its peers (inspection listener)
 *   depin-node topics [NAME] [--http URL] [--json]   its sticky topics, or one topic in detail
 * Exit codes: 0 ok (and a graceful stop within the deadline), 1 runtime failure or a stop that
 * overran, 2 bad configuration or usage, or an unusable data dir (locked by another process, another
 * wallet's, an unreadable format).
 */
import './polyfills.js'
import { Command, Option } from 'commander'
import { DepinError } from './errors.js'
import { DEFAULT_INSPECT_URL, status, topics } from './daemon/inspect-client.js'
import { startStopDeadline } from './daemon/stop-deadline.js'
import { SETTINGS } from './daemon/settings.js'

const program = new Command('depin-node')
  .description('DePIN peer-to-peer node: Solana-registry-gated libp2p messaging with real-time and sticky topics')
  .showHelpAfterError()
  .exitOverride((err) => { process.exit(err.exitCode === 0 ? 0 : 2) })

const start = program.command('start')
  .description('run a node until SIGTERM/SIGINT')
  .option('-c, --config <file>', 'config file (.json, .yaml or .yml); env: DEPIN_CONFIG')
for (const s of SETTINGS) {
  if (s.flag == null) continue
  if (s.type === 'bool') start.addOption(new Option(`${s.flag} [bool]`, `${s.help}; env ${s.env}`).preset('true'))
  else start.addOption(new Option(`${s.flag} <${s.type === 'list' ? 'a,b' : s.type === 'int' ? 'n' : 'value'}>`, `${s.help}; env ${s.env}`))
}
start.action(async (opts: Record<string, string | undefined>) => {
  const flags: Record<string, string | undefined> = {}
  for (const s of SETTINGS) {
    if (s.flag == null) continue
    const key = s.flag.slice(2).replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())
    if (opts[key] != null) flags[s.path] = String(opts[key])
  }
  // loaded here, not at the top: the other commands start quickly without libp2p
  const { loadDaemonConfig } = await import('./daemon/load-config.js')
  const { startDaemon } = await import('./daemon/daemon.js')
  const config = await loadDaemonConfig({ file: opts.config ?? process.env.DEPIN_CONFIG, env: process.env, flags })
  // Signal handlers go in before the daemon starts: a SIGTERM while it is still starting (bridged
  // sticky topics loading their history can take a while) gets the same deadline and stop as later.
  let signalled = false
  let stopNow: (() => void) | undefined
  const onSignal = (signal: string): void => {
    if (signalled) { process.stderr.write(`second ${signal}: exiting now\n`); process.exit(1) }
    signalled = true
    // enforced off the main thread: a flooded event loop can starve a plain timer (stop-deadline.ts)
    startStopDeadline(config.shutdownTimeoutMs, `graceful stop took longer than ${config.shutdownTimeoutMs} ms; exiting`)
    stopNow?.()
  }
  process.on('SIGTERM', () => { onSignal('SIGTERM') })
  process.on('SIGINT', () => { onSignal('SIGINT') })
  const daemon = await startDaemon(config, { stdin: process.stdin, stdout: process.stdout })
  stopNow = () => {
    daemon.stop().then(() => { process.exit(0) }, (err: unknown) => {
      process.stderr.write(`stop failed: ${String(err)}\n`)
      process.exit(1)
    })
  }
  if (signalled) stopNow()
})

program.command('keygen')
  .description('write a new wallet key file (Solana CLI format, mode 0600) and print its address and peer id')
  .requiredOption('-o, --out <file>', 'where to write the key')
  .option('-f, --force', 'overwrite an existing file')
  .action(async (opts: { out: string, force?: boolean }) => {
    const { writeNewKeyFile } = await import('./daemon/keys.js')
    const info = await writeNewKeyFile(opts.out, opts.force === true)
    process.stdout.write(JSON.stringify({ file: opts.out, ...info }) + '\n')
  })

program.command('id')
  .description('print the wallet address and peer id of a key file, a wallet address or a peer id')
  .argument('<file|address|peerId>')
  .action(async (arg: string) => {
    const { describeIdentity } = await import('./daemon/keys.js')
    process.stdout.write(JSON.stringify(await describeIdentity(arg)) + '\n')
  })

const inspectOptions = (c: Command): Command => c
  .option('--http <url>', `the node's inspection listener (inspect.host:inspect.port)`, DEFAULT_INSPECT_URL)
  .option('--json', 'print the JSON answer instead of tables')
const print = (r: { json: unknown, text: string }, json?: boolean): void => { process.stdout.write((json === true ? JSON.stringify(r.json, null, 2) : r.text) + '\n') }
inspectOptions(program.command('status').description('show a running node: identity, readiness and its authorized peers (transport, address, latency)'))
  .action(async (opts: { http: string, json?: boolean }) => { print(await status(opts.http), opts.json) })
inspectOptions(program.command('topics').description('list the sticky topics a running node writes, replicates or subscribes to, or show one in detail'))
  .argument('[name]', 'a topic: its info, replica set, current heads and last commits')
  .action(async (name: string | undefined, opts: { http: string, json?: boolean }) => { print(await topics(opts.http, name), opts.json) })

program.parseAsync(process.argv).catch((err: unknown) => {
  // bad configuration, and a data dir that cannot be used (in use by another process, another
  // wallet's, a format this version cannot read): the operator must act, a restart will not help
  if (err instanceof DepinError && ['ERR_INVALID_CONFIG', 'ERR_INVALID_WALLET', 'ERR_DATA_DIR', 'ERR_DATA_DIR_LOCKED'].includes(err.code)) {
    process.stderr.write(`depin-node: ${err.message}\n`)
    process.exit(2)
  }
  const code = (err as NodeJS.ErrnoException).code
  process.stderr.write(`depin-node: ${code === 'EEXIST' ? 'file exists (use --force to overwrite)' : err instanceof Error ? err.message : String(err)}\n`)
  process.exit(code === 'EEXIST' ? 2 : 1)
})
