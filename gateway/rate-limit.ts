// Per-device publish rate limit: a token bucket per device, bounded in number of buckets.
export interface RateLimit {
  perSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class PublishRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly limit: RateLimit;
  private readonly maxBuckets: number;

  constructor(limit: RateLimit, maxBuckets = 100_000) {
    this.limit = limit;
    this.maxBuckets = maxBuckets;
  }

  /**
   * Takes one token for the device; false when it has none left (a flood). Time is monotonic
   * (performance.now): a wall clock jumping back must not starve every device of tokens.
   */
  take(device: string, now = performance.now()): boolean {
    let b = this.buckets.get(device);
    if (!b) {
      if (this.buckets.size >= this.maxBuckets) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.limit.burst, at: now };
      this.buckets.set(device, b);
    }
    b.tokens = Math.min(this.limit.burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.limit.perSecond);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
