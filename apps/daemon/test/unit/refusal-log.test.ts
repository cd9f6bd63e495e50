import { describe, expect, it } from "vitest";
import { RefusalLog } from "../../src/nats/refusal-log.js";

describe("RefusalLog", () => {
  it("logs the first few of each reason per window, then says how many it left out", () => {
    const lines: { msg: string; fields: Record<string, unknown> | undefined }[] = [];
    const logger = {
      info: () => {},
      warn: (msg: string, fields?: Record<string, unknown>) => lines.push({ msg, fields }),
    };
    let now = 0;
    const log = new RefusalLog(logger, { now: () => now, perWindow: 2, windowMs: 1_000 });
    for (let i = 0; i < 1_000; i++) log.warn("refused", "malformed", { i });
    log.warn("refused", "oversized", { i: -1 });
    expect(lines.map((l) => [l.fields?.reason, l.fields?.i])).toEqual([
      ["malformed", 0],
      ["malformed", 1],
      ["oversized", -1],
    ]);
    now = 1_000;
    log.warn("refused", "malformed", { i: 1_000 });
    expect(lines.at(-1)?.fields).toEqual({ i: 1_000, reason: "malformed", suppressed_before: 998 });
    log.warn("refused", "malformed", { i: 1_001 });
    expect(lines.at(-1)?.fields).toEqual({ i: 1_001, reason: "malformed" });
    expect(lines).toHaveLength(5);
  });
});
