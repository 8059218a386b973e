/*
 * The chaos suite's history and its checker, in the spirit of Jepsen: the harness appends every
 * operation it sees (a publish attempted, acknowledged or failed; every message a subscriber process
 * wrote to stdout; faults, heals, revocations) with the harness clock, and `checkHistory` states the
 * guarantees and returns each violation with the operation that broke it. Pure: no I/O, no clock.
 *
 * Terms: a *session* is one daemon process lifetime on a node (its bridged subscriptions live exactly
 * that long); an operation id (`op`) is unique per publish attempt and travels inside the message.
 */

export type Kind = 'sticky' | 'realtime'

export type HistoryOp =
  /** a publish written to a node's stdin */
  | { type: 'invoke', t: number, node: string, op: string, topic: string, kind: Kind }
  /** the daemon answered `published` */
  | { type: 'ok', t: number, node: string, op: string, msgId: string }
  /** the daemon answered `error` */
  | { type: 'fail', t: number, node: string, op: string, error: string }
  /** a daemon process started; `resume`: its sticky topics resume from a stored lastSeenVersion */
  | { type: 'session-start', t: number, node: string, session: string, wallet: string, sticky: string[], realtime: string[], resume: boolean }
  | { type: 'session-end', t: number, session: string, how: string }
  /** a message a session wrote to stdout; `op` is the operation id found inside it (if any) */
  | { type: 'recv', t: number, node: string, session: string, topic: string, kind: Kind, op: string | undefined, msgId: string, from: string }
  /** a fault begins (`loss` marks lossy links: real-time delivery there is reported, not asserted) */
  | { type: 'fault', t: number, fault: string, nodes: string[], loss?: boolean }
  | { type: 'heal', t: number, fault: string }
  /** a wallet removed from the registry */
  | { type: 'revoke', t: number, wallet: string }
  /** the revoked peer was first seen with no connection left */
  | { type: 'isolated', t: number, wallet: string }
  /** the scenario asks the checker to hold this session to completeness for its sticky topics */
  | { type: 'verify', t: number, session: string }

export interface CheckParams {
  /** after a heal (or the start), real-time delivery is asserted only once this much time has passed */
  settleMs: number
  /** a session is expected to receive real-time messages published this long after it started */
  warmupMs: number
  /** a real-time message counts as due to a session only if the session lived this long after it */
  deliveryWindowMs: number
  /** registry refresh + 1 s: a revoked wallet must have lost every connection within it */
  revocationGraceMs: number
  /** wallets that were never in the registry */
  outsiders: string[]
  /**
   * the sticky commit deadline (+ slack): a publish answered later than this, or never answered by a
   * process that lived this long after it, is counted in `stats.sticky.late` (reported, not a
   * violation: the library documents this bound, the suite measures it)
   */
  answerBoundMs?: number
}

export interface Violation {
  guarantee: string
  message: string
  op: HistoryOp
}

export interface RealtimeDelivery { session: string, node: string, due: number, delivered: number, dueLossy: number, deliveredLossy: number }

export interface CheckResult {
  violations: Violation[]
  stats: {
    sticky: { attempted: number, acknowledged: number, failed: number, indeterminate: number, ackMs: { p50: number, p99: number, max: number }, verifiedSessions: number, redeliveredAfterResume: number, late: number, answerMs: { max: number } }
    realtime: { attempted: number, acknowledged: number, failed: number, deliveries: RealtimeDelivery[], healthyRatio: number, lossyRatio: number | null }
  }
}

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!
}

type Session = Extract<HistoryOp, { type: 'session-start' }> & { end: number, recvs: Array<Extract<HistoryOp, { type: 'recv' }>> }

