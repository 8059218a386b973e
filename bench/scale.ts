/*
 * `npm run bench:scale`: the daemon as separate processes on loopback, started with the container's
 * command (deploy/Dockerfile: `node dist/cli.js start`,
 * one shared registry file, node 0 the bootstrap of all), for 10, 20 and 30 nodes in one run
 * (`--50` adds 50; `BENCH_SIZES=10,20` overrides). Per size: time until every node is ready, idle
 * CPU (share of one core) and RSS per node in two windows (30-90 s after readiness, with the
 * start-up's tail, and 150-210 s, settled), connections per node, real-time delivery (every node
 * gets every event? ratio, p50/p99 latency from the publisher's stdin write to each node's stdout),
 * sticky delivery with 10 publishers on different nodes (throughput to the last acknowledgement,
 * nodes that got every message), RSS under that load, a late joiner's read of a BENCH_HISTORY-message
 * (default 10,000) sticky history, and how long inspecting a fresh topic takes (its replica-set
 * lookup, from the routing table up to 20 peers and by a DHT query beyond, plus one read of its
 * heads). The same idle figures for plain js-libp2p
 * nodes with the same services (bench/plain-node.mjs), each dialled to all others, in the same run.
 * All processes share this machine's two cores. Prints a table, writes bench/results/scale.json.
 * Not a test: nothing here asserts.
 */
import '../src/polyfills.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Keypair } from '@solana/web3.js'
import { freePorts } from '../support/cluster.js'
import { ROOT, buildDist, containerCommand, httpGet } from '../support/daemon-process.js'

const SIZES = (process.env.BENCH_SIZES ?? (process.argv.includes('--50') ? '10,20,30,50' : '10,20,30')).split(',').map(Number)
const IDLE_SETTLE_MS = Number(process.env.BENCH_IDLE_SETTLE_MS ?? 30_000)
/** long enough to hold one of every periodic round (discovery lookups run every 60 s at most) */
const IDLE_WINDOW_MS = Number(process.env.BENCH_IDLE_WINDOW_MS ?? 60_000)
/**
 * a second idle window of the same length starting this long after readiness (0: none): the first
 * window still holds the start-up's tail (discovery's first rounds, subscription commits, polls not
 * yet backed off, the young generation grown by start-up), this one a settled network
 */
const SETTLED_AFTER_MS = Number(process.env.BENCH_SETTLED_AFTER_MS ?? 150_000)
const RT_EVENTS = Number(process.env.BENCH_RT_EVENTS ?? 50) // ten a second
const STICKY_PUBLISHERS = 10
const STICKY_EACH = Number(process.env.BENCH_STICKY_EACH ?? 20)
const CLK_TCK = 100
const HISTORY = Number(process.env.BENCH_HISTORY ?? 10_000)
/** daemons 0..BENCH_PROFILE-1 run with --cpu-prof (profiles under bench/results/prof-<n>/), and as many plain nodes (prof-plain-<n>/) */
const PROFILE = Number(process.env.BENCH_PROFILE ?? 0)

interface Proc { child: ChildProcess, lines: Array<{ at: number, v: any }>, http: number, stderrTail: string[] }

function spawnLines (program: string, args: string[], env: NodeJS.ProcessEnv, http = 0): Proc {
  const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdin!.on('error', () => {})
  const p: Proc = { child, lines: [], http, stderrTail: [] }
  // the last stderr lines (warn and above: the daemons log at warn), printed if the process dies early
  child.stderr!.on('data', (chunk: Buffer) => {
    if (process.env.BENCH_DEBUG === '1') process.stderr.write(chunk)
    p.stderrTail.push(...chunk.toString().split('\n').filter((l) => l.length > 0))
    p.stderrTail.splice(0, Math.max(0, p.stderrTail.length - 20))
  })
  let buf = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    const at = performance.now()
    buf += chunk.toString()
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      try { p.lines.push({ at, v: JSON.parse(line) }) } catch {}
    }
  })
  return p
}

/** utime+stime in clock ticks and RSS in bytes, from /proc */
function procStat (pid: number): { ticks: number, rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024
  return { ticks: Number(f[11]) + Number(f[12]), rss }
}

