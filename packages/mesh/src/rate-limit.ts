// Per-sender rate limits: a token bucket per key (20 messages a second, bursts of 100). Pure: the
// clock is passed in. Full buckets are forgotten, so idle senders cost nothing.

export interface RateLimit {
  /** Tokens added per second. */
  readonly perSecond: number;
  /** Bucket size: how many may go at once after a quiet spell. */
  readonly burst: number;
}

export const MESSAGE_RATE_LIMIT: RateLimit = { perSecond: 20, burst: 100 };

export type Taken = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(readonly limit: RateLimit = MESSAGE_RATE_LIMIT) {}

  #level(key: string, now: number): Bucket {
    const bucket = this.#buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    const elapsed = Math.max(0, now - bucket.at) / 1000;
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + elapsed * this.limit.perSecond);
    bucket.at = now;
    return bucket;
  }

  /** Takes one token for `key`, or says how long until one is there. */
  take(key: string, now: number): Taken {
    const bucket = this.#level(key, now);
    if (bucket.tokens < 1) {
      this.#buckets.set(key, bucket);
      return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / this.limit.perSecond) * 1000) };
    }
    bucket.tokens -= 1;
    this.#buckets.set(key, bucket);
    return { ok: true };
  }

  /** Forgets buckets that have filled up again (they behave exactly like absent ones). */
  prune(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.limit.perSecond >= this.limit.burst) {
        this.#buckets.delete(key);
      }
    }
  }

  get size(): number {
    return this.#buckets.size;
  }
}
