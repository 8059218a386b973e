/*
 * `depin-node status` and `depin-node topics`: read a running node's inspection listener (see
 * inspect.ts) and print its answers as aligned tables, or as the JSON itself with --json.
 */
import { DAEMON_DEFAULTS } from './settings.js'

/** The inspection listener of a node on this machine with the default settings. */
export const DEFAULT_INSPECT_URL = `http://${DAEMON_DEFAULTS.inspectHost}:${process.env.DEPIN_INSPECT_PORT ?? DAEMON_DEFAULTS.inspectPort}`

type Json = Record<string, any>

export async function fetchInspect (base: string, path: string): Promise<any> {
  const url = base.replace(/\/+$/, '') + path
  let res: Response
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(15_000) })
  } catch (err) {
    throw new Error(`no answer from ${url} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}); is the node running, and is --http its inspect.host:inspect.port?`)
  }
  const body = await res.text()
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${body.trim()}`)
  return JSON.parse(body)
}

/** Columns padded to their widest cell; `-` for empty cells. */
export function table (headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c == null || c === '' ? '-' : String(c))))]
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)))
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')
}

const ago = (ms: number | undefined): string => {
  if (ms == null || ms <= 0) return '-'
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`
}
const short = (id: string): string => (id.length > 16 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id)

export async function status (base: string): Promise<{ json: Json, text: string }> {
  const [node, peers] = await Promise.all([fetchInspect(base, '/node'), fetchInspect(base, '/peers')]) as [Json, Json[]]
  const rows = peers.flatMap((p) => {
    const conns = (p.connections as Json[]).length > 0 ? p.connections as Json[] : [{}]
    return conns.map((c, i) => [i === 0 ? short(p.peerId) : '', i === 0 ? p.wallet : '', c.transport, c.direction, c.addr?.replace(/\/p2p\/[^/]+$/, ''), i === 0 && p.latencyMs != null ? `${p.latencyMs} ms` : ''])
  })
  const text = [
    `node      ${node.peerId}`,
    `wallet    ${node.wallet}`,
    `database  ${node.database}   ${node.ready === true ? 'ready' : 'NOT READY'}   ${node.peers} authorized peer(s), ${node.connections} connection(s), up ${node.uptimeSeconds}s`,
    `listening ${(node.addrs as string[]).join(' ')}`,
    '',
    peers.length === 0 ? 'no authorized peers connected' : table(['PEER', 'WALLET', 'TRANSPORT', 'DIR', 'ADDRESS', 'LATENCY'], rows)
  ].join('\n')
  return { json: { node, peers }, text }
}

export async function topics (base: string, name?: string): Promise<{ json: Json, text: string }> {
  if (name == null) {
    const list = await fetchInspect(base, '/topics') as { total: number, topics: Json[] }
    const rows = list.topics.map((t) => [t.topic, (t.roles as string[]).join(','), t.info.version, t.info.messageCount, t.info.subscriberCount, t.info.error ?? t.info.state, ago(t.info.lastModified)])
    const more = list.total > list.topics.length ? `\n(${list.total - list.topics.length} more not shown)` : ''
    const text = list.total === 0 ? 'no sticky topics on this node' : table(['TOPIC', 'ROLES', 'VERSION', 'MESSAGES', 'SUBSCRIBERS', 'STATE', 'MODIFIED'], rows) + more
    return { json: list, text }
  }
  const t = await fetchInspect(base, `/topics/${encodeURIComponent(name)}`) as Json
  const info = t.info as Json
  const text = [
    `topic     ${t.topic}   roles: ${(t.roles as string[]).join(', ') || 'none'}`,
    info.error != null
      ? `info      unavailable: ${info.error}`
      : `info      version ${info.version}, ${info.messageCount} message(s), ${info.subscriberCount} subscriber(s), ${info.state}${info.retired === true ? ', retired' : ''}, modified ${ago(info.lastModified)}`,
    '',
    `replica set (${(t.replicas as Json[]).length} remote)`,
    table(['PEER', 'WALLET', 'CONNECTED'], (t.replicas as Json[]).map((r) => [r.peerId, r.wallet, r.connected === true ? 'yes' : 'no'])),
    '',
    'current heads',
    table(['VERSION', 'WRITER', 'MODIFIED', 'STATE', 'HEAD'], (t.heads as Json[]).map((h) => [h.version, h.writer, ago(h.lastModified), h.state, short(h.id)])),
    '',
    'last commits by this node',
    table(['VERSION', 'ITEMS', 'TOOK', 'WHEN'], (t.commits as Json[]).map((c) => [c.version, c.items, `${c.durationMs} ms`, ago(c.at)]))
  ].join('\n')
  return { json: t, text }
}
