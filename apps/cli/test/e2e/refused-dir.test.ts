// A daemon dir open to others is refused at once by the CLI, with the daemon's own message, and
// nothing is written into it (no log, no socket): no 5 s wait for a daemon that would refuse.
import { chmodSync, mkdirSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { sandbox } from "../support/harness.js";

describe("a daemon dir the daemon would refuse", () => {
  it("exits 3 naming the fix, writes nothing there, and starts no daemon", async (context) => {
    const sb = sandbox(context);
    mkdirSync(sb.dir, { recursive: true });
    chmodSync(sb.dir, 0o755);
    const res = await sb.run(["sessions", "list"]);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain(`chmod 700 ${sb.dir}`);
    expect(res.ms).toBeLessThan(4_000);
    expect(readdirSync(sb.dir)).toEqual([]);
  });
});
