/*
 * Logging. Users pass any `{ debug, info, warn, error }(msg, ...keyValues)` logger (the Go
 * library's interface, slog-style alternating key/value pairs). Internally every component gets a
 * child that prepends its own key/values (node peer id, database, component), so logs from a
 * multi-node test say who spoke. The default writes pino JSON to stderr.
 */
import { pino } from 'pino'

/**
 * The logger a database writes to: leveled messages with key-value pairs (`log.info('msg', 'key',
 * value)`).
 */
export interface Logger {
  /** Detail for debugging (malformed input that was dropped, protocol steps). */
  debug(msg: string, ...keyValues: unknown[]): void
  /** Normal operation worth a line (started, stopped, registry changed). */
  info(msg: string, ...keyValues: unknown[]): void
  /** Something degraded that the node works around (a failing registry source, a slow stop). */
  warn(msg: string, ...keyValues: unknown[]): void
  /** A failure the caller should look at (a handler threw, a commit failed). */
  error(msg: string, ...keyValues: unknown[]): void
}

/** Log levels of {@link createPinoLogger}; `silent` writes nothing. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

/** A Logger that can make children carrying extra key/values. */
export class ComponentLogger implements Logger {
  constructor (private readonly base: Logger, private readonly bindings: readonly unknown[] = []) {}

  child (...keyValues: unknown[]): ComponentLogger {
    return new ComponentLogger(this.base, [...this.bindings, ...keyValues])
  }

  debug (msg: string, ...kv: unknown[]): void { this.call('debug', msg, kv) }
  info (msg: string, ...kv: unknown[]): void { this.call('info', msg, kv) }
  warn (msg: string, ...kv: unknown[]): void { this.call('warn', msg, kv) }
  error (msg: string, ...kv: unknown[]): void { this.call('error', msg, kv) }

  private call (level: keyof Logger, msg: string, kv: unknown[]): void {
    try {
      this.base[level](msg, ...this.bindings, ...kv)
    } catch {
      // a broken user logger must never take the node down
    }
  }
}

/** Pairs `k1, v1, k2, v2` into an object; errors become their message. */
export function keyValuesToObject (kv: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < kv.length; i += 2) {
    const value = kv[i + 1]
    out[String(kv[i])] = value instanceof Error ? value.message : value
  }
  return out
}

/** The default logger: pino JSON lines on stderr at `level` (default from DEPIN_LOG_LEVEL or 'info'). */
export function createPinoLogger (level: LogLevel = (process.env.DEPIN_LOG_LEVEL as LogLevel | undefined) ?? 'info'): Logger {
  const p = pino({ level, base: undefined }, pino.destination(2))
  return {
    debug: (msg, ...kv) => { p.debug(keyValuesToObject(kv), msg) },
    info: (msg, ...kv) => { p.info(keyValuesToObject(kv), msg) },
    warn: (msg, ...kv) => { p.warn(keyValuesToObject(kv), msg) },
    error: (msg, ...kv) => { p.error(keyValuesToObject(kv), msg) }
  }
}

/** A {@link Logger} that drops everything. */
export const silentLogger: Logger = { debug () {}, info () {}, warn () {}, error () {} }
