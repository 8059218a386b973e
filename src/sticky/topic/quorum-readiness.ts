/*
 * Sticky readiness: enough connected peers serve the replica protocol (seen in identify) that a
 * commit can reach `writeQuorum` distinct nodes, this one included. Recomputed whenever the set of
 * connected peers changes; 'ready' / 'not-ready' fire on transitions. The daemon's /readyz can wait
 * for it, so a rolling restart moves on only once a restarted node takes part in quorums again.
 */
import { EventEmitter } from 'node:events'
import { AbortedError } from '../../errors.js'
import type { Logger } from '../../logger.js'

export class QuorumReadiness extends EventEmitter<{ ready: [], 'not-ready': [] }> {
  private ready = false

  constructor (private readonly deps: { replicaPeers: () => number, writeQuorum: number, logger: Logger }) { super() }

  get isReady (): boolean { return this.ready }

  /** Recomputes readiness from the connected replica-capable peers. */
  update (): void {
    const peers = this.deps.replicaPeers()
    const ready = peers + 1 >= this.deps.writeQuorum
    if (ready === this.ready) return
    this.ready = ready
    this.deps.logger.info(ready ? 'sticky ready' : 'sticky not ready', 'replicaPeers', peers, 'writeQuorum', this.deps.writeQuorum)
    this.emit(ready ? 'ready' : 'not-ready')
  }

  /** Resolves once ready; rejects with AbortedError when `signal` aborts. */
  async waitUntilReady (signal?: AbortSignal): Promise<void> {
    if (this.ready) return
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { this.off('ready', onReady); reject(new AbortedError('stopped waiting for sticky readiness')) }
      const onReady = (): void => { signal?.removeEventListener('abort', onAbort); resolve() }
      if (signal?.aborted === true) { onAbort(); return }
      this.once('ready', onReady)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
