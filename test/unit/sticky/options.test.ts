/*
 * Sticky options (src/sticky/options.ts): connect() fills every sticky default, names the field of
 * a bad value as `sticky.<field>`, and refuses a writeQuorum no replica set can reach.
 */
import { describe, expect, it } from 'vitest'
import { resolveOptions } from '../../../src/config.js'
import { BASE_OPTIONS, configErrorOf } from '../../fixtures/connect-options.js'
import { checkTtlMs, STICKY_DEFAULTS } from '../../../src/sticky/options.js'

const base = BASE_OPTIONS
const errorOf = configErrorOf

describe('sticky options', () => {
  it('fills every default, with or without a sticky part', () => {
    expect(resolveOptions(base).sticky).toEqual(STICKY_DEFAULTS)
    expect(resolveOptions({ ...base, sticky: { pollIntervalMs: 50 } }).sticky).toEqual({ ...STICKY_DEFAULTS, pollIntervalMs: 50 })
    // an explicit undefined is the default, not a hole
    expect(resolveOptions({ ...base, sticky: { writeQuorum: undefined } }).sticky.writeQuorum).toBe(STICKY_DEFAULTS.writeQuorum)
  })

  it.each([
    [{ pollIntervalMs: 1 }, 'sticky.pollIntervalMs'],
    [{ defaultMessageTtlMs: 31 * 86_400_000 }, 'sticky.defaultMessageTtlMs'],
    [{ maxSubscribersPerTopic: 1001 }, 'sticky.maxSubscribersPerTopic'],
    [{ renewAtFraction: 1 }, 'sticky.renewAtFraction'],
    [{ storageQuotaBytes: 1024 }, 'sticky.storageQuotaBytes'],
    [{ bogus: 1 }, 'sticky']
  ])('refuses %j naming %s', (sticky, field) => {
    expect(errorOf(() => resolveOptions({ ...base, sticky }))?.field).toBe(field)
  })

  it('refuses a writeQuorum above replicationFactor + 1, also against the default replicationFactor', () => {
    const err = errorOf(() => resolveOptions({ ...base, sticky: { writeQuorum: 7 } }))
    expect(err?.field).toBe('sticky.writeQuorum')
    expect(err?.message).toMatch(/replicationFactor \+ 1 \(6\)/)
    expect(errorOf(() => resolveOptions({ ...base, sticky: { writeQuorum: 3, replicationFactor: 1 } }))?.field).toBe('sticky.writeQuorum')
    expect(resolveOptions({ ...base, sticky: { writeQuorum: 2, replicationFactor: 1 } }).sticky.writeQuorum).toBe(2)
  })

  it('checkTtlMs takes an integer 1-max and names ttlMs otherwise', () => {
    expect(checkTtlMs(1, 10)).toBe(1)
    expect(checkTtlMs(10, 10)).toBe(10)
    for (const bad of [0, 11, 2.5, '5', null, Number.POSITIVE_INFINITY]) {
      expect(errorOf(() => checkTtlMs(bad, 10))).toMatchObject({ code: 'ERR_INVALID_CONFIG', field: 'ttlMs' })
    }
  })
})
