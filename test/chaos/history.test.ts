/*
 * The chaos suite's history checker on hand-written histories: each guarantee holds on a clean
 * history and each kind of violation is reported with the operation that broke it.
 */
import { describe, expect, it } from 'vitest'
import { checkHistory, type CheckParams, type HistoryOp } from './history.js'

const params: CheckParams = { settleMs: 1_000, warmupMs: 500, deliveryWindowMs: 2_000, revocationGraceMs: 2_000, outsiders: ['PX'] }
const start = (node: string, session: string, t: number, extra: Partial<Extract<HistoryOp, { type: 'session-start' }>> = {}): HistoryOp =>
  ({ type: 'session-start', t, node, session, wallet: `P${node}`, sticky: ['s'], realtime: ['r'], resume: false, ...extra })
const publish = (node: string, op: string, t: number, kind: 'sticky' | 'realtime', ackAfter = 10): HistoryOp[] => [
  { type: 'invoke', t, node, op, topic: kind === 'sticky' ? 's' : 'r', kind },
  { type: 'ok', t: t + ackAfter, node, op, msgId: `m-${op}` }
]
const recv = (node: string, session: string, op: string, t: number, kind: 'sticky' | 'realtime', from = 'Pa'): HistoryOp =>
  ({ type: 'recv', t, node, session, topic: kind === 'sticky' ? 's' : 'r', kind, op, msgId: `m-${op}`, from })

