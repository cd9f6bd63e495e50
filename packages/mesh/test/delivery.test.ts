import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canAdvance, DELIVERY_STATES, type DeliveryState, hasReached, isFinal } from "../src/delivery.js";

const MAIN: DeliveryState[] = ["accepted", "delivered", "surfaced", "acked"];

describe("delivery states", () => {
  it("move forward along accepted → delivered → surfaced → acked, skipping ahead but never back", () => {
    for (const [i, from] of MAIN.entries()) {
      for (const [j, to] of MAIN.entries())
        expect(canAdvance(from, to), `${from} → ${to}`).toBe(j > i && from !== "acked");
    }
  });

  it("refuse only from accepted, expire only before surfacing, and hold final states", () => {
    expect(DELIVERY_STATES.filter((s) => canAdvance(s, "refused"))).toEqual(["accepted"]);
    expect(DELIVERY_STATES.filter((s) => canAdvance(s, "expired"))).toEqual(["accepted", "delivered"]);
    for (const final of DELIVERY_STATES.filter(isFinal)) {
      for (const to of DELIVERY_STATES) expect(canAdvance(final, to)).toBe(false);
    }
    expect(DELIVERY_STATES.filter(isFinal)).toEqual(["acked", "refused", "expired"]);
  });

  it("--wait counts a state as reached at or past it, never for refused or expired", () => {
    expect(hasReached("acked", "surfaced")).toBe(true);
    expect(hasReached("delivered", "surfaced")).toBe(false);
    expect(hasReached("refused", "delivered")).toBe(false);
    expect(hasReached("expired", "delivered")).toBe(false);
  });

  it("any sequence of attempted moves, applied where allowed, never goes back", () => {
    const rank = (s: DeliveryState) => (isFinal(s) && s !== "acked" ? 4 : MAIN.indexOf(s));
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...DELIVERY_STATES), { maxLength: 30 }), (attempts) => {
        let state: DeliveryState = "accepted";
        for (const to of attempts) {
          if (!canAdvance(state, to)) continue;
          expect(rank(to)).toBeGreaterThan(rank(state));
          state = to;
        }
      }),
    );
  });
});
