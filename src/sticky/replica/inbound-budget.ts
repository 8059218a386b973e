/*
 * The bytes other peers can make this process hold in replica-protocol frames, all together and per
 * peer. A replica request is read one length-prefixed frame at a time; before a frame's body is
 * read its declared length is reserved here, and a frame that does not fit is refused (its stream is
 * reset) instead of buffered. A get answer's loaded values are reserved the same way until written.
 * Without this an authorized but hostile peer could open every stream a connection allows, start a
 * frame of the largest size on each and stall: the process held all of them until their deadlines.
 * One budget per process (every host in it shares it): memory is a process resource.
 */
import type { LengthPrefixedStreamOpts } from 'it-length-prefixed-stream'

export interface InboundBudgetLimits {
  /** bytes all peers together may make this process hold in replica frames */
  totalBytes: number
  /** bytes one peer may make this process hold in replica frames */
  perPeerBytes: number
}

/**
 * Honest use holds at most one value frame (about 528 KB) and one answer slice (256 KB) per stream,
 * and a client keeps at most MAX_REQUESTS_PER_PEER (16) requests open to one peer: about 12.5 MB.
 */
export const INBOUND_BUDGET_DEFAULTS: InboundBudgetLimits = { totalBytes: 64 * 1024 * 1024, perPeerBytes: 16 * 1024 * 1024 }

export class InboundBudget {
  /** bytes reserved now */
  held = 0
  /** most bytes ever reserved at once */
  peak = 0
  private readonly byPeer = new Map<string, number>()

  constructor (public limits: InboundBudgetLimits = { ...INBOUND_BUDGET_DEFAULTS }) {}

  /** Reserves `bytes` for `peer`; false (nothing reserved) when the total or the peer's share would pass its limit. */
  reserve (peer: string, bytes: number): boolean {
    const mine = this.byPeer.get(peer) ?? 0
    if (this.held + bytes > this.limits.totalBytes || mine + bytes > this.limits.perPeerBytes) return false
    this.byPeer.set(peer, mine + bytes)
    this.held += bytes
    if (this.held > this.peak) this.peak = this.held
    return true
  }

  release (peer: string, bytes: number): void {
    const left = (this.byPeer.get(peer) ?? 0) - bytes
    if (left > 0) this.byPeer.set(peer, left)
    else this.byPeer.delete(peer)
    this.held -= bytes
  }

  /** bytes `peer` holds now */
  heldBy (peer: string): number { return this.byPeer.get(peer) ?? 0 }
}

/** The process's budget. */
export const inboundBudget = new InboundBudget()

/** A frame or answer refused because it would pass the budget. */
export class OverBudgetError extends Error {
  readonly code = 'ERR_REPLICA_OVER_BUDGET'
}

/** What one stream reserved, released together when the stream ends. */
export class StreamHold {
  private bytes = 0
  constructor (private readonly budget: InboundBudget, private readonly peer: string) {}

  take (bytes: number): void {
    if (!this.budget.reserve(this.peer, bytes)) {
      throw new OverBudgetError(`replica frame of ${bytes} bytes refused: over the inbound budget (peer holds ${this.budget.heldBy(this.peer)}, all peers ${this.budget.held})`)
    }
    this.bytes += bytes
  }

  give (bytes: number): void {
    const n = Math.min(bytes, this.bytes)
    this.bytes -= n
    this.budget.release(this.peer, n)
  }

  releaseAll (): void { this.give(this.bytes) }

  /**
   * A length decoder for it-length-prefixed-stream that reserves each frame's declared length
   * before its body is read (frames longer than `maxBytes` are left to the stream's own check).
   * Throws RangeError while the varint is incomplete, as the stream expects.
   */
  lengthDecoder (maxBytes: number): LengthPrefixedStreamOpts['lengthDecoder'] {
    return (data) => {
      let value = 0
      let scale = 1
      for (let i = 0; i < data.byteLength; i++) {
        const b = data.get(i)
        value += (b & 0x7f) * scale
        if ((b & 0x80) === 0) {
          if (value <= maxBytes) this.take(value)
          return value
        }
        scale *= 128
        if (i >= 7) throw new Error('frame length prefix too long')
      }
      throw new RangeError('incomplete length prefix')
    }
  }
}
