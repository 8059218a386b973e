/*
 * Loads the daemon's configuration from up to three layers and validates the merge:
 * flags > environment (DEPIN_*) > config file (JSON or YAML) > defaults (in settings.ts).
 * The first problem becomes a ConfigError naming the field, where the value came from, the value
 * itself (secrets masked) and what was expected.
 */
import { readFile } from 'node:fs/promises'
import { parseDocument } from 'yaml'
import { ConfigError } from '../errors.js'
import { daemonSchema, SETTINGS, type DaemonConfig, type Setting } from './settings.js'

type Layer = Record<string, unknown>
type Source = 'flag' | 'env' | 'file'

export interface ConfigInputs {
  /** path of a .json, .yaml or .yml file */
  file?: string
  env?: NodeJS.ProcessEnv
  /** flag values by setting path (strings as typed, booleans for switches) */
  flags?: Record<string, string | boolean | undefined>
}

export async function loadDaemonConfig (inputs: ConfigInputs): Promise<DaemonConfig> {
  const origin = new Map<string, Source>()
  const fileLayer = inputs.file != null ? await readConfigFile(inputs.file) : {}
  const envLayer: Layer = {}
  const flagLayer: Layer = {}
  for (const s of SETTINGS) {
    const fromEnv = inputs.env?.[s.env]
    if (fromEnv != null && fromEnv !== '') setPath(envLayer, s.path, convert(s, fromEnv, `${s.env}`))
    const fromFlag = inputs.flags?.[s.path]
    if (fromFlag != null) setPath(flagLayer, s.path, typeof fromFlag === 'boolean' ? fromFlag : convert(s, fromFlag, s.flag ?? s.path))
  }
  recordOrigins(fileLayer, 'file', origin)
  recordOrigins(envLayer, 'env', origin)
  recordOrigins(flagLayer, 'flag', origin)
  const merged = deepMerge(deepMerge(fileLayer, envLayer), flagLayer)
  const result = daemonSchema.safeParse(merged)
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  const field = issue.path.map(String).join('.') || 'config'
  let message = issue.message
  if (issue.code === 'unrecognized_keys') message = `unknown setting(s): ${issue.keys.join(', ')}`
  const value = getPath(merged, field)
  const from = origin.get(field)
  const shown = value === undefined ? '' : `, got ${field === 'key' ? '(secret)' : JSON.stringify(value)}`
  throw new ConfigError(from != null ? `${field} (from ${describe(field, from)})` : field, `${message}${shown}`)
}

async function readConfigFile (path: string): Promise<Layer> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${path}: ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = /\.ya?ml$/i.test(path) ? parseYamlStrict(text) : JSON.parse(text)
  } catch (err) {
    throw new ConfigError('--config', `${path} is not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(err as Error).message}`)
  }
  if (parsed == null) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError('--config', `${path} must hold an object of settings`)
  return parsed as Layer
}

/** YAML with its warnings (e.g. an unknown tag) as errors, never printed as a process warning. */
function parseYamlStrict (text: string): unknown {
  const doc = parseDocument(text, { merge: true, logLevel: 'silent' })
  const problem = doc.errors[0] ?? doc.warnings[0]
  if (problem != null) throw problem
  return doc.toJS({ maxAliasCount: 100 })
}

function convert (s: Setting, raw: string, from: string): unknown {
  switch (s.type) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${s.path} (from ${from})`, `expected an integer, got ${JSON.stringify(raw)}`)
      return Number(raw.trim())
    }
    case 'bool': {
      const v = raw.trim().toLowerCase()
      if (['1', 'true', 'yes', 'on'].includes(v)) return true
      if (['0', 'false', 'no', 'off'].includes(v)) return false
      throw new ConfigError(`${s.path} (from ${from})`, `expected true or false, got ${JSON.stringify(raw)}`)
    }
    case 'list': return raw.split(',').map((x) => x.trim()).filter((x) => x !== '')
    default: return raw
  }
}

function describe (field: string, from: Source): string {
  const s = SETTINGS.find((x) => x.path === field)
  if (from === 'env') return s?.env ?? 'environment'
  if (from === 'flag') return s?.flag ?? 'flag'
  return 'config file'
}

function setPath (target: Layer, path: string, value: unknown): void {
  const parts = path.split('.')
  let cur = target
  for (const p of parts.slice(0, -1)) {
    if (cur[p] == null || typeof cur[p] !== 'object') cur[p] = {}
    cur = cur[p] as Layer
  }
  cur[parts[parts.length - 1]!] = value
}

function getPath (source: unknown, path: string): unknown {
  let cur = source
  for (const p of path.split('.')) {
    if (cur == null || typeof cur !== 'object') return undefined
    cur = (cur as Layer)[p]
  }
  return cur
}

function isPlainObject (v: unknown): v is Layer {
  return v != null && typeof v === 'object' && !Array.isArray(v)
}

function deepMerge (a: Layer, b: Layer): Layer {
  const out: Layer = { ...a }
  for (const [k, v] of Object.entries(b)) out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Layer, v) : v
  return out
}

function recordOrigins (layer: Layer, source: Source, origin: Map<string, Source>, prefix = ''): void {
  for (const [k, v] of Object.entries(layer)) {
    const path = prefix + k
    origin.set(path, source)
    if (isPlainObject(v) && path !== 'options') recordOrigins(v, source, origin, `${path}.`)
  }
}
