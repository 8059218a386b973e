/*
 * What `db.sticky` and its parts share: the sticky events (the facade's on/once/off) and whether
 * the layer is closing or closed. The factory (create-sticky.ts) builds it first, so every part
 * can be handed it before the facade exists; no part ever sees the facade itself.
 */
import { EventEmitter } from 'node:events'
import type { ChannelState } from '../core/records.js'
import { DisconnectedError } from '../../errors.js'

export interface StickyEvents {
  /** a topic's channel state as this node sees it changed (RECOVERING while recovery runs, FAILED if it found nothing) */
  'channel-state': [{ topic: string, state: ChannelState }]
  /** a batch was committed: how long it took from the first attempt to the acknowledgement */
  commit: [{ topic: string, version: number, items: number, durationMs: number }]
  /** enough replica-capable peers are connected to reach the write quorum (see isReady) */
  ready: []
  /** no longer enough replica-capable peers for the write quorum */
  'not-ready': []
}

export class StickyState extends EventEmitter<StickyEvents> {
  /** set when close() starts: no new publishes or renewals while the queued ones are flushed */
  closing = false
  /** set once close() flushed: the layer is stopped */
  closed = false

  /** Throws DisconnectedError once the sticky layer is closed. */
  assertOpen (): void { if (this.closed) throw new DisconnectedError() }
}
