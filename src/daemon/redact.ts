/*
 * Credentials in the daemon's URLs (registry.url, bootstrap.url, registry.solana.rpcUrl): hosted
 * Solana RPC providers put an API key in the query (`?api-key=...`) or a token in the path, and
 * HTTP registries may carry basic-auth passwords. `maskUrl` shows a URL with those parts replaced
 * by `***`; `redactingLogger` removes every such secret from whatever a component logs, including
 * error messages thrown by libraries that quote the URL.
 */
import type { Logger } from '../logger.js'

const MASK = '***'
/** path segments at least this long are treated as tokens */
const TOKEN_SEGMENT_CHARS = 16
/** shorter "secrets" would mask ordinary words */
const MIN_SECRET_CHARS = 4

function parse (url: string): URL | undefined {
  try { return new URL(url) } catch { return undefined }
}

/** The URL with its password, query values and token-like path segments masked. */
export function maskUrl (url: string): string {
  const u = parse(url)
  if (u == null) return url
  let out = `${u.protocol}//`
  if (u.username !== '' || u.password !== '') out += `${u.username}${u.password !== '' ? `:${MASK}` : ''}@`
  out += u.host
  out += u.pathname.split('/').map((seg) => (seg.length >= TOKEN_SEGMENT_CHARS ? MASK : seg)).join('/')
  if (u.search !== '') out += '?' + [...u.searchParams.keys()].map((k) => `${k}=${MASK}`).join('&')
  return out
}

/** The secret parts of a URL, raw and percent-encoded, longest first. */
export function secretsOfUrl (url: string): string[] {
  const u = parse(url)
  if (u == null) return []
  const found = new Set<string>([url])
  if (u.password !== '') found.add(u.password)
  for (const seg of u.pathname.split('/')) if (seg.length >= TOKEN_SEGMENT_CHARS) found.add(seg)
  for (const value of u.searchParams.values()) found.add(value)
  for (const s of [...found]) { found.add(encodeURIComponent(s)); try { found.add(decodeURIComponent(s)) } catch {} }
  return [...found].filter((s) => s.length >= MIN_SECRET_CHARS).sort((a, b) => b.length - a.length)
}

/** Replaces every secret in `text`; the whole URLs by their masked form. */
export function redact (text: string, secrets: readonly string[], urls: readonly string[] = []): string {
  let out = text
  for (const url of urls) if (url !== '') out = out.split(url).join(maskUrl(url))
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(MASK)
  return out
}

/** A logger that removes the secrets of `urls` from messages and values (errors included) before `base` sees them. */
export function redactingLogger (base: Logger, urls: ReadonlyArray<string | undefined>): Logger {
  const list = urls.filter((u): u is string => u != null && u !== '')
  const secrets = [...new Set(list.flatMap(secretsOfUrl))].sort((a, b) => b.length - a.length)
  if (secrets.length === 0) return base
  const clean = (v: unknown, depth = 0): unknown => {
    if (typeof v === 'string') return redact(v, secrets, list)
    if (v instanceof Error) {
      const cause = (v as { cause?: unknown }).cause
      const e = new Error(redact(v.message, secrets, list), cause !== undefined ? { cause: clean(cause, depth + 1) } : undefined)
      e.name = v.name
      return e
    }
    if (depth < 3 && Array.isArray(v)) return v.map((x) => clean(x, depth + 1))
    if (depth < 3 && v != null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, clean(x, depth + 1)]))
    }
    return v
  }
  const wrap = (level: keyof Logger) => (msg: string, ...kv: unknown[]): void => {
    base[level](redact(msg, secrets, list), ...kv.map((v) => clean(v)))
  }
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') }
}
