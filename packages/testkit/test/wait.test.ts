import { describe, expect, it } from "vitest";
import { waitFor } from "../src/index.js";

describe("waitFor", () => {
  it("returns the check's first truthy value", async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), "the third call");
    expect(value).toEqual({ calls: 3 });
  });

  it("awaits an async check", async () => {
    let calls = 0;
    await expect(waitFor(async () => ++calls === 2, "the second call")).resolves.toBe(true);
  });

  it("treats a throwing check as not yet", async () => {
    let calls = 0;
    const check = () => {
      if (++calls < 3) throw new Error("not ready");
      return "ready";
    };
    await expect(waitFor(check, "readiness")).resolves.toBe("ready");
  });

  it("names what it waited for and the last error once the deadline has passed", async () => {
    const started = Date.now();
    const failing = waitFor(
      () => {
        throw new Error("ECONNREFUSED");
      },
      "the socket",
      100,
    );
    await expect(failing).rejects.toThrow("timed out after 100 ms waiting for the socket (last error: ECONNREFUSED)");
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it("says only what it waited for when the check merely never held", async () => {
    await expect(waitFor(() => false, "nothing", 50)).rejects.toThrow(/^timed out after 50 ms waiting for nothing$/);
  });
});
