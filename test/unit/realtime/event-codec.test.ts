import { describe, expect, it } from 'vitest'
import { decodeEvent, encodeEvent } from '../../../src/realtime/event-codec.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const event = { id: '2b1e6f0e-4a43-4bb5-9f0e-1c0f7c9b6a11', fromPeerId: '12D3KooWJ1TsijH7H5F74hfAD5XishQz3sxrmAtVY37GtNd9CqYf', message: { a: [1, 'x', null, true] }, timestamp: 1700000000 }

describe('event codec', () => {
  it('writes exactly the Go library keys in its order', () => {
    const text = new TextDecoder().decode(encodeEvent(event, 1 << 20))
    expect(text).toBe(`{"id":"${event.id}","from_peer":"${event.fromPeerId}","message":{"a":[1,"x",null,true]},"timestamp":1700000000}`)
  })

  it('round-trips any JSON value', () => {
    for (const message of [null, 0, 'text', [1, 2], { deep: { er: [{}] } }, true]) {
      const out = decodeEvent(encodeEvent({ ...event, message }, 1 << 20), 1 << 20)
      expect(out).toEqual({ ok: true, event: { ...event, message } })
    }
  })

  it('reads an event published by a Go node (from_peer filled from the signed author when empty)', () => {
    const go = enc('{"id":"abc","from_peer":"","message":"hi","timestamp":1700000001}')
    expect(decodeEvent(go, 1000, 'SRC')).toEqual({ ok: true, event: { id: 'abc', fromPeerId: 'SRC', message: 'hi', timestamp: 1700000001 } })
  })

  it('takes fromPeerId from the signed author; a from_peer naming anyone else is dropped as spoofed', () => {
    const ev = (from: string): Uint8Array => enc(JSON.stringify({ id: 'x', from_peer: from, message: 1, timestamp: 1 }))
    expect(decodeEvent(ev('AUTHOR'), 1000, 'AUTHOR')).toMatchObject({ ok: true, event: { fromPeerId: 'AUTHOR' } })
    expect(decodeEvent(ev('SOMEONE-ELSE'), 1000, 'AUTHOR')).toMatchObject({ ok: false, reason: 'spoofed-from-peer' })
    expect(decodeEvent(enc('{"id":"x","message":1,"timestamp":1}'), 1000, 'AUTHOR')).toMatchObject({ ok: true, event: { fromPeerId: 'AUTHOR' } })
  })

  it.each([
    [undefined, /undefined/], [() => 1, /function/], [Symbol('s'), /symbol/], [10n, /BigInt/], [NaN, /non-finite/], [{ x: Infinity }, /non-finite/]
  ])('refuses a non-JSON message %#', (message, re) => {
    expect(() => encodeEvent({ ...event, message }, 1 << 20)).toThrow(re)
  })

  it('refuses cyclic messages with a typed error', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(() => encodeEvent({ ...event, message: cyclic }, 1 << 20)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_MESSAGE' }))
  })

  it('refuses an oversize event before it is sent', () => {
    expect(() => encodeEvent({ ...event, message: 'x'.repeat(2000) }, 1000)).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LARGE', limit: 1000 }))
  })

  it.each([
    ['not json', 'not-json'],
    ['[1,2]', 'not-object'],
    ['"str"', 'not-object'],
    ['null', 'not-object'],
    ['{"from_peer":"p","message":1,"timestamp":1}', 'missing-id'],
    ['{"id":"","message":1,"timestamp":1}', 'missing-id'],
    ['{"id":5,"message":1,"timestamp":1}', 'bad-field-type'],
    ['{"id":"a","from_peer":7,"message":1,"timestamp":1}', 'bad-field-type'],
    ['{"id":"a","message":1,"timestamp":"yesterday"}', 'bad-field-type'],
    ['{"id":"a","timestamp":1}', 'bad-field-type']
  ])('drops %s as %s', (text, reason) => {
    const out = decodeEvent(enc(text), 1000)
    expect(out.ok).toBe(false)
    expect(out.ok === false && out.reason).toBe(reason)
  })

  it('drops oversize and invalid UTF-8 input', () => {
    expect(decodeEvent(new Uint8Array(2000), 1000)).toMatchObject({ ok: false, reason: 'oversize' })
    expect(decodeEvent(new Uint8Array([0xff, 0xfe, 0x7b]), 1000)).toMatchObject({ ok: false, reason: 'not-json' })
  })
})
