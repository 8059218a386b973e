/*
 * `npm run chaos [-- NAME... --short --seed N]`: runs the chaos scenarios (all by default, full
 * size), prints a table and writes bench/results/chaos.json. Needs root (network namespaces),
 * iptables, and for lossy-links Go and ethtool; bash .ci/run installs iptables and ethtool.
 * Run it under the shared lock on shared machines: flock /work/coord/heavy.lock npm run chaos
 */
import '../../src/polyfills.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildDist, ROOT } from '../../support/daemon-process.js'
import { chaosUnavailable } from './net.js'
import { SCENARIOS, runScenario, type ScenarioResult } from './scenarios.js'

const args = process.argv.slice(2)
const short = args.includes('--short')
const seedAt = args.indexOf('--seed')
const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : 15
const names = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--seed')
const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n))
if (unknown.length > 0) {
  console.error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`)
  process.exit(2)
}
const why = chaosUnavailable()
if (why != null) {
  console.error(`chaos suite unavailable: ${why}`)
  process.exit(1)
}

export function table (results: ScenarioResult[]): string {
  const rows = ['| scenario | nodes | s | result | sticky acked/attempted (failed) | ack p50/p99/max ms | answered > 65 s | real-time healthy | figures |', '|---|---|---|---|---|---|---|---|---|']
  for (const r of results) {
    const st = r.stats?.sticky
    const rt = r.stats?.realtime
    rows.push(`| ${r.name} | ${r.nodes} | ${r.seconds} | ${r.error != null ? 'ERROR: ' + r.error : r.passed ? 'pass' : `${r.violations.length} violation(s)`} | ` +
      `${st != null && st.attempted > 0 ? `${st.acknowledged}/${st.attempted} (${st.failed})` : '-'} | ` +
      `${st != null && st.attempted > 0 ? `${st.ackMs.p50}/${st.ackMs.p99}/${st.ackMs.max}` : '-'} | ` +
      `${st != null && st.attempted > 0 ? `${st.late} (max ${(st.answerMs.max / 1000).toFixed(0)} s)` : '-'} | ` +
      `${rt != null && rt.attempted > 0 ? `${(rt.healthyRatio * 100).toFixed(1)} % of ${rt.deliveries.reduce((a, d) => a + d.due, 0)}` : '-'} | ` +
      `${Object.entries(r.figures).map(([k, v]) => `${k}: ${v}`).join('; ')} |`)
  }
  return rows.join('\n')
}

const results: ScenarioResult[] = []
const out = join(ROOT, 'bench', 'results')
mkdirSync(out, { recursive: true })
/** written after every scenario, so an interrupted run still leaves what it measured */
function write (): string {
  writeFileSync(join(out, 'chaos.json'), JSON.stringify({ at: new Date().toISOString(), short, seed, results }, null, 2))
  const text = table(results)
  writeFileSync(join(out, 'chaos.md'), text + '\n')
  return text
}
buildDist()
for (const sc of SCENARIOS.filter((s) => names.length === 0 || names.includes(s.name))) {
  console.log(`\n== ${sc.name} (${short ? 'short' : 'full'}, seed ${seed}): ${sc.about}`)
  const r = await runScenario(sc, short, seed)
  results.push(r)
  console.log(`   ${r.error != null ? 'ERROR ' + r.error : r.passed ? 'pass' : 'VIOLATIONS'} in ${r.seconds} s; ${JSON.stringify(r.figures)}`)
  for (const v of r.violations.slice(0, 10)) console.log(`   violation [${v.guarantee}] ${v.message}\n     op: ${JSON.stringify(v.op)}`)
  if (r.violations.length > 10) console.log(`   ... ${r.violations.length - 10} more`)
  write()
}
console.log('\n' + write() + '\n\nwritten: bench/results/chaos.json, bench/results/chaos.md')
process.exit(results.every((r) => r.passed) ? 0 : 1)
