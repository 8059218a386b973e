/*
 * Per-key token buckets (pure; the clock is injected). A key may do `burst` operations at once and
 * then `ratePerSecond` on average. Used for the per-publisher publish rate and per-client renewal
 * requests on the serving node. Memory is bounded: past `maxKeys` keys, buckets that have refilled
 * are forgotten first (forgetting them changes nothing), then the fullest ones, so a key being
 * limited right now is the last to be forgotten.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (private readonly ratePerSecond: number, private readonly burst: number, private readonly now: () => number = Date.now, private readonly maxKeys = 10_000) {}

  get size (): number { return this.buckets.size }

  /** Takes one token for `key`: 0 when allowed, else the milliseconds until a token is available. */
  take (key: string): number {
    const t = this.now()
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond)
    b.at = t
    this.buckets.set(key, b)
    if (this.buckets.size > this.maxKeys) this.prune(t)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return Math.ceil(((1 - b.tokens) / this.ratePerSecond) * 1000)
  }

  /** Drops refilled buckets, then the fullest, down to 90 % of maxKeys (amortized: runs rarely). */
  private prune (t: number): void {
    const level = (b: { tokens: number, at: number }): number => Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond)
    for (const [k, b] of this.buckets) if (level(b) >= this.burst) this.buckets.delete(k)
    const target = Math.floor(this.maxKeys * 0.9)
    if (this.buckets.size <= target) return
    const byLevel = [...this.buckets].sort(([, x], [, y]) => level(y) - level(x))
    for (const [k] of byLevel.slice(0, this.buckets.size - target)) this.buckets.delete(k)
  }
}
