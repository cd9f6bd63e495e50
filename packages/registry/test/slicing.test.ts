import { describe, expect, it } from "vitest";
import { forAwaitSliced, forEachSliced, yieldToEventLoop } from "../src/slicing.js";

describe("forEachSliced", () => {
  it("visits every item in order", async () => {
    const seen: number[] = [];
    await forEachSliced([1, 2, 3], (n) => seen.push(n));
    expect(seen).toEqual([1, 2, 3]);
  });

  it("lets timers and I/O run between slices of a long loop", async () => {
    let timerRan = false;
    setImmediate(() => {
      timerRan = true;
    });
    let sawTimerDuringLoop = false;
    const items = Array.from({ length: 2_000 }, (_, i) => i);
    await forEachSliced(
      items,
      () => {
        const end = performance.now() + 0.01; // ~20 ms of work in all
        while (performance.now() < end);
        if (timerRan) sawTimerDuringLoop = true;
      },
      { budgetMs: 1 },
    );
    expect(sawTimerDuringLoop).toBe(true);
  });

  it("yields only when the budget is spent", async () => {
    let yields = 0;
    await forEachSliced(
      Array.from({ length: 160 }, () => 0),
      () => {},
      { budgetMs: 1_000, now: () => 0, yieldToLoop: async () => void yields++ },
    );
    expect(yields).toBe(0);
  });

  it("yieldToEventLoop resolves", async () => {
    await expect(yieldToEventLoop()).resolves.toBeUndefined();
  });
});

describe("forAwaitSliced", () => {
  async function* burst(n: number): AsyncIterable<number> {
    for (let i = 0; i < n; i++) yield i;
  }

  it("visits every item in order, yielding each time the budget is spent", async () => {
    const seen: number[] = [];
    let clock = 0;
    let yields = 0;
    await forAwaitSliced(
      burst(6),
      (n) => {
        seen.push(n);
        clock += 2;
      },
      { budgetMs: 4, now: () => clock, yieldToLoop: async () => void yields++ },
    );
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect(yields).toBe(3);
  });
});