/** RSS of the processes still running */
const liveRss = (procs: Proc[]): number[] => procs.flatMap((p) => { try { return [procStat(p.child.pid!).rss] } catch { return [] } })

/** per process: share of one core over `ms`, and RSS at the end (processes that died are left out) */
async function idleFigures (pids: number[], ms: number): Promise<{ cpu: number[], rss: number[] }> {
  const before = pids.map((p) => { try { return procStat(p).ticks } catch { return NaN } })
  const t0 = performance.now()
  await sleep(ms)
  const elapsed = (performance.now() - t0) / 1000
  const after = pids.map((p) => { try { return procStat(p) } catch { return undefined } }) // a process that died meanwhile
  const alive = after.flatMap((a, i) => (a == null || Number.isNaN(before[i]) ? [] : [{ a, i }]))
  return { cpu: alive.map(({ a, i }) => (a.ticks - before[i]!) / CLK_TCK / elapsed), rss: alive.map(({ a }) => a.rss) }
}

/** the settled window's figures (see SETTLED_AFTER_MS), `readyAt` the performance.now() the network was ready */
async function settledFigures (pids: number[], readyAt: number): Promise<{ settledCpuMedian?: number, settledRssMedianMB?: number }> {
  if (SETTLED_AFTER_MS <= 0) return {}
  await sleep(Math.max(0, readyAt + SETTLED_AFTER_MS - performance.now()))
  const idle = await idleFigures(pids, IDLE_WINDOW_MS)
  return { settledCpuMedian: median(idle.cpu), settledRssMedianMB: MB(median(idle.rss)) }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]! }
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]! }
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
const MB = (b: number): number => Math.round(b / 1024 / 1024)

async function waitUntil (cond: () => boolean | Promise<boolean>, timeoutMs: number, every = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await cond()) return true
    await sleep(every)
  }
  return false
}

