/*
 * The streaming reader of getProgramAccounts answers: the same accounts as JSON.parse of the whole
 * answer, whatever the chunk boundaries, for answers small (parsed whole) and large (scanned).
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { RpcAnswerError, WHOLE_PARSE_BYTES, readAccountData } from '../../../src/daemon/rpc-accounts.js'

const account = (i: number): { pubkey: string, account: { data: [string, string], executable: boolean, lamports: number, owner: string, rentEpoch: number, space: number } } => ({
  pubkey: `Acc${i}`,
  account: { data: [Buffer.alloc(32, i % 251).toString('base64'), 'base64'], executable: false, lamports: 1_000_000 + i, owner: 'Prog1111111111111111111111111111111111111111', rentEpoch: 18446744073709552000, space: 72 }
})
const answer = (n: number): string => JSON.stringify({ jsonrpc: '2.0', result: Array.from({ length: n }, (_, i) => account(i)), id: 1 })
const expected = (n: number): string[] => Array.from({ length: n }, (_, i) => Buffer.alloc(32, i % 251).toString('base64'))

async function * pieces (text: string, sizes: number[]): AsyncGenerator<string> {
  let at = 0
  for (let k = 0; at < text.length; k++) {
    const size = sizes[k % sizes.length]!
    yield text.slice(at, at + size)
    at += size
  }
}
async function read (text: string, sizes: number[]): Promise<string[]> {
  const out: string[] = []
  await readAccountData(pieces(text, sizes), (b) => { out.push(b) })
  return out
}

describe('getProgramAccounts answer reader', () => {
  const large = answer(12_000) // over WHOLE_PARSE_BYTES: scanned
  it('a large answer is scanned, and yields every account whatever the chunk boundaries', async () => {
    expect(large.length).toBeGreaterThan(WHOLE_PARSE_BYTES)
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 6 }), async (sizes) => {
      expect(await read(large, sizes)).toEqual(expected(12_000))
    }), { numRuns: 15 })
    expect(await read(large, [1, 7, 64, 3])).toEqual(expected(12_000)) // fields cut at every offset, many times
  })

  it('a small answer is parsed whole, as is one with JSON escapes', async () => {
    expect(await read(answer(40), [100])).toEqual(expected(40))
    const escaped = large.replaceAll('/', '\\/') // JSON's optional escape of '/'
    expect(await read(escaped, [65_536])).toEqual(expected(12_000))
    expect(await read(answer(40).replaceAll('/', '\\/'), [65_536])).toEqual(expected(40))
  })

  it('error answers and answers without a result list are errors, large or small', async () => {
    const err = JSON.stringify({ jsonrpc: '2.0', error: { code: -32010, message: 'excluded from account secondary indexes' }, id: 1 })
    await expect(read(err, [10])).rejects.toThrow(/-32010/)
    await expect(read('not json', [3])).rejects.toBeInstanceOf(RpcAnswerError)
    await expect(read(JSON.stringify({ jsonrpc: '2.0', result: { value: 1 }, id: 1 }), [5])).rejects.toThrow(/no result list/)
    const bigError = JSON.stringify({ jsonrpc: '2.0', error: { code: 1, message: 'x'.repeat(WHOLE_PARSE_BYTES) }, id: 1 })
    await expect(read(bigError, [65_536])).rejects.toThrow(/no result list/)
    // entries without base64 data are skipped, the rest kept
    const mixed = JSON.stringify({ jsonrpc: '2.0', result: [account(1), { pubkey: 'x', account: { data: ['abc', 'base58'] } }, null, account(2)], id: 1 })
    expect(await read(mixed, [7])).toEqual([expected(3)[1], expected(3)[2]])
  })
})
