/*
 * Per-key token buckets (pure; the clock is injected). A key may do `burst` operations at once and
 * then `ratePerSecond` on average. Used for the per-publisher publish rate and per-client renewal
 * requests on the serving node.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (private readonly ratePerSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {}

  /** Takes one token for `key`: 0 when allowed, else the milliseconds until a token is available. */
  take (key: string): number {
    const t = this.now()
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond)
    b.at = t
    this.buckets.set(key, b)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    if (this.buckets.size > 10_000) this.prune(t)
    return Math.ceil(((1 - b.tokens) / this.ratePerSecond) * 1000)
  }

  /** drops full buckets (keys idle long enough to have refilled) */
  private prune (t: number): void {
    for (const [k, b] of this.buckets) if (b.tokens + ((t - b.at) / 1000) * this.ratePerSecond >= this.burst) this.buckets.delete(k)
  }
}