describe('chaos history checker', () => {
  const clean: HistoryOp[] = [
    start('a', 'a1', 0), start('b', 'b1', 0),
    ...publish('a', 'o1', 2_000, 'sticky'), recv('b', 'b1', 'o1', 2_020, 'sticky'),
    ...publish('a', 'o2', 2_100, 'realtime'), recv('b', 'b1', 'o2', 2_105, 'realtime'),
    start('c', 'c1', 6_000), recv('c', 'c1', 'o1', 6_100, 'sticky'),
    { type: 'verify', t: 7_000, session: 'c1' }, { type: 'verify', t: 7_000, session: 'b1' }
  ]

  it('finds nothing wrong in a clean history and counts what happened', () => {
    const r = checkHistory(clean, params)
    expect(r.violations).toEqual([])
    expect(r.stats.sticky).toMatchObject({ attempted: 1, acknowledged: 1, verifiedSessions: 2 })
    expect(r.stats.realtime.healthyRatio).toBe(1)
    expect(r.stats.realtime.deliveries.find((d) => d.node === 'b')).toMatchObject({ due: 1, delivered: 1 })
  })

  it('an acknowledged sticky message missing from a verified session is a violation naming the ack', () => {
    const r = checkHistory(clean.filter((o) => !(o.type === 'recv' && o.session === 'c1')), params)
    expect(r.violations).toHaveLength(1)
    expect(r.violations[0]).toMatchObject({ guarantee: 'sticky', op: { type: 'ok', op: 'o1' } })
  })

  it('a failed or unanswered publish may be missing', () => {
    const h: HistoryOp[] = [...clean, { type: 'invoke', t: 3_000, node: 'a', op: 'o3', topic: 's', kind: 'sticky' }, { type: 'fail', t: 3_500, node: 'a', op: 'o3', error: 'timeout' },
      { type: 'invoke', t: 3_000, node: 'a', op: 'o4', topic: 's', kind: 'sticky' }]
    const r = checkHistory(h, params)
    expect(r.violations).toEqual([])
    expect(r.stats.sticky).toMatchObject({ failed: 1, indeterminate: 1, late: 0 })
    // measured against the commit deadline: o4 never answered by a process that lived on, o3 slow
    expect(checkHistory(h, { ...params, answerBoundMs: 400 }).stats.sticky).toMatchObject({ late: 2, answerMs: { max: 500 } })
  })

  it('a duplicate to a live subscriber and a message nobody published are violations', () => {
    const r = checkHistory([...clean, recv('b', 'b1', 'o1', 2_500, 'sticky'), recv('b', 'b1', 'ghost', 2_600, 'sticky')], params)
    expect(r.violations.map((v) => v.message)).toEqual([
      expect.stringContaining('twice'), expect.stringContaining('nobody published')
    ])
  })

  it('a resumed session together with the node\'s earlier sessions must miss nothing', () => {
    const base: HistoryOp[] = [
      start('a', 'a1', 0), start('b', 'b1', 0),
      ...publish('a', 'o1', 2_000, 'sticky'), recv('b', 'b1', 'o1', 2_020, 'sticky'),
      { type: 'session-end', t: 3_000, session: 'b1', how: 'kill' },
      ...publish('a', 'o2', 4_000, 'sticky'),
      start('b', 'b2', 5_000, { resume: true })
    ]
    const ok = checkHistory([...base, recv('b', 'b2', 'o2', 5_100, 'sticky'), { type: 'verify', t: 6_000, session: 'b2' }], params)
    expect(ok.violations).toEqual([])
    const missed = checkHistory([...base, { type: 'verify', t: 6_000, session: 'b2' }], params)
    expect(missed.violations[0]).toMatchObject({ guarantee: 'sticky', op: { op: 'o2' } })
    expect(missed.violations[0]!.message).toContain('resumed')
    const again = checkHistory([...base, recv('b', 'b2', 'o1', 5_050, 'sticky'), recv('b', 'b2', 'o2', 5_100, 'sticky'), { type: 'verify', t: 6_000, session: 'b2' }], params)
    expect(again.stats.sticky.redeliveredAfterResume).toBe(1)
  })

  it('real-time: a miss while links are healthy is a violation; under loss it is only counted; during a partition it is not due', () => {
    const h: HistoryOp[] = [start('a', 'a1', 0), start('b', 'b1', 0), ...publish('a', 'o1', 2_000, 'realtime'),
      { type: 'fault', t: 5_000, fault: 'loss', nodes: [], loss: true }, ...publish('a', 'o2', 5_500, 'realtime'), { type: 'heal', t: 8_000, fault: 'loss' },
      { type: 'fault', t: 12_000, fault: 'cut', nodes: ['b'] }, ...publish('a', 'o3', 12_500, 'realtime'), { type: 'heal', t: 13_000, fault: 'cut' },
      { type: 'session-end', t: 20_000, session: 'b1', how: 'end' }]
    const r = checkHistory(h, params)
    expect(r.violations).toHaveLength(1)
    expect(r.violations[0]).toMatchObject({ guarantee: 'realtime', op: { type: 'ok', op: 'o1' } })
    expect(r.stats.realtime.deliveries.find((d) => d.node === 'b')).toMatchObject({ due: 1, delivered: 0, dueLossy: 1, deliveredLossy: 0 })
    expect(r.stats.realtime.lossyRatio).toBe(0)
  })

  it('real-time: an event is due to a subscriber that ran deliveryWindowMs past its acknowledgement, not past its call', () => {
    // b's session ends 1.5 s after the acknowledgement of o1 (called 4 s before): o1 was not in the network long enough
    const h: HistoryOp[] = [start('a', 'a1', 0), start('b', 'b1', 0), ...publish('a', 'o1', 2_000, 'realtime', 4_000),
      { type: 'session-end', t: 7_500, session: 'b1', how: 'end' }]
    expect(checkHistory(h, params).violations).toEqual([])
    // ending 2.5 s after it, o1 was due and its miss is a violation
    const due: HistoryOp[] = [...h.slice(0, -1), { type: 'session-end', t: 8_500, session: 'b1', how: 'end' }]
    expect(checkHistory(due, params).violations).toMatchObject([{ guarantee: 'realtime', op: { type: 'ok', op: 'o1' } }])
  })

  it('gate: anything from or to an outsider, anything from a revoked wallet after the grace, a slow isolation', () => {
    const h: HistoryOp[] = [start('a', 'a1', 0), start('b', 'b1', 0), start('x', 'x1', 0, { wallet: 'PX' }),
      recv('b', 'b1', 'ox', 1_000, 'realtime', 'PX'), recv('x', 'x1', 'o9', 1_000, 'realtime', 'Pa'),
      { type: 'revoke', t: 10_000, wallet: 'Pb' },
      { type: 'invoke', t: 9_000, node: 'b', op: 'early', topic: 's', kind: 'sticky' }, recv('a', 'a1', 'early', 15_000, 'sticky', 'Pb'),
      { type: 'invoke', t: 13_000, node: 'b', op: 'late', topic: 's', kind: 'sticky' }, recv('a', 'a1', 'late', 13_100, 'sticky', 'Pb'),
      recv('b', 'b1', 'to-revoked', 12_500, 'realtime', 'Pa'),
      { type: 'isolated', t: 12_500, wallet: 'Pb' },
      // its own sticky messages reach its own subscription locally: not a gate event
      recv('x', 'x1', 'own', 1_000, 'sticky', 'PX'), recv('b', 'b1', 'own-b', 14_000, 'sticky', 'Pb')]
    const r = checkHistory(h, params).violations.filter((v) => v.guarantee === 'gate')
    expect(r).toHaveLength(5)
    expect(r.map((v) => v.message).sort()).toEqual([
      'a received a message published by revoked Pb after revocation + grace',
      'b received a message from PX, a wallet never in the registry',
      'revoked Pb kept a connection for 2500 ms (> 2000)',
      'revoked b still received a message after revocation + grace',
      'x, a wallet never in the registry, received a message'
    ])
    expect(r.find((v) => v.message.includes('published by revoked'))!.op).toMatchObject({ op: 'late' })
  })
})
