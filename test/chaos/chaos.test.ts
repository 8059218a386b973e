/*
 * The short chaos run in npm test: three scenarios on 3-5 daemon processes, each in its own network
 * namespace (see test/chaos/). Skipped, with the reason printed, where namespaces or iptables are
 * unavailable (not root). `npm run chaos` runs every scenario at full length.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { buildDist } from '../../support/daemon-process.js'
import { chaosUnavailable } from './net.js'
import { SCENARIOS, runScenario } from './scenarios.js'

const SHORT = ['bootstrap-failover', 'partition-recovery', 'frozen-replica']
const why = chaosUnavailable()
if (why != null) console.log(`chaos suite skipped: ${why}`)

describe.skipIf(why != null)('chaos (short): daemon processes in network namespaces', () => {
  beforeAll(() => { buildDist() }, 120_000)

  for (const name of SHORT) {
    const sc = SCENARIOS.find((s) => s.name === name)!
    it(`${name}: ${sc.about}`, async () => {
      process.env.DEPIN_CHAOS_QUIET ??= '1'
      const r = await runScenario(sc, true, 15)
      console.log(`${name}: ${r.seconds} s, ${JSON.stringify(r.figures)}`)
      expect(r.error).toBeUndefined()
      // each violation with the operation that broke it
      expect(r.violations.map((v) => `[${v.guarantee}] ${v.message}: ${JSON.stringify(v.op)}`)).toEqual([])
    }, sc.limitMs(true) + 30_000)
  }
})