async function stopAll (procs: Proc[]): Promise<void> {
  await Promise.all(procs.map(async (p) => {
    if (p.child.exitCode != null || p.child.signalCode != null) return
    const exited = new Promise((resolve) => p.child.once('exit', resolve))
    p.child.kill('SIGTERM')
    const t = setTimeout(() => p.child.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(t)
  }))
}

/** Each daemon's /metrics text, one GET each ('' for one that did not answer). */
async function scrape (procs: Proc[]): Promise<string[]> {
  return await Promise.all(procs.map(async (p) => (await httpGet(p.http, '/metrics', 20_000)).body))
}

/**
 * Every sample in each scraped /metrics text whose name starts with `prefix` (the rest of the name
 * and the labels kept in the key), per daemon; {} for one that did not answer. Families:
 * 'depin_sticky_', 'depin_discovery_', 'libp2p_data_transfer_bytes_total' (bytes by protocol),
 * 'libp2p_connection_manager_connections'.
 */
function metricSamples (texts: string[], prefix: string): Array<Record<string, number>> {
  return texts.map((text) => {
    const out: Record<string, number> = {}
    for (const m of text.matchAll(new RegExp(`^${prefix}(\\w*(?:\\{[^}]*\\})?) ([\\d.e+-]+)$`, 'gm'))) if (!m[1]!.includes('_bucket')) out[m[1]!] = Number(m[2])
    return out
  })
}

/** what each series grew by between two metricSamples, summed over the daemons, plus the largest single daemon's growth */
function growth (before: Array<Record<string, number>>, after: Array<Record<string, number>>): { sum: Record<string, number>, max: Record<string, number>, answered: number } {
  const sumOf: Record<string, number> = {}
  const maxOf: Record<string, number> = {}
  let answered = 0
  after.forEach((a, i) => {
    if (Object.keys(a).length === 0) return
    answered++
    for (const [k, v] of Object.entries(a)) {
      const d = v - (before[i]?.[k] ?? 0)
      sumOf[k] = (sumOf[k] ?? 0) + d
      maxOf[k] = Math.max(maxOf[k] ?? 0, d)
    }
  })
  return { sum: sumOf, max: maxOf, answered }
}

async function benchDaemons (n: number, dir: string): Promise<Record<string, unknown>> {
  // one wallet more than n: the late joiner's, in the registry from the start
  const specs = await Promise.all(Array.from({ length: n + 1 }, async (_, i) => {
    const kp = Keypair.generate()
    const keyFile = join(dir, `key${i}.json`)
    writeFileSync(keyFile, JSON.stringify([...kp.secretKey]), { mode: 0o600 })
    return { keyFile, address: kp.publicKey.toBase58(), ports: await freePorts(), http: (await freePorts()).tcp }
  }))
  const registry = join(dir, 'registry.json')
  writeFileSync(registry, JSON.stringify(specs.map((s) => s.address)))
  const bootstrap = join(dir, 'bootstrap.json')
  const writeBootstrap = (): void => { writeFileSync(bootstrap, JSON.stringify([{ publicKey: specs[0]!.address, ip: '127.0.0.1', quicPort: specs[0]!.ports.quic, tcpPort: specs[0]!.ports.tcp }])) }
  writeBootstrap()
  const config = join(dir, 'node.yaml')
  writeFileSync(config, `database: scale\nlisten:\n  host: 127.0.0.1\nregistry:\n  file: ${registry}\nbootstrap:\n  file: ${bootstrap}\ntopics:\n  realtime: [rt]\n  sticky: [st]\nstdin: true\nlog:\n  level: warn\n`)
  const t0 = performance.now()
  const late = specs.pop()!
  const inspectPort = (await freePorts()).tcp
  const out: Record<string, unknown> = { nodes: n, earlyExits: 0, portRetries: 0 }
  let stopping = false
  const procs: Proc[] = []
  // a daemon that could not bind its ports (taken since they were picked) starts again on new ones
  const launch = (i: number): void => {
    const s = specs[i]!
    const profile = i < PROFILE ? ['--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench', 'results', `prof-${n}`)] : []
    const cmd = containerCommand(config) // as the image runs it (node flags included, if it sets any)
    const p = spawnLines(cmd.program, [...profile, ...cmd.args], {
      DEPIN_KEY_FILE: s.keyFile,
      DEPIN_QUIC_PORT: String(s.ports.quic),
      DEPIN_TCP_PORT: String(s.ports.tcp),
      DEPIN_HTTP_PORT: String(s.http),
      DEPIN_HTTP_HOST: '127.0.0.1',
      DEPIN_INSPECT_PORT: i === 1 ? String(inspectPort) : '0'
    }, s.http)
    procs[i] = p
    p.child.once('exit', (code, signal) => {
      if (stopping) return
      if (p.stderrTail.some((l) => l.includes('EADDRINUSE')) && (out.portRetries as number) < 3 * n) {
        out.portRetries = (out.portRetries as number) + 1
        console.error(`[scale] daemon ${i} of ${n}: a port was taken (EADDRINUSE); starting it again on new ports`)
        void (async () => {
          s.ports = await freePorts()
          s.http = (await freePorts()).tcp
          if (i === 0) writeBootstrap()
          launch(i)
        })()
        return
      }
      out.earlyExits = (out.earlyExits as number) + 1
      console.error(`[scale] daemon ${i} of ${n} exited on its own (code ${code}, signal ${signal}); its last stderr lines:\n${p.stderrTail.join('\n')}`)
    })
  }
  for (let i = 0; i < n; i++) launch(i)
  try {
    const readyAt: number[] = Array(n).fill(NaN)
    await waitUntil(async () => {
      await Promise.all(procs.map(async (p, i) => {
        if (!Number.isNaN(readyAt[i]!)) return
        if ((await httpGet(p.http, '/readyz')).status === 200) readyAt[i] = performance.now() - t0
      }))
      return readyAt.every((t) => !Number.isNaN(t))
    }, 180_000, 500)
    out.allReadyS = readyAt.some(Number.isNaN) ? null : Math.max(...readyAt) / 1000
    out.readyNodes = readyAt.filter((t) => !Number.isNaN(t)).length
    out.readyAtS = readyAt.map((t) => Math.round(t / 100) / 10)
    await sleep(IDLE_SETTLE_MS)
    const pids = procs.map((p) => p.child.pid!)
    const before = await scrape(procs)
    const idle = await idleFigures(pids, IDLE_WINDOW_MS)
    const after = await scrape(procs)
    const idleGrowth = (prefix: string): ReturnType<typeof growth> => growth(metricSamples(before, prefix), metricSamples(after, prefix))
    // sticky work while nothing is published (polls, replica requests served, records written), summed over the daemons
    out.idleSticky = Object.fromEntries(Object.entries(idleGrowth('depin_sticky_').sum).filter(([, v]) => v > 0))
    // discovery rounds during the idle window, summed over the daemons (each is a DHT walk the others answer)
    out.idleDiscovery = idleGrowth('depin_discovery_').sum
    // bytes sent and received per protocol during the idle window, mean per node: which protocols keep talking
    const idleBytes = idleGrowth('libp2p_data_transfer_bytes_total')
    out.idleBytesPerNode = Object.fromEntries(Object.entries(idleBytes.sum).filter(([, v]) => v > 0).sort(([, a], [, b]) => b - a).map(([k, v]) => [k, Math.round(v / Math.max(1, idleBytes.answered))]))
    out.idleCpuMedian = median(idle.cpu)
    out.idleCpuTotal = sum(idle.cpu)
    out.idleRssMedianMB = MB(median(idle.rss))
    const peers = await Promise.all(procs.map(async (p) => { try { return (JSON.parse((await httpGet(p.http, '/readyz')).body) as { peers: number }).peers } catch { return NaN } }))
    out.peersMedian = median(peers.filter(Number.isFinite))
    out.peersMin = Math.min(...peers.filter(Number.isFinite))
    out.peersAnswered = peers.filter(Number.isFinite).length
    // connections per daemon (libp2p's gauge, inbound + outbound): peers hold more than one each at times
    const conns = metricSamples(after, 'libp2p_connection_manager_connections').map((m) => Object.keys(m).length === 0 ? NaN : sum(Object.values(m)))
    out.connectionsMedian = median(conns.filter(Number.isFinite))
    if (SETTLED_AFTER_MS > 0) {
      const allReadyAt = t0 + Math.max(...readyAt.filter((t) => !Number.isNaN(t)))
      const settled = settledFigures(pids, allReadyAt)
      // the daemons' counters over the settled window too (scraped at its edges)
      await sleep(Math.max(0, allReadyAt + SETTLED_AFTER_MS - performance.now() - 1_000))
      const from = await scrape(procs)
      Object.assign(out, await settled)
      const to = await scrape(procs)
      const g = (prefix: string): Record<string, number> => Object.fromEntries(Object.entries(growth(metricSamples(from, prefix), metricSamples(to, prefix)).sum).filter(([, v]) => v > 0))
      out.settledSticky = g('depin_sticky_')
      out.settledDiscovery = g('depin_discovery_')
    }
    if (process.env.BENCH_IDLE_ONLY === '1') return out

    // real-time: node 1 writes RT_EVENTS lines, ten a second; every other node should print each
    const pub = procs[1]!
    const sentAt = new Map<number, number>()
    for (let k = 0; k < RT_EVENTS; k++) {
      sentAt.set(k, performance.now())
      pub.child.stdin!.write(JSON.stringify({ topic: 'rt', data: { k } }) + '\n')
      await sleep(100)
    }
    const others = procs.filter((p) => p !== pub)
    const rtGot = (p: Proc): Array<{ at: number, k: number }> => p.lines.filter((l) => l.v.type === 'event' && l.v.topic === 'rt').map((l) => ({ at: l.at, k: l.v.event.message.k as number }))
    await waitUntil(() => others.every((p) => new Set(rtGot(p).map((e) => e.k)).size >= RT_EVENTS), 15_000)
    const latencies: number[] = []
    let delivered = 0; let duplicates = 0
    for (const p of others) {
      const got = rtGot(p)
      const ks = new Set(got.map((e) => e.k))
      delivered += ks.size
      duplicates += got.length - ks.size
      for (const e of got) latencies.push(e.at - sentAt.get(e.k)!)
    }
    const acked = pub.lines.filter((l) => l.v.type === 'published' && l.v.sticky !== true)
    out.rtPublished = acked.length
    // publish() resolution as seen on the publisher's stdout, from the first write (the order of lines is kept)
    out.rtAckP50Ms = pct(acked.map((l, i) => l.at - sentAt.get(i)!), 0.5)
    if (process.env.BENCH_DEBUG === '1') console.error('acks', acked.map((l, i) => Math.round(l.at - sentAt.get(i)!)).join(','), 'first event at', others.map((p) => Math.round((rtGot(p)[0]?.at ?? NaN) - sentAt.get(0)!)).join(','))
    out.rtNodesWithAll = others.filter((p) => new Set(rtGot(p).map((e) => e.k)).size >= RT_EVENTS).length
    out.rtDeliveryRatio = delivered / (RT_EVENTS * others.length)
    out.rtDuplicates = duplicates
    out.rtP50Ms = pct(latencies, 0.5)
    out.rtP99Ms = pct(latencies, 0.99)

    // sticky: 10 publishers on different nodes, STICKY_EACH messages each, all at once
    const publishers = procs.slice(1, 1 + Math.min(STICKY_PUBLISHERS, n - 1))
    const beforeSticky = metricSamples(await scrape(procs), 'depin_sticky_')
    const stT0 = performance.now()
    out.stickyStartedAt = Date.now()
    for (const [pi, p] of publishers.entries()) {
      for (let k = 0; k < STICKY_EACH; k++) p.child.stdin!.write(JSON.stringify({ topic: 'st', sticky: true, data: { pi, k } }) + '\n')
    }
    const total = publishers.length * STICKY_EACH
    const acks = (): number => sum(publishers.map((p) => p.lines.filter((l) => l.v.type === 'published' && l.v.sticky === true).length))
    let rssLoad = 0
    const sampler = setInterval(() => { rssLoad = Math.max(rssLoad, median(liveRss(procs))) }, 1000)
    await waitUntil(() => acks() >= total || sum(publishers.map((p) => p.lines.filter((l) => l.v.type === 'error').length)) + acks() >= total, 120_000)
    const stAckS = (performance.now() - stT0) / 1000
    const stGot = (p: Proc): number => new Set(p.lines.filter((l) => l.v.type === 'sticky' && l.v.topic === 'st').map((l) => l.v.message.messageId)).size
    await waitUntil(() => procs.every((p) => stGot(p) >= acks()), 60_000)
    clearInterval(sampler)
    rssLoad = Math.max(rssLoad, median(liveRss(procs)))
    out.stickyAcked = acks()
    out.stickyMessages = total
    out.stickyThroughput = acks() / stAckS
    out.stickyNodesWithAll = procs.filter((p) => stGot(p) >= total).length
    // the write path's work for those publishes, summed over every daemon's /metrics
    out.stickyEndedAt = Date.now()
    const afterSticky = metricSamples(await scrape(procs), 'depin_sticky_')
    out.stickyCounters = growth(beforeSticky, afterSticky)
    out.loadRssMedianMB = MB(rssLoad)

    // topic inspection on node 1 for a topic nobody used: replica-set lookup + one read of its heads
    const inspectMs: number[] = []
    for (let k = 0; k < 5; k++) {
      const t0 = performance.now()
      const r = await httpGet(inspectPort, `/topics/fresh-${k}`)
      if (r.status === 200) inspectMs.push(performance.now() - t0)
    }
    out.inspectFreshTopicMedianMs = median(inspectMs)

    // late join: the publishers write HISTORY messages to 'hist' (nobody subscribed), then a new
    // daemon subscribing to 'hist' with history starts: time until it has printed every one
    const histAcks = (): number => sum(publishers.map((p) => p.lines.filter((l) => l.v.type === 'published' && l.v.topic === 'hist').length))
    const histErrors = (): number => sum(publishers.map((p) => p.lines.filter((l) => l.v.type === 'error').length))
    const errorsBefore = histErrors()
    const beforeHistory = metricSamples(await scrape(procs), 'depin_sticky_')
    const hT0 = performance.now()
    out.historyStartedAt = Date.now()
    for (let k = 0; k < HISTORY; k++) publishers[k % publishers.length]!.child.stdin!.write(JSON.stringify({ topic: 'hist', sticky: true, data: { k } }) + '\n')
    await waitUntil(() => histAcks() + histErrors() - errorsBefore >= HISTORY, 600_000, 1000)
    out.historyAcked = histAcks()
    out.historyWriteS = (performance.now() - hT0) / 1000
    out.historyCounters = growth(beforeHistory, metricSamples(await scrape(procs), 'depin_sticky_'))
    const lateConfig = join(dir, 'late.yaml')
    writeFileSync(lateConfig, readFileSync(config, 'utf8').replace('realtime: [rt]', 'realtime: []').replace('sticky: [st]', 'sticky: [hist]').replace('stdin: true', 'stdin: false'))
    const lT0 = performance.now()
    const joinerCmd = containerCommand(lateConfig)
    const joiner = spawnLines(joinerCmd.program, joinerCmd.args, {
      DEPIN_KEY_FILE: late.keyFile,
      DEPIN_QUIC_PORT: String(late.ports.quic),
      DEPIN_TCP_PORT: String(late.ports.tcp),
      DEPIN_HTTP_PORT: String(late.http),
      DEPIN_HTTP_HOST: '127.0.0.1',
      DEPIN_INSPECT_PORT: '0'
    }, late.http)
    procs.push(joiner)
    const histGot = (): number => new Set(joiner.lines.filter((l) => l.v.type === 'sticky' && l.v.topic === 'hist').map((l) => l.v.message.messageId)).size
    let lateReadyS = NaN
    await waitUntil(async () => {
      if (Number.isNaN(lateReadyS) && (await httpGet(late.http, '/readyz')).status === 200) lateReadyS = (performance.now() - lT0) / 1000
      return histGot() >= (out.historyAcked as number)
    }, 300_000, 100)
    out.lateJoinReadyS = lateReadyS
    out.lateJoinAllS = histGot() >= (out.historyAcked as number) ? (performance.now() - lT0) / 1000 : null
    out.lateJoinGot = histGot()
    // what each node stores once the history is written (the gauges are set by each node's sweep, every 60 s)
    await sleep(Number(process.env.BENCH_STORED_WAIT_MS ?? 61_000))
    const stored = metricSamples(await scrape(procs), 'depin_sticky_')
    out.storedPerNode = stored.map((s) => Object.fromEntries(Object.entries(s).filter(([k]) => k.startsWith('stored_'))))
  } finally {
    stopping = true
    const stopT0 = performance.now()
    await stopAll(procs)
    out.stopAllS = (performance.now() - stopT0) / 1000
    out.exitCodes = Object.entries(procs.reduce<Record<string, number>>((acc, p) => { const k = String(p.child.exitCode ?? p.child.signalCode); acc[k] = (acc[k] ?? 0) + 1; return acc }, {})).map(([k, v]) => `${k}x${v}`).join(' ')
  }
  return out
}

