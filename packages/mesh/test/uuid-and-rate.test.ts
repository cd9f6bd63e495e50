import { describe, expect, it } from "vitest";
import { RateLimiter } from "../src/rate-limit.js";
import { isUuid, uuidV7Generator, uuidV7Time } from "../src/uuid.js";

describe("UUIDv7 ids", () => {
  it("carry their millisecond, version 7 and the RFC variant", () => {
    const id = uuidV7Generator({ now: () => 1_800_000_000_123 })();
    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe("7");
    expect("89ab").toContain(id[19]);
    expect(uuidV7Time(id)).toBe(1_800_000_000_123);
  });

  it("strictly increase within a millisecond, past the counter, and when the clock steps back", () => {
    let t = 1_000;
    const next = uuidV7Generator({ now: () => t });
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(next());
    t = 500; // the clock stepped back
    for (let i = 0; i < 10; i++) ids.push(next());
    const sorted = [...ids].sort();
    expect(sorted).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("refuses what is not a lowercase UUID", () => {
    expect(isUuid("0190D3A2-7B1C-7000-8000-000000000001")).toBe(false);
    expect(isUuid("not-a-uuid")).toBe(false);
    expect(isUuid(7)).toBe(false);
  });
});

describe("RateLimiter", () => {
  it("lets a burst through, then refills at its rate, per key", () => {
    const limiter = new RateLimiter({ perSecond: 10, burst: 3 });
    expect([0, 0, 0, 0].map(() => limiter.take("a", 0).ok)).toEqual([true, true, true, false]);
    expect(limiter.take("a", 0)).toEqual({ ok: false, retryAfterMs: 100 });
    expect(limiter.take("b", 0).ok).toBe(true);
    expect(limiter.take("a", 99).ok).toBe(false);
    expect(limiter.take("a", 200).ok).toBe(true);
  });

  it("forgets buckets that have filled up again", () => {
    const limiter = new RateLimiter({ perSecond: 10, burst: 3 });
    limiter.take("a", 0);
    limiter.take("b", 0);
    limiter.prune(50);
    expect(limiter.size).toBe(2);
    limiter.prune(100);
    expect(limiter.size).toBe(0);
  });
});
