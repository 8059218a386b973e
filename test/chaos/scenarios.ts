/*
 * The chaos scenarios. Each builds its own cluster from a seed, applies its faults under traffic,
 * lets the network settle, and hands the history to the checker. `short` is the npm test size (fewer
 * nodes, shorter faults); the full size is `npm run chaos`. Each is bounded by `limitMs`.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../support/daemon-process.js'
import { percentile, type CheckResult, type Violation } from './history.js'
import { ChaosCluster, hasDataDir, type ClusterOptions } from './cluster.js'
import { sleep } from './node.js'

export interface ScenarioResult {
  name: string
  nodes: number
  seconds: number
  passed: boolean
  violations: Violation[]
  /** scenario-specific measurements, printed in the report */
  figures: Record<string, string | number>
  stats?: CheckResult['stats']
  error?: string
}

export interface Scenario {
  name: string
  /** what it does, for the report */
  about: string
  limitMs: (short: boolean) => number
  run: (c: Ctx) => Promise<{ figures: Record<string, string | number>, check?: CheckResult }>
}

export interface Ctx {
  short: boolean
  seed: number
  /** builds the scenario's cluster (destroyed by the runner) */
  cluster: (o: Omit<ClusterOptions, 'scenario' | 'seed'>) => ChaosCluster
}

const s = (ms: number): string => (ms / 1000).toFixed(1) + ' s'

