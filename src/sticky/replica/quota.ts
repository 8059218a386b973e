/*
 * Storage quota of sticky records on this node: bytes stored per peer (the peer whose put stored
 * or last grew a record) and in total. Authorized is not trusted: any peer of the database can put
 * records here, so what one peer can make this node hold is bounded (`storageQuotaPerPeerBytes`),
 * and so is everything together (`storageQuotaBytes`). This node's own writes are counted but never
 * refused. Bytes are released when a record is deleted (the sweep deletes expired records). With a
 * data dir the counts are rebuilt from the records on disk when the host opens (merging-datastore.ts
 * restoreQuota). Pure.
 */

/** A put that would take a peer (or the node) over its storage quota. */
export class QuotaExceededError extends Error {
  readonly code = 'ERR_QUOTA_EXCEEDED'
}

export interface QuotaLimits { totalBytes: number, perPeerBytes: number }

const SELF = ''

export class StorageQuota {
  private readonly records = new Map<string, { owner: string, bytes: number }>()
  private readonly usage = new Map<string, number>()
  totalBytes = 0
  /** puts refused for the quota */
  refused = 0

  constructor (public limits: QuotaLimits = { totalBytes: Infinity, perPeerBytes: Infinity }) {}

  /** Throws QuotaExceededError when storing `bytes` under `key` for `owner` (undefined: this node) would exceed a limit. */
  check (key: string, bytes: number, owner?: string): void {
    if (owner == null) return
    const delta = bytes - (this.records.get(key)?.bytes ?? 0)
    if (delta <= 0) return
    if (this.totalBytes + delta > this.limits.totalBytes) { this.refused++; throw new QuotaExceededError(`storage quota exceeded: this node holds ${this.totalBytes} of ${this.limits.totalBytes} bytes`) }
    if ((this.usage.get(owner) ?? 0) + delta > this.limits.perPeerBytes) { this.refused++; throw new QuotaExceededError(`storage quota exceeded: this peer's records take ${this.usage.get(owner) ?? 0} of ${this.limits.perPeerBytes} bytes`) }
  }

  /** Records that `key` now holds `bytes`, charged to `owner`. */
  stored (key: string, bytes: number, owner?: string): void {
    this.release(key)
    const who = owner ?? SELF
    this.records.set(key, { owner: who, bytes })
    this.usage.set(who, (this.usage.get(who) ?? 0) + bytes)
    this.totalBytes += bytes
  }

  release (key: string): void {
    const prev = this.records.get(key)
    if (prev == null) return
    this.records.delete(key)
    this.totalBytes -= prev.bytes
    const left = (this.usage.get(prev.owner) ?? 0) - prev.bytes
    if (left <= 0) this.usage.delete(prev.owner)
    else this.usage.set(prev.owner, left)
  }

  /** bytes charged to a peer */
  bytesOf (owner: string): number { return this.usage.get(owner) ?? 0 }

  /** whom the record under `key` is charged to ('' for this node), if it is counted */
  ownerOf (key: string): string | undefined { return this.records.get(key)?.owner }
}