async function benchPlain (n: number): Promise<Record<string, unknown>> {
  const procs = Array.from({ length: n }, (_, i) => spawnLines(process.execPath, [
    ...(i < PROFILE ? ['--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench', 'results', `prof-plain-${n}`)] : []),
    join(ROOT, 'bench', 'plain-node.mjs')
  ], {}))
  try {
    await waitUntil(() => procs.every((p) => p.lines.length > 0), 60_000)
    const addrs = procs.map((p) => p.lines[0]!.v.addr as string)
    for (const p of procs) p.child.stdin!.write(JSON.stringify(addrs) + '\n')
    const dialledAt = performance.now()
    await sleep(IDLE_SETTLE_MS)
    const idle = await idleFigures(procs.map((p) => p.child.pid!), IDLE_WINDOW_MS)
    const settled = await settledFigures(procs.map((p) => p.child.pid!), dialledAt)
    // each node's peers and connections after the window (did the full mesh hold?)
    for (const p of procs) p.child.stdin!.write('stats\n')
    await waitUntil(() => procs.every((p) => p.lines.length > 1), 5_000)
    const stats = procs.map((p) => p.lines.at(-1)!.v as { peers?: number, connections?: number })
    const peers = stats.map((s) => s.peers ?? NaN).filter(Number.isFinite)
    const conns = stats.map((s) => s.connections ?? NaN).filter(Number.isFinite)
    return { nodes: n, idleCpuMedian: median(idle.cpu), idleCpuTotal: sum(idle.cpu), idleRssMedianMB: MB(median(idle.rss)), ...settled, peersMedian: median(peers), peersMin: Math.min(...peers), connectionsMedian: median(conns) }
  } finally {
    await stopAll(procs)
  }
}