/** Polls until `pred` holds for every node; returns ms since `since` per node. */
async function timeUntil (c: ChaosCluster, names: string[], pred: (r: { ready: boolean, peers: number }) => boolean, since: number, timeoutMs: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  const until = Date.now() + timeoutMs
  while (Object.keys(out).length < names.length) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${names.filter((n) => out[n] == null).join(',')}`)
    await Promise.all(names.filter((n) => out[n] == null).map(async (n) => {
      if (pred(await c.node(n).readyz())) out[n] = Date.now() - since
    }))
    await sleep(100)
  }
  return out
}

/** Stops traffic, waits for answers and sticky delivery, verifies every running session, checks. */
async function settleAndCheck (c: ChaosCluster, loops: Array<{ stop: () => void }>, opts: { drainMs?: number, rereadWith?: string } = {}): Promise<CheckResult> {
  for (const l of loops) l.stop()
  await c.drain(opts.drainMs ?? 70_000)
  if (opts.rereadWith != null) {
    // a subscriber that subscribes with history after every fault healed
    const n = c.node(opts.rereadWith)
    await n.terminate()
    n.start()
    await n.waitReady(60_000, 200)
  }
  await c.awaitStickyDelivery(40_000)
  await sleep(1_000)
  c.verify()
  return c.check()
}

function ackFigures (c: ChaosCluster, from: number, to: number): { p50: number, p99: number, max: number, n: number, failed: number } {
  const inv = new Map(c.history.filter((o) => o.type === 'invoke' && o.kind === 'sticky' && o.t >= from && o.t <= to).map((o) => [(o as { op: string }).op, o.t]))
  const lat = c.history.filter((o) => o.type === 'ok' && inv.has(o.op)).map((o) => o.t - inv.get((o as { op: string }).op)!).sort((a, b) => a - b)
  const failed = c.history.filter((o) => o.type === 'fail' && inv.has(o.op)).length
  return { p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), max: lat.at(-1) ?? 0, n: lat.length, failed }
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'client-before-bootstrap',
    about: 'seed scenario 1: a client starts 10 s before its bootstrap node',
    limitMs: () => 90_000,
    run: async ({ cluster }) => {
      const c = cluster({ nodes: 2 })
      const t0 = Date.now()
      c.node('n2').start()
      await sleep(10_000)
      const bootAt = Date.now()
      c.node('n1').start()
      const [ready, serving] = await Promise.all([
        timeUntil(c, ['n2'], (r) => r.ready, t0, 60_000),
        timeUntil(c, ['n1'], (r) => r.peers >= 0, t0, 60_000)
      ])
      return {
        figures: {
          'bootstrap started at': s(bootAt - t0),
          'bootstrap process serving HTTP at': s(serving.n1!),
          'client ready at': s(ready.n2!),
          'seed: client ready at': '15.0 s'
        }
      }
    }
  },
  {
    name: 'bootstrap-failover',
    about: 'seed scenario 2: the bootstrap node dies, a new bootstrap node starts 5 s later',
    limitMs: (short) => short ? 120_000 : 180_000,
    run: async ({ cluster, short }) => {
      // n1 = Node0 (bootstrap), n2 = Node1, n3 = Node2 (the second bootstrap entry, started later)
      const c = cluster({ nodes: 3, bootstrap: [1, 3] })
      const t0 = Date.now()
      c.node('n1').start(); c.node('n2').start()
      const first = await timeUntil(c, ['n2'], (r) => r.ready, t0, 60_000)
      await sleep(Math.max(0, (short ? 10_000 : 30_000) - (Date.now() - t0)))
      const down = Date.now()
      await c.kill('n1')
      // as in the seed: Node2 starts 5 s after Node0 died, whether or not Node1 noticed yet
      const starter = sleep(5_000).then(() => { c.node('n3').start(); return Date.now() - down })
      const lost = await timeUntil(c, ['n2'], (r) => !r.ready, down, 60_000).catch(() => undefined)
      const startedAfter = await starter
      const again = await timeUntil(c, ['n2'], (r) => r.ready, down, 90_000)
      return {
        figures: {
          'Node1 ready at': s(first.n2!),
          'Node1 not ready after Node0 died': lost == null ? 'never' : s(lost.n2!),
          'Node2 started after': s(startedAfter),
          'Node1 ready again after Node0 died': s(again.n2!),
          'seed: not ready / ready again after death': '0 s / 10 s'
        }
      }
    }
  },
  {
    name: 'partition-recovery',
    about: 'seed scenario 3: every node cut off from every other, healed 5 s after all lost their peers',
    limitMs: () => 180_000,
    run: async ({ cluster, short }) => {
      const n = short ? 4 : 5
      const c = cluster({ nodes: n })
      const names = c.nodes.map((x) => x.name)
      c.startAll()
      await c.waitAllReady(60_000)
      await c.waitPeers(n - 1, 60_000)
      const cut = Date.now()
      const heal = c.isolateAll()
      const lost = await timeUntil(c, names, (r) => !r.ready, cut, 120_000)
      await sleep(5_000)
      const healed = Date.now()
      heal()
      const back = await timeUntil(c, names, (r) => r.ready, healed, 90_000)
      const mesh = await timeUntil(c, names, (r) => r.peers >= n - 1, healed, 90_000)
      const max = (o: Record<string, number>): number => Math.max(...Object.values(o))
      return {
        figures: {
          'all not ready after the cut': s(max(lost)),
          'all ready after the heal': s(max(back)),
          'full mesh again after the heal': s(max(mesh)),
          'seed: not ready / ready after heal': '0 s / 5 s'
        }
      }
    }
  },
  {
    name: 'minority-partition',
    about: '2 of 7 nodes partitioned with sticky and real-time publishers on both sides, then healed',
    limitMs: (short) => short ? 420_000 : 540_000,
    run: async ({ cluster, short }) => {
      const c = cluster({ nodes: 7, sticky: ['s'], realtime: ['r'] })
      c.startAll()
      await c.waitAllReady(60_000)
      await c.waitPeers(3, 60_000)
      await sleep(2_000)
      const loops = [
        c.publishLoop(['n1', 'n2', 'n6', 'n7'], 's', 'sticky', short ? 150 : 100),
        c.publishLoop(['n1', 'n3', 'n6'], 'r', 'realtime', 200)
      ]
      await sleep(5_000)
      const cutAt = Date.now()
      const heal = c.partition(['n6', 'n7'], ['n1', 'n2', 'n3', 'n4', 'n5'])
      await sleep(short ? 15_000 : 40_000)
      heal()
      const healAt = Date.now()
      // publishing goes on past the checker's 15 s settle time after the heal, so real-time delivery
      // over the healed network is checked (the events before the cut fall in the start-up's settle time)
      await sleep(short ? 20_000 : 30_000)
      const check = await settleAndCheck(c, loops, { rereadWith: 'n4' })
      const minority = ackFigures(c, cutAt, healAt)
      const minorityOps = new Set(c.history.filter((o) => o.type === 'invoke' && o.kind === 'sticky' && o.t >= cutAt && o.t <= healAt && (o.node === 'n6' || o.node === 'n7')).map((o) => (o as { op: string }).op))
      const minorityAcks = c.history.filter((o) => o.type === 'ok' && minorityOps.has(o.op))
      const minorityAcked = minorityAcks.length
      // 2 of 7 nodes cannot reach the write quorum (3): their publishes wait for the heal
      const ackedBeforeHeal = minorityAcks.filter((o) => o.t < healAt).length
      return {
        check,
        figures: {
          'sticky publishes during the partition (all sides)': minority.n + minority.failed,
          'minority-side sticky publishes acknowledged': `${minorityAcked}/${minorityOps.size} (${ackedBeforeHeal} before the heal)`,
          'ack during partition p50/max': `${minority.p50}/${minority.max} ms`
        }
      }
    }
  },
  {
    name: 'replica-kill',
    about: 'k-1 nodes (4 of the 6 others, so at least 3 of the topic\'s 5 replicas) killed mid-publish; then all but the writer (all, with storage) killed together and restarted',
    limitMs: () => 480_000,
    run: async ({ cluster, short }) => {
      const c = cluster({ nodes: 7, sticky: ['s'] })
      c.startAll()
      await c.waitAllReady(60_000)
      await c.waitPeers(3, 60_000)
      const loops = [c.publishLoop(['n1', 'n2'], 's', 'sticky', 100)]
      await sleep(5_000)
      const others = ['n3', 'n4', 'n5', 'n6', 'n7'].sort(() => c.random() - 0.5)
      const victims = ['n2', ...others].slice(1).slice(0, 4)
      const t1 = Date.now()
      const ids = await Promise.all(victims.map(async (v) => await c.kill(v)))
      await sleep(short ? 8_000 : 15_000)
      const during = ackFigures(c, t1, Date.now())
      victims.forEach((v, i) => { c.restart(v, ids[i]) })
      await c.waitAllReady(60_000)
      await sleep(5_000)
      // then every node holding the topic at once (the writer too when data dirs persist)
      const all = c.nodes.map((x) => x.name).filter((x) => hasDataDir || x !== 'n1')
      loops[0]!.stop()
      await c.drain(70_000)
      const t2 = Date.now()
      const ids2 = await Promise.all(all.map(async (v) => await c.kill(v)))
      await sleep(3_000)
      all.forEach((v, i) => { c.restart(v, ids2[i]) })
      await c.waitAllReady(90_000)
      const restartMs = Date.now() - t2
      // a few more publishes on top of the restarted replica set
      const after = c.publishLoop(['n1', 'n2'], 's', 'sticky', 200)
      await sleep(5_000)
      const check = await settleAndCheck(c, [after])
      return {
        check,
        figures: {
          killed: victims.join(','),
          'acks while 4 were down p50/p99/max': `${during.p50}/${during.p99}/${during.max} ms (${during.n} acked, ${during.failed} failed)`,
          'killed together': `${all.join(',')}${hasDataDir ? ' (data dirs kept)' : ' (no storage yet: the writer n1 kept the records)'}`,
          'ready again after killing all': s(restartMs)
        }
      }
    }
  },
  {
    name: 'rolling-restart',
    about: 'every node restarted one by one (SIGTERM, start, ready) under steady publishing; sticky topics resume from their stored lastSeenVersion; one restart is a SIGKILL',
    limitMs: (short) => short ? 420_000 : 600_000,
    run: async ({ cluster, short }) => {
      const n = short ? 5 : 7
      const c = cluster({ nodes: n, sticky: ['s'], realtime: ['r'], resume: true })
      c.startAll()
      await c.waitAllReady(60_000)
      await c.waitPeers(2, 60_000)
      await sleep(2_000)
      const names = c.nodes.map((x) => x.name)
      const loops = [c.publishLoop(names, 's', 'sticky', 150), c.publishLoop(names, 'r', 'realtime', 250)]
      await sleep(3_000)
      const downtimes: number[] = []
      for (const name of names) {
        const t = Date.now()
        if (name === names[1]) {
          // one crash among the rollouts: its stored lastSeenVersion may lag, it must not skip
          const id = await c.kill(name)
          c.restart(name, id)
        } else {
          await c.node(name).terminate()
          c.restart(name)
        }
        await c.node(name).waitReady(60_000, 200)
        downtimes.push(Date.now() - t)
        await sleep(short ? 2_000 : 4_000)
      }
      const check = await settleAndCheck(c, loops)
      return {
        check,
        figures: {
          'restart -> ready p50/max': `${s(percentile([...downtimes].sort((a, b) => a - b), 0.5))}/${s(Math.max(...downtimes))}`,
          'messages redelivered after resumption': check.stats.sticky.redeliveredAfterResume
        }
      }
    }
  },
  {
    name: 'lossy-links',
    about: '5% loss + 50 +- 20 ms delay on every link under steady publishing',
    limitMs: (short) => short ? 300_000 : 420_000,
    run: async ({ cluster, short }) => {
      const n = short ? 5 : 7
      const c = cluster({ nodes: n, sticky: ['s'], realtime: ['r'], delayable: true })
      c.startAll()
      await c.waitAllReady(60_000)
      await c.waitPeers(2, 60_000)
      await sleep(2_000)
      const names = c.nodes.map((x) => x.name)
      const loops = [c.publishLoop(names, 's', 'sticky', 200), c.publishLoop(names.slice(0, 3), 'r', 'realtime', 200)]
      await sleep(3_000)
      const from = Date.now()
      const heal = c.degrade(0.05, 50, 20)
      await sleep(short ? 20_000 : 60_000)
      const during = ackFigures(c, from, Date.now())
      heal()
      await sleep(3_000)
      const check = await settleAndCheck(c, loops)
      return {
        check,
        figures: {
          'sticky acks under loss+delay p50/p99/max': `${during.p50}/${during.p99}/${during.max} ms (${during.n} acked, ${during.failed} failed)`,
          'real-time delivery under loss+delay': check.stats.realtime.lossyRatio == null ? '-' : `${(check.stats.realtime.lossyRatio * 100).toFixed(1)} %`
        }
      }
    }
  },
  {
    name: 'frozen-replica',
    about: 'one node SIGSTOPped (peers see silence, not a close) while two others publish',
    limitMs: (short) => short ? 240_000 : 300_000,
    run: async ({ cluster, short }) => {
      const c = cluster({ nodes: 5, sticky: ['s'] })
      c.startAll()
      await c.waitAllReady(60_000)
      await c.waitPeers(4, 60_000)
      await sleep(2_000)
      const loops = [c.publishLoop(['n1', 'n2'], 's', 'sticky', 100)]
      await sleep(4_000)
      const before = ackFigures(c, 0, Date.now())
      const from = Date.now()
      const thaw = c.freeze('n3')
      await sleep(short ? 12_000 : 30_000)
      const during = ackFigures(c, from, Date.now())
      const first5 = ackFigures(c, from, from + 5_000)
      thaw()
      await sleep(5_000)
      const check = await settleAndCheck(c, loops)
      return {
        check,
        figures: {
          'acks before p50/p99': `${before.p50}/${before.p99} ms`,
          'acks while frozen p50/p99/max': `${during.p50}/${during.p99}/${during.max} ms (${during.n} acked, ${during.failed} failed)`,
          'acks in the first 5 s of the freeze max': `${first5.max} ms`
        }
      }
    }
  },
  {
    name: 'revocation',
    about: 'a wallet removed from the registry under traffic (it keeps publishing); an outsider wallet tries to join throughout',
    limitMs: () => 300_000,
    run: async ({ cluster, short }) => {
      const c = cluster({ nodes: 5, sticky: ['s'], realtime: ['r'], outsiders: 1, registryRefreshMs: 5_000 })
      c.startAll()
      c.node('x1').start()
      await c.waitAllReady(60_000)
      await c.waitPeers(4, 60_000)
      await sleep(2_000)
      const names = c.nodes.map((x) => x.name)
      const loops = [c.publishLoop([...names, 'x1'], 's', 'sticky', 150), c.publishLoop([...names, 'x1'], 'r', 'realtime', 150)]
      await sleep(5_000)
      const victim = c.node('n5')
      c.revoke('n5')
      const t = Date.now()
      let isolatedAfter = -1
      while (Date.now() - t < 30_000) {
        if ((await victim.readyz()).peers === 0) { isolatedAfter = Date.now() - t; c.history.push({ type: 'isolated', t: Date.now(), wallet: victim.spec.wallet }); break }
        await sleep(50)
      }
      // it must stay cut off
      let reconnected = 0
      for (let i = 0; i < (short ? 20 : 60); i++) {
        if ((await victim.readyz()).peers > 0) reconnected++
        await sleep(500)
      }
      const peersOfOthers = await Promise.all(names.slice(0, 4).map(async (x) => (await c.node(x).readyz()).peers))
      // only the four remaining members take part in the sticky completeness check
      for (const l of loops) l.stop()
      await c.drain(70_000)
      await c.awaitStickyDelivery(40_000)
      c.verify(names.slice(0, 4))
      const check = c.check()
      return {
        check,
        figures: {
          'revoked wallet lost every connection after': isolatedAfter < 0 ? 'never (30 s)' : `${isolatedAfter} ms (limit: refresh ${c.registryRefreshMs} ms + 1 s)`,
          'samples with the revoked node connected again': reconnected,
          'peers of the remaining members': peersOfOthers.join(','),
          'outsider ready': String((await c.node('x1').readyz()).ready)
        }
      }
    }
  }
]

export async function runScenario (sc: Scenario, short: boolean, seed: number): Promise<ScenarioResult> {
  const started = Date.now()
  const clusters: ChaosCluster[] = []
  const ctx: Ctx = {
    short,
    seed,
    cluster: (o) => {
      const c = new ChaosCluster({ ...o, scenario: sc.name, seed })
      clusters.push(c)
      return c
    }
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    const limit = sc.limitMs(short)
    const out = await Promise.race([
      sc.run(ctx),
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`scenario exceeded its ${limit / 1000} s limit`)) }, limit) })
    ])
    const violations = out.check?.violations ?? []
    return { name: sc.name, nodes: clusters.reduce((a, c) => a + c.nodes.length + c.outsiders.length, 0), seconds: Math.round((Date.now() - started) / 1000), passed: violations.length === 0, violations, figures: out.figures, stats: out.check?.stats }
  } catch (err) {
    return { name: sc.name, nodes: clusters.reduce((a, c) => a + c.nodes.length, 0), seconds: Math.round((Date.now() - started) / 1000), passed: false, violations: [], figures: {}, error: (err as Error).message }
  } finally {
    clearTimeout(timer)
    // the whole history, for reading a violation in context (gitignored)
    const dir = join(ROOT, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `chaos-${sc.name}.history.jsonl`), clusters.flatMap((c) => c.history.map((o) => JSON.stringify(o))).join('\n') + '\n')
    // and the daemons' logs (gitignored *.log)
    for (const c of clusters) {
      for (const n of [...c.nodes, ...c.outsiders]) {
        const log = join(c.net.dir, `${n.name}.log`)
        if (existsSync(log)) copyFileSync(log, join(dir, `chaos-${sc.name}-${n.name}.log`))
      }
    }
    for (const c of clusters) await c.destroy()
  }
}
