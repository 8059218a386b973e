/*
 * Verified immutable records kept in memory by content id, so a history load or a commit does not
 * fetch and validate a page twice. Bounded by encoded bytes (BLOB_CACHE_BYTES): the least recently
 * used go first. Only records that passed validation are put here (see StickyStore).
 */
import type { BlobRecord } from '../core/records.js'

/** encoded bytes of verified records kept in memory */
export const BLOB_CACHE_BYTES = 64 * 1024 * 1024

export class BlobCache {
  private readonly records = new Map<string, BlobRecord>()
  private readonly sizes = new Map<string, number>()
  private totalBytes = 0

  constructor (private readonly maxBytes = BLOB_CACHE_BYTES) {}

  /** The record, or undefined (a read does not move it; storing it again does). */
  get (id: string): BlobRecord | undefined { return this.records.get(id) }

  /** Keeps a verified record of `bytes` encoded bytes, evicting the least recently used above the bound. */
  set (id: string, record: BlobRecord, bytes: number): void {
    this.delete(id)
    this.records.set(id, record)
    this.sizes.set(id, bytes)
    this.totalBytes += bytes
    for (const [old] of this.records) {
      if (this.totalBytes <= this.maxBytes) break
      this.delete(old)
    }
  }

  delete (id: string): void {
    if (!this.records.delete(id)) return
    this.totalBytes -= this.sizes.get(id) ?? 0
    this.sizes.delete(id)
  }

  clear (): void {
    this.records.clear()
    this.sizes.clear()
    this.totalBytes = 0
  }

  get bytes (): number { return this.totalBytes }
  get size (): number { return this.records.size }
}
