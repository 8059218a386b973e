/*
 * Prometheus metrics for the daemon: libp2p's own (through @libp2p/prometheus-metrics, registered
 * in the same registry) plus the project's, read from Database.stats() at scrape time. Counters
 * mirror the library's monotonic counts; the sticky commit latency is a histogram fed by the
 * sticky layer's 'commit' events. Every name is listed in the README's operator section.
 */
import { Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Database } from '../api.js'

type Read = () => Array<[LabelValues<string>, number]>

export interface DaemonMetrics {
  readonly registry: Registry
  /** pass to connect() as `libp2pMetrics` */
  readonly libp2p: (components: any) => unknown
  /** starts reading a database's stats at scrape time */
  attach(db: Database): void
  bridge: { linesIn: Counter<'result'>, linesOut: Counter<'kind'>, linesDropped: Counter<'reason'> }
}

export function createDaemonMetrics (): DaemonMetrics {
  const registry = new Registry()
  let db: Database | undefined
  const stats = (): ReturnType<Database['stats']> | undefined => db?.stats()

  const counter = (name: string, help: string, labelNames: string[], read: Read): void => {
    // eslint-disable-next-line no-new
    new Counter({
      name, help, labelNames, registers: [registry],
      collect () {
        this.reset()
        for (const [labels, value] of read()) this.inc(labels, value)
      }
    })
  }
  const gauge = (name: string, help: string, labelNames: string[], read: Read): void => {
    // eslint-disable-next-line no-new
    new Gauge({
      name, help, labelNames, registers: [registry],
      collect () {
        this.reset()
        for (const [labels, value] of read()) this.set(labels, value)
      }
    })
  }
  type Stats = NonNullable<ReturnType<typeof stats>>
  const one = (f: (s: Stats) => number): Read => () => {
    const s = stats()
    return s == null ? [] : [[{}, f(s)]]
  }
  /** one series per label set, read from the stats */
  const labelled = (f: (s: Stats) => Array<[LabelValues<string>, number]>): Read => () => {
    const s = stats()
    return s == null ? [] : f(s)
  }

  counter('depin_events_published_total', 'Real-time events published by this node', [], one((s) => s.realtime.published))
  counter('depin_events_received_total', 'Real-time events delivered to handlers', [], one((s) => s.realtime.received))
  counter('depin_events_dropped_total', 'Inbound real-time events dropped, by reason', ['reason'], () =>
    Object.entries(stats()?.realtime.dropped ?? {}).map(([reason, n]) => [{ reason }, n]))
  counter('depin_event_handler_errors_total', 'Real-time handlers that threw', [], one((s) => s.realtime.handlerErrors))
  counter('depin_gater_decisions_total', 'Connection gater decisions, by hook and decision', ['hook', 'decision'], labelled((s) => [
    ...Object.entries(s.gater.allowed).map(([hook, n]): [LabelValues<string>, number] => [{ hook, decision: 'allow' }, n]),
    ...Object.entries(s.gater.denied).map(([hook, n]): [LabelValues<string>, number] => [{ hook, decision: 'deny' }, n])
  ]))
  counter('depin_gater_limited_total', 'Inbound connections refused by a limit, not by the registry: pending_per_ip (unfinished handshakes from one IP), connections_per_peer', ['limit'], labelled((s) => [
    [{ limit: 'pending_per_ip' }, s.gater.limited.pendingPerIp],
    [{ limit: 'connections_per_peer' }, s.gater.limited.connectionsPerPeer]
  ]))
  counter('depin_registry_refreshes_total', 'Successful registry refreshes', [], one((s) => s.registry.refreshes))
  counter('depin_registry_errors_total', 'Failed registry refreshes (the last good set was kept)', [], one((s) => s.registry.errors))
  counter('depin_registry_miss_calls_total', 'Registry calls caused by unknown peers', [], one((s) => s.registry.missCalls))
  counter('depin_registry_invalid_entries_total', 'Registry entries that were not valid wallet addresses', [], one((s) => s.registry.invalidEntries))
  counter('depin_registry_shrinks_held_total', 'Registry refreshes whose large shrink was held back for a confirming second read', [], one((s) => s.registry.shrinksHeld))
  gauge('depin_registry_refresh_duration_seconds', 'Duration of the last registry refresh', [], one((s) => s.registry.lastDurationMs / 1000))
  gauge('depin_registry_last_success_timestamp_seconds', 'Unix time of the last successful registry refresh', [], one((s) => s.registry.lastSuccessAt / 1000))
  gauge('depin_registry_wallets', 'Authorized wallets in the registry cache', [], one((s) => s.registry.wallets))
  gauge('depin_ready', '1 when the node has at least one authorized peer', [], one((s) => (s.ready ? 1 : 0)))
  gauge('depin_connected_peers', 'Authorized peers connected', [], one((s) => s.connectedPeers))
  counter('depin_bootstrap_attempts_total', 'Bootstrap rounds run', [], one((s) => s.bootstrapAttempts))
  counter('depin_discovery_rounds_total', 'DHT discovery rounds: advertise and lookup run, lookup skipped (nobody left to find)', ['round'], labelled((s) => [
    [{ round: 'advertise' }, s.discovery.advertised], [{ round: 'lookup' }, s.discovery.lookups], [{ round: 'skipped' }, s.discovery.skipped]
  ]))
  counter('depin_discovery_dialed_total', 'Peers dialed successfully after a discovery lookup found them', [], one((s) => s.discovery.dialed))
  const sticky = (key: string, name: string, help: string): void => { counter(name, help, [], one((s) => s.sticky[key] ?? 0)) }
  sticky('commits', 'depin_sticky_commits_total', 'Sticky batches committed (acknowledged by a quorum)')
  sticky('messages', 'depin_sticky_messages_committed_total', 'Sticky messages committed')
  sticky('attempts', 'depin_sticky_commit_attempts_total', 'Sticky coordinator write attempts')
  sticky('conflicts', 'depin_sticky_conflicts_total', 'Sticky commits that found concurrent heads on their first attempt')
  sticky('merges', 'depin_sticky_merges_total', 'Sticky write attempts that merged several heads')
  sticky('retries', 'depin_sticky_retries_total', 'Sticky write attempts not confirmed by read-back and retried')
  sticky('failures', 'depin_sticky_commit_failures_total', 'Sticky batches that failed (publish rejected)')
  sticky('invalidRecords', 'depin_sticky_invalid_records_total', 'Invalid sticky records refused')
  sticky('replicaFailures', 'depin_sticky_replica_failures_total', 'Failed requests to sticky replicas')
  sticky('repairs', 'depin_sticky_repairs_total', 'Records copied to new replica-set members')
  sticky('headReads', 'depin_sticky_head_reads_total', 'Reads of a topic\'s current heads from its replicas (commits, polls, history)')
  counter('depin_sticky_replica_set_lookups_total', 'Replica-set lookups, by where the peers came from: the routing table (it holds the whole network), a DHT query, or a query under a second old (a topic queries the DHT at most once a second)', ['source'], labelled((s) => [
    [{ source: 'routing_table' }, s.sticky.replicaSetsFromTable ?? 0], [{ source: 'dht_query' }, s.sticky.replicaSetQueries ?? 0], [{ source: 'reused_query' }, s.sticky.replicaSetQueriesReused ?? 0]
  ]))
  sticky('pushesDropped', 'depin_sticky_pushes_dropped_total', 'Invalid sticky pushes dropped')
  sticky('rateLimited', 'depin_sticky_rate_limited_total', 'Sticky publishes refused by the per-publisher rate limit')
  sticky('renewalsRejected', 'depin_sticky_renewals_rejected_total', 'Subscription renewal requests this node refused (forged, replayed, stale, non-subscriber...)')
  sticky('renewalsMalformed', 'depin_sticky_renewals_malformed_total', 'Malformed subscription renewal requests dropped')
  sticky('snapshots', 'depin_sticky_snapshots_total', 'Coordinator snapshots written')
  sticky('restored', 'depin_sticky_records_restored_total', 'Sticky records this node copied from other replicas after a restart or reconnect (missed while away)')
  gauge('depin_sticky_ready', '1 when enough replica-capable peers are connected for the sticky write quorum', [], one((s) => (s.stickyReady ? 1 : 0)))
  gauge('depin_sticky_stored_records', 'Sticky records this node stores, by kind (as of the last sweep)', ['kind'], labelled((s) =>
    Object.entries(s.stored).map(([kind, v]) => [{ kind }, v.records])))
  gauge('depin_sticky_stored_bytes', 'Bytes of the sticky records this node stores, by kind (as of the last sweep)', ['kind'], labelled((s) =>
    Object.entries(s.stored).map(([kind, v]) => [{ kind }, v.bytes])))
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'depin_data_dir_bytes',
    help: 'Bytes of the data dir on disk (absent without a data dir)',
    registers: [registry],
    async collect () {
      this.reset()
      const bytes = await db?.dataDirBytes()
      if (bytes != null) this.set(bytes)
    }
  })
  sticky('mergeFailures', 'depin_sticky_merge_failures_total', 'Sticky write attempts that could load no current coordinator version')
  counter('depin_sticky_swept_total', 'Stored sticky records handled by the sweep, by action', ['action'], labelled((s) =>
    [[{ action: 'deleted' }, s.sticky.sweptDeleted ?? 0], [{ action: 'republished' }, s.sticky.sweptRepublished ?? 0], [{ action: 'malformed' }, s.sticky.sweptMalformed ?? 0]]))
  counter('depin_sticky_replica_records_total', 'Sticky records other nodes asked this node to store or serve, by result', ['result'], labelled(({ replicaService: r }) =>
    [[{ result: 'stored' }, r.stored], [{ result: 'refused' }, r.refused], [{ result: 'over_quota' }, r.overQuota], [{ result: 'over_budget' }, r.overBudget], [{ result: 'served' }, r.served]]))
  counter('depin_sticky_replica_requests_total', 'Replica protocol requests served, by operation', ['op'], labelled(({ replicaService: r }) =>
    [[{ op: 'put' }, r.putRequests], [{ op: 'get' }, r.getRequests]]))
  counter('depin_sticky_replica_requests_malformed_total', 'Malformed replica protocol requests dropped', [], one((s) => s.replicaService.malformed))
  const channelStates = new Counter({ name: 'depin_sticky_channel_state_changes_total', help: 'Sticky channel state changes seen by this node, by new state', labelNames: ['state'], registers: [registry] })
  const commitSeconds = new Histogram({
    name: 'depin_sticky_commit_duration_seconds',
    help: 'Time from the first write attempt of a sticky batch to its acknowledgement',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry]
  })
  const bridge = {
    linesIn: new Counter({ name: 'depin_bridge_stdin_lines_total', help: 'stdin lines, by result', labelNames: ['result'], registers: [registry] }),
    linesOut: new Counter({ name: 'depin_bridge_stdout_lines_total', help: 'stdout lines written, by kind', labelNames: ['kind'], registers: [registry] }),
    linesDropped: new Counter({ name: 'depin_bridge_stdout_dropped_total', help: 'stdout lines not written, by reason', labelNames: ['reason'], registers: [registry] })
  }

  return {
    registry,
    libp2p: prometheusMetrics({ registry }) as (components: any) => unknown,
    bridge,
    attach (database) {
      db = database
      database.sticky.on('commit', (c) => { commitSeconds.observe(c.durationMs / 1000) })
      database.sticky.on('channel-state', (c) => { channelStates.inc({ state: c.state }) })
    }
  }
}
