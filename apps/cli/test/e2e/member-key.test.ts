// A damaged member key: the daemon refuses to start rather than mint a new identity over it, and
// the CLI says so at once (not at the 5 s start deadline), with the daemon's readable log line
// naming the fix. The file is left exactly as it was.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sandbox } from "../support/harness.js";

describe("a damaged member.key", () => {
  it("is never replaced: the start fails with exit 3 and the command that moves it aside", async (context) => {
    const sb = sandbox(context);
    mkdirSync(sb.dir, { recursive: true });
    chmodSync(sb.dir, 0o700);
    const key = join(sb.dir, "member.key");
    writeFileSync(key, '{"format":"claudemesh-member-key","version":1,"secret_key":"not hex"}\n', { mode: 0o600 });
    const res = await sb.run(["sessions", "list"]);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain("the daemon exited as it started");
    expect(res.stderr).toContain(`mv ${key} ${key}.damaged`);
    expect(res.stderr).not.toContain('{"time"'); // the log line is rendered, not raw JSON
    expect(res.ms).toBeLessThan(4_500);
    expect(readFileSync(key, "utf8")).toContain('"secret_key":"not hex"');
    expect(sb.lockPid()).toBeUndefined();
  });
});
