// 3. Frozen daemon: SIGSTOP it; CLI calls end within their deadline with exit 3 and a clear
// message; no second daemon; socket and lock untouched; after SIGCONT everything answers.
import { readFileSync, statSync } from "node:fs";
import { daemonPaths } from "@claudemesh/client";
import { afterAll, expect, it } from "vitest";
import { cleanup, cli, daemonDir, daemonPid, record } from "../harness.js";

afterAll(cleanup);

it("answers exit 3 fast against a stopped daemon and touches nothing", async () => {
  const dir = daemonDir();
  expect((await cli(dir, ["daemon", "start"])).code).toBe(0);
  const pid = daemonPid(dir) as number;
  const paths = daemonPaths(dir);
  const before = { socket: statSync(paths.socket).ino, lock: readFileSync(paths.lock, "utf8") };
  process.kill(pid, "SIGSTOP");
  try {
    const figures: Record<string, number> = {};
    for (const args of [
      ["sessions", "list"],
      ["launch", "--", "true"],
      ["sessions", "watch"],
      ["daemon", "status"],
    ]) {
      const result = await cli(dir, args, {}, 30_000);
      expect(result.code, args.join(" ")).toBe(3);
      expect(result.stdout + result.stderr).toMatch(/not answering/);
      expect(result.ms).toBeLessThan(15_000);
      figures[`${args.join("_")}_ms`] = Math.round(result.ms);
    }
    expect(statSync(paths.socket).ino).toBe(before.socket);
    expect(readFileSync(paths.lock, "utf8")).toBe(before.lock);
    expect(daemonPid(dir)).toBe(pid);
    record("frozen-daemon", figures);
  } finally {
    process.kill(pid, "SIGCONT");
  }
  const after = await cli(dir, ["sessions", "list", "--json"]);
  expect(after.code).toBe(0);
  expect(daemonPid(dir)).toBe(pid);
});