buildDist()
const results: Array<{ daemon: Record<string, unknown>, plain: Record<string, unknown> }> = []
for (const n of SIZES) {
  const dir = mkdtempSync(join(tmpdir(), `depin-scale-${n}-`))
  try {
    console.error(`[scale] ${n} plain js-libp2p nodes`)
    const plain = process.env.BENCH_PLAIN === '0' ? { nodes: n } : await benchPlain(n)
    console.error(`[scale] ${n} daemons`)
    const daemon = await benchDaemons(n, dir)
    results.push({ daemon, plain })
    console.error(JSON.stringify({ daemon, plain }))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const f = (v: unknown, d = 1): string => typeof v === 'number' ? (Number.isFinite(v) ? v.toFixed(d) : '-') : String(v ?? '-')
console.log('| nodes | all ready s | peers/node (median, min); connections (plain) | idle CPU/node (plain) | ratio | idle RSS MB/node (plain) | RSS under load MB | real-time: nodes with all, ratio, dup | rt publish ack p50, delivery p50 / p99 ms | sticky: acked/sent, msg/s, nodes with all | late join: history acked, written in s; joiner ready s, all read s | fresh-topic inspection ms | stop all s, exit codes |')
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for (const { daemon: d, plain: p } of results) {
  const cpuD = d.idleCpuMedian as number; const cpuP = p.idleCpuMedian as number
  console.log(`| ${d.nodes} | ${f(d.allReadyS)} (${f(d.readyNodes, 0)} ready) | ${f(d.peersMedian, 0)}, ${f(d.peersMin, 0)}; ${f(d.connectionsMedian, 0)} (plain ${f(p.peersMedian, 0)}, ${f(p.peersMin, 0)}; ${f(p.connectionsMedian, 0)}) | ${f(cpuD * 100)}% (${f(cpuP * 100)}%) | ${f(cpuD / cpuP, 2)} | ${f(d.idleRssMedianMB, 0)} (${f(p.idleRssMedianMB, 0)}) | ${f(d.loadRssMedianMB, 0)} | ${f(d.rtNodesWithAll, 0)}/${(d.nodes as number) - 1}, ${f(d.rtDeliveryRatio, 3)}, ${f(d.rtDuplicates, 0)} | ${f(d.rtAckP50Ms, 0)}, ${f(d.rtP50Ms, 0)} / ${f(d.rtP99Ms, 0)} | ${f(d.stickyAcked, 0)}/${f(d.stickyMessages, 0)}, ${f(d.stickyThroughput)}, ${f(d.stickyNodesWithAll, 0)}/${d.nodes} | ${f(d.historyAcked, 0)}/${HISTORY}, ${f(d.historyWriteS)}; ${f(d.lateJoinReadyS)}, ${f(d.lateJoinAllS)} (${f(d.lateJoinGot, 0)} read) | ${f(d.inspectFreshTopicMedianMs, 0)} | ${f(d.stopAllS)}, ${d.exitCodes} |`)
}
// the sticky work behind those figures, from every daemon's /metrics (growth over each phase)
console.log('')
console.log('| nodes | daemons: running at the end / started (exited early, restarted on a taken port) | sticky phase: commits, attempts, conflicts, retries, failures | per commit: head reads, replica-set lookups (DHT queries, reused queries), ms | replica requests served: total (busiest node) | 10k history: commits; replica requests served per message, total (busiest node) | sticky records stored per node after it: nodes holding any; median, max records; median, max KB |')
console.log('|---|---|---|---|---|---|---|')
for (const { daemon: d } of results) {
  type G = { sum: Record<string, number>, max: Record<string, number> } | undefined
  const st = d.stickyCounters as G; const hi = d.historyCounters as G
  const g = (x: G, k: string, which: 'sum' | 'max' = 'sum'): number => x?.[which][k] ?? NaN
  const commits = g(st, 'commits_total')
  const lookups = (x: G): number => ['routing_table', 'dht_query', 'reused_query'].reduce((a, k) => a + g(x, `replica_set_lookups_total{source="${k}"}`), 0)
  const served = (x: G, which: 'sum' | 'max'): number => g(x, 'replica_requests_total{op="put"}', which) + g(x, 'replica_requests_total{op="get"}', which)
  const stored = ((d.storedPerNode ?? []) as Array<Record<string, number>>).map((s) => ({
    records: sum(Object.entries(s).filter(([k]) => k.startsWith('stored_records')).map(([, v]) => v)),
    bytes: sum(Object.entries(s).filter(([k]) => k.startsWith('stored_bytes')).map(([, v]) => v))
  })).filter((s) => s.records > 0)
  const histMsgs = d.historyAcked as number
  console.log(`| ${d.nodes} | ${(d.nodes as number) - (d.earlyExits as number)} / ${d.nodes} (${f(d.earlyExits, 0)}, ${f(d.portRetries, 0)}) | ${f(commits, 0)}, ${f(g(st, 'commit_attempts_total'), 0)}, ${f(g(st, 'conflicts_total'), 0)}, ${f(g(st, 'retries_total'), 0)}, ${f(g(st, 'commit_failures_total'), 0)} | ` +
    `${f(g(st, 'head_reads_total') / commits)}, ${f(lookups(st) / commits)} (${f(g(st, 'replica_set_lookups_total{source="dht_query"}'), 0)}, ${f(g(st, 'replica_set_lookups_total{source="reused_query"}'), 0)}), ${f(1000 * g(st, 'commit_duration_seconds_sum') / g(st, 'commit_duration_seconds_count'), 0)} | ` +
    `${f(served(st, 'sum'), 0)} (${f(served(st, 'max'), 0)}) | ${f(g(hi, 'commits_total'), 0)}; ${f(served(hi, 'sum') / histMsgs, 2)} (${f(served(hi, 'max') / histMsgs, 2)}) | ` +
    `${stored.length}; ${f(median(stored.map((s) => s.records)), 0)}, ${f(Math.max(...stored.map((s) => s.records)), 0)}; ${f(median(stored.map((s) => s.bytes)) / 1024, 0)}, ${f(Math.max(...stored.map((s) => s.bytes)) / 1024, 0)} |`)
}
if (SETTLED_AFTER_MS > 0) {
  console.log('')
  console.log(`| nodes | idle CPU/node ${IDLE_SETTLE_MS / 1000}-${(IDLE_SETTLE_MS + IDLE_WINDOW_MS) / 1000} s after ready (plain), ratio | RSS MB (plain), difference | settled: idle CPU/node ${SETTLED_AFTER_MS / 1000}-${(SETTLED_AFTER_MS + IDLE_WINDOW_MS) / 1000} s after ready (plain), ratio | RSS MB (plain), difference |`)
  console.log('|---|---|---|---|---|')
  for (const { daemon: d, plain: p } of results) {
    const c = (k: string, o: Record<string, unknown>): number => 100 * (o[k] as number)
    console.log(`| ${d.nodes} | ${f(c('idleCpuMedian', d))}% (${f(c('idleCpuMedian', p))}%), ${f(c('idleCpuMedian', d) / c('idleCpuMedian', p), 2)} | ${f(d.idleRssMedianMB, 0)} (${f(p.idleRssMedianMB, 0)}), ${f((d.idleRssMedianMB as number) - (p.idleRssMedianMB as number), 0)} | ` +
      `${f(c('settledCpuMedian', d))}% (${f(c('settledCpuMedian', p))}%), ${f(c('settledCpuMedian', d) / c('settledCpuMedian', p), 2)} | ${f(d.settledRssMedianMB, 0)} (${f(p.settledRssMedianMB, 0)}), ${f((d.settledRssMedianMB as number) - (p.settledRssMedianMB as number), 0)} |`)
  }
}
// which protocols keep talking while nothing is published (libp2p's byte counters, sent + received)
console.log('')
for (const { daemon: d } of results) {
  const bytes = Object.entries((d.idleBytesPerNode ?? {}) as Record<string, number>).slice(0, 8)
  console.log(`idle bytes per node in ${IDLE_WINDOW_MS / 1000} s, ${d.nodes} nodes: ${bytes.map(([k, v]) => `${k.replace(/^\{protocol="(.*)"\}$/, '$1')} ${(v / 1024).toFixed(0)} KiB`).join(', ')}`)
}
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
writeFileSync(join(ROOT, 'bench', 'results', 'scale.json'), JSON.stringify({ at: new Date().toISOString(), sizes: SIZES, results }, null, 2))
process.exit(0)
