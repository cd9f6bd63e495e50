import { describe, expect, it } from "vitest";
import { KeyCache } from "../src/key-cache.js";

describe("KeyCache", () => {
  it("keeps at most its capacity, dropping the least recently used", () => {
    const cache = new KeyCache<number>(2);
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1); // a is now the most recent
    cache.set("c", 3);
    expect(cache.get("b")).toBeUndefined();
    expect([cache.get("a"), cache.get("c")]).toEqual([1, 3]);
    cache.set("a", 10); // a replacement, not a second entry
    cache.set("d", 4);
    expect([cache.get("a"), cache.get("c"), cache.get("d")]).toEqual([10, undefined, 4]);
  });
});
