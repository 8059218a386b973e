/*
 * Reads the account data of a Solana `getProgramAccounts` answer (base64 encoding) as it streams in.
 * A 100,000-account answer is about 22 MB of JSON, and `JSON.parse` of it is one event-loop turn of
 * 0.3-0.7 s: every timer, keep-alive and gossip heartbeat of the node waits meanwhile. Answers up to
 * WHOLE_PARSE_BYTES are parsed whole (errors and small registries, exact JSON semantics); a larger one
 * is scanned chunk by chunk for its `"data":["<base64>","base64"]` fields, the only part of an account
 * the registry needs, so each turn handles one network chunk. The RPC node is the registry's source
 * of truth either way: what it lists is what the registry holds (each wallet is still checked by the
 * registry cache), and a malformed answer can only yield fewer accounts.
 */

/** Answers up to this size are parsed with JSON.parse in one turn (a few ms at most). */
export const WHOLE_PARSE_BYTES = 1 << 20

/** A data field as the RPC node writes it; `\/` is JSON's optional escape of `/`. */
const DATA_FIELD = /"data"\s*:\s*\[\s*"((?:[A-Za-z0-9+=]|\\?\/){0,200})"\s*,\s*"base64"\s*\]/g
/** No data field is longer than this: a scan keeps only this much unmatched text between chunks. */
const MAX_FIELD_CHARS = 320

/** Where the answer's own shape is wrong (no result list, or an RPC error). */
export class RpcAnswerError extends Error {}

/**
 * Calls `onData` with each account's base64 data string, in answer order. `chunks` is the answer's
 * text in arbitrary pieces (a field may be split across two). Throws RpcAnswerError for an RPC error
 * answer or one without a result list.
 */
export async function readAccountData (chunks: AsyncIterable<string>, onData: (base64: string) => void): Promise<void> {
  let head = ''
  let scanning = false
  let pending = ''
  for await (const chunk of chunks) {
    if (!scanning) {
      head += chunk
      if (head.length <= WHOLE_PARSE_BYTES) continue
      checkHead(head)
      scanning = true
      pending = head
      head = ''
    } else {
      pending += chunk
    }
    pending = scan(pending, onData)
  }
  if (!scanning) {
    wholeAnswer(head, onData)
  } else {
    scan(pending, onData)
  }
}

/** Calls onData for every complete field in `text`; returns the text a later chunk may complete. */
function scan (text: string, onData: (base64: string) => void): string {
  DATA_FIELD.lastIndex = 0
  let end = 0
  for (let m = DATA_FIELD.exec(text); m != null; m = DATA_FIELD.exec(text)) {
    onData(m[1]!.replaceAll('\\/', '/'))
    end = DATA_FIELD.lastIndex
  }
  return text.slice(Math.max(end, text.length - MAX_FIELD_CHARS))
}

/** A large answer must open as a JSON-RPC result list, not an error. */
function checkHead (head: string): void {
  const result = /^\s*\{[^[]*?"result"\s*:\s*\[/.exec(head)
  if (result == null || head.slice(0, result.index + result[0].length).includes('"error"')) {
    throw new RpcAnswerError('Solana RPC answer to getProgramAccounts has no result list')
  }
}

function wholeAnswer (text: string, onData: (base64: string) => void): void {
  let body: { result?: unknown, error?: { code?: unknown, message?: unknown } } | null
  try { body = JSON.parse(text) } catch { throw new RpcAnswerError('Solana RPC answer to getProgramAccounts is not JSON') }
  if (body?.error != null) throw new RpcAnswerError(`Solana RPC error ${String(body.error.code)}: ${String(body.error.message)}`)
  if (!Array.isArray(body?.result)) throw new RpcAnswerError('Solana RPC answer to getProgramAccounts has no result list')
  for (const entry of body.result as unknown[]) {
    const data = (entry as { account?: { data?: unknown } } | null)?.account?.data
    if (Array.isArray(data) && typeof data[0] === 'string' && data[1] === 'base64') onData(data[0])
  }
}