export function checkHistory (ops: HistoryOp[], params: CheckParams): CheckResult {
  const violations: Violation[] = []
  const flag = (guarantee: string, message: string, op: HistoryOp): void => { violations.push({ guarantee, message, op }) }
  const last = ops.reduce((m, o) => Math.max(m, o.t), 0)

  const invokes = new Map<string, Extract<HistoryOp, { type: 'invoke' }>>()
  const oks = new Map<string, Extract<HistoryOp, { type: 'ok' }>>()
  const fails = new Map<string, Extract<HistoryOp, { type: 'fail' }>>()
  const sessions = new Map<string, Session>()
  const sessionsOfNode = new Map<string, Session[]>()
  const faults: Array<{ from: number, to: number, loss: boolean }> = []
  const open = new Map<string, { from: number, loss: boolean }>()
  const revoked = new Map<string, number>()
  const isolated = new Map<string, number>()
  const verifies: Array<Extract<HistoryOp, { type: 'verify' }>> = []
  const outsiders = new Set(params.outsiders)

  for (const o of ops) {
    switch (o.type) {
      case 'invoke': invokes.set(o.op, o); break
      case 'ok': oks.set(o.op, o); break
      case 'fail': fails.set(o.op, o); break
      case 'session-start': {
        const s: Session = { ...o, end: Infinity, recvs: [] }
        sessions.set(o.session, s)
        sessionsOfNode.set(o.node, [...(sessionsOfNode.get(o.node) ?? []), s])
        break
      }
      case 'session-end': { const s = sessions.get(o.session); if (s != null) s.end = o.t; break }
      case 'recv': sessions.get(o.session)?.recvs.push(o); break
      case 'fault': open.set(o.fault, { from: o.t, loss: o.loss === true }); break
      case 'heal': {
        const f = open.get(o.fault)
        if (f != null) { faults.push({ from: f.from, to: o.t, loss: f.loss }); open.delete(o.fault) }
        break
      }
      case 'revoke': revoked.set(o.wallet, o.t); break
      case 'isolated': if (!isolated.has(o.wallet)) isolated.set(o.wallet, o.t); break
      case 'verify': verifies.push(o); break
    }
  }
  for (const f of open.values()) faults.push({ from: f.from, to: Infinity, loss: f.loss })
  for (const s of sessions.values()) if (s.end === Infinity) s.end = last

  // ---- gate ----
  const graceEnd = (wallet: string): number => (revoked.get(wallet) ?? Infinity) + params.revocationGraceMs
  for (const s of sessions.values()) {
    for (const r of s.recvs) {
      // a node's own sticky messages come back to its own subscription without crossing the network
      if (r.from === s.wallet) continue
      const inv = r.op != null ? invokes.get(r.op) : undefined
      if (outsiders.has(r.from)) flag('gate', `${s.node} received a message from ${r.from}, a wallet never in the registry`, r)
      if (outsiders.has(s.wallet)) flag('gate', `${s.node}, a wallet never in the registry, received a message`, r)
      // a message published before the revocation may legitimately arrive later (sticky history)
      const publishedAt = inv?.t ?? r.t
      if (publishedAt > graceEnd(r.from)) flag('gate', `${s.node} received a message published by revoked ${r.from} after revocation + grace`, r)
      if (r.t > graceEnd(s.wallet)) flag('gate', `revoked ${s.node} still received a message after revocation + grace`, r)
    }
  }
  for (const [wallet, t] of revoked) {
    const at = isolated.get(wallet)
    if (at == null) flag('gate', `revoked ${wallet} never lost all its connections`, { type: 'revoke', t, wallet })
    else if (at - t > params.revocationGraceMs) flag('gate', `revoked ${wallet} kept a connection for ${at - t} ms (> ${params.revocationGraceMs})`, { type: 'isolated', t: at, wallet })
  }

  // ---- sticky ----
  let redelivered = 0
  for (const s of sessions.values()) {
    const seen = new Map<string, number>()
    for (const r of s.recvs) {
      if (r.kind !== 'sticky') continue
      seen.set(r.msgId, (seen.get(r.msgId) ?? 0) + 1)
      if (seen.get(r.msgId) === 2) flag('sticky', `${s.node} (session ${s.session}) received message ${r.msgId} twice`, r)
      if (r.op != null && !invokes.has(r.op)) flag('sticky', `${s.node} received ${r.op}, which nobody published`, r)
    }
  }
  // an outsider's own acknowledgements say nothing about the network it was never admitted to
  const outsiderNodes = new Set([...sessions.values()].filter((x) => outsiders.has(x.wallet)).map((x) => x.node))
  const stickyOks = [...oks.values()].filter((o) => invokes.get(o.op)?.kind === 'sticky' && !outsiderNodes.has(o.node))
  let verified = 0
  for (const v of verifies) {
    const s = sessions.get(v.session)
    if (s == null) continue
    verified++
    // a resumed session continues the node's earlier sessions: together they must miss nothing
    const chain = s.resume ? (sessionsOfNode.get(s.node) ?? []).filter((x) => x.t <= s.t) : [s]
    const have = new Set(chain.flatMap((x) => x.recvs.filter((r) => r.kind === 'sticky').map((r) => r.msgId)))
    if (s.resume) {
      const inThis = new Set(s.recvs.map((r) => r.msgId))
      const before = new Set(chain.filter((x) => x !== s).flatMap((x) => x.recvs.map((r) => r.msgId)))
      for (const id of inThis) if (before.has(id)) redelivered++
    }
    for (const ok of stickyOks) {
      const inv = invokes.get(ok.op)!
      if (!s.sticky.includes(inv.topic) || ok.t > v.t) continue
      if (!have.has(ok.msgId)) {
        flag('sticky', `acknowledged ${ok.op} (${inv.topic}, from ${inv.node}) is missing at ${s.node}` +
          `${s.resume ? ' (resumed from its stored lastSeenVersion)' : ''}`, ok)
      }
    }
  }
  const ackMs = stickyOks.map((o) => o.t - invokes.get(o.op)!.t).sort((a, b) => a - b)
  // answer times (ok or fail) and publishes a living process never answered
  const bound = params.answerBoundMs ?? Infinity
  let late = 0
  let answerMax = 0
  for (const inv of invokes.values()) {
    if (inv.kind !== 'sticky') continue
    const answer = oks.get(inv.op) ?? fails.get(inv.op)
    if (answer != null) {
      answerMax = Math.max(answerMax, answer.t - inv.t)
      if (answer.t - inv.t > bound) late++
      continue
    }
    const alive = [...(sessionsOfNode.get(inv.node) ?? [])].some((x) => x.t <= inv.t && x.end - inv.t > bound)
    if (alive) late++
  }
  const stickyInvokes = [...invokes.values()].filter((i) => i.kind === 'sticky')
  const stickyFails = stickyInvokes.filter((i) => fails.has(i.op)).length

  // ---- real-time ----
  const unhealthy = (from: number, to: number): { any: boolean, loss: boolean } => {
    let any = false; let loss = false
    for (const f of faults) {
      if (f.from <= to && f.to + params.settleMs >= from) { if (f.loss) loss = true; else any = true }
    }
    return { any, loss }
  }
  const deliveries: RealtimeDelivery[] = []
  const rtOks = [...oks.values()].filter((o) => invokes.get(o.op)?.kind === 'realtime')
  for (const s of sessions.values()) {
    if (s.realtime.length === 0) continue
    const got = new Map<string, number>()
    for (const r of s.recvs) {
      if (r.kind !== 'realtime' || r.op == null) continue
      got.set(r.op, (got.get(r.op) ?? 0) + 1)
      if (got.get(r.op) === 2) flag('realtime', `${s.node} received ${r.op} twice`, r)
    }
    const d: RealtimeDelivery = { session: s.session, node: s.node, due: 0, delivered: 0, dueLossy: 0, deliveredLossy: 0 }
    for (const ok of rtOks) {
      const inv = invokes.get(ok.op)!
      if (inv.node === s.node || !s.realtime.includes(inv.topic)) continue
      // due to a session that ran from warmupMs before the call to deliveryWindowMs after the
      // acknowledgement: the event is in the network only from then (a daemon that just restarted
      // holds its publishes until a subscriber is known, up to 5 s)
      if (inv.t < s.t + params.warmupMs || ok.t + params.deliveryWindowMs > s.end) continue
      const pub = [...sessions.values()].find((x) => x.node === inv.node && x.t <= inv.t && x.end >= inv.t)
      if (revoked.has(s.wallet) || (pub != null && revoked.has(pub.wallet)) || outsiders.has(s.wallet)) continue
      if (inv.t < Math.min(...[...sessions.values()].map((x) => x.t)) + params.settleMs) continue
      const h = unhealthy(inv.t, ok.t + params.deliveryWindowMs)
      if (h.any) continue
      const arrived = got.has(ok.op)
      if (h.loss) { d.dueLossy++; if (arrived) d.deliveredLossy++; continue }
      d.due++
      if (arrived) d.delivered++
      else flag('realtime', `${s.node} never received ${ok.op} (acknowledged by ${inv.node} while links were healthy)`, ok)
    }
    deliveries.push(d)
  }
  const sum = (f: (d: RealtimeDelivery) => number): number => deliveries.reduce((a, d) => a + f(d), 0)
  const rtInvokes = [...invokes.values()].filter((i) => i.kind === 'realtime')

  return {
    violations,
    stats: {
      sticky: {
        attempted: stickyInvokes.length,
        acknowledged: stickyOks.length,
        failed: stickyFails,
        indeterminate: stickyInvokes.length - stickyOks.length - stickyFails,
        ackMs: { p50: percentile(ackMs, 0.5), p99: percentile(ackMs, 0.99), max: ackMs.at(-1) ?? 0 },
        verifiedSessions: verified,
        redeliveredAfterResume: redelivered,
        late,
        answerMs: { max: answerMax }
      },
      realtime: {
        attempted: rtInvokes.length,
        acknowledged: rtOks.length,
        failed: rtInvokes.filter((i) => fails.has(i.op)).length,
        deliveries,
        healthyRatio: sum((d) => d.due) === 0 ? 1 : sum((d) => d.delivered) / sum((d) => d.due),
        lossyRatio: sum((d) => d.dueLossy) === 0 ? null : sum((d) => d.deliveredLossy) / sum((d) => d.dueLossy)
      }
    }
  }
}
