// A daemon that does not answer (SIGSTOPped) is busy, not dead: commands give up with exit 3 and
// a clear message, within their own timeouts, and never take over its socket or lock.
import { existsSync, readFileSync, statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { launchArgs, sandbox } from "../support/harness.js";

/** The CLI's own timeouts are 3–5 s; a frozen daemon must never make a command hang longer. */
const DEADLINE_MS = 10_000;

describe("frozen daemon", () => {
  it("commands exit 3 in time, touch neither socket nor lock, start no second daemon; SIGCONT recovers", async (context) => {
    const sb = sandbox(context);
    expect((await sb.run(["daemon", "start"])).code).toBe(0);
    const pid = sb.lockPid() as number;
    const lockContent = readFileSync(sb.lock, "utf8");
    const socketInode = statSync(sb.socket).ino;
    const lockInode = statSync(sb.lock).ino;

    process.kill(pid, "SIGSTOP");
    try {
      const [list, launch, status, start] = await Promise.all([
        sb.run(["sessions", "list"]),
        sb.run(launchArgs("put ran yes")),
        sb.run(["daemon", "status", "--json"]),
        sb.run(["daemon", "start"]),
      ]);
      for (const res of [list, launch, status]) {
        expect(res.code).toBe(3);
        expect(res.ms).toBeLessThan(DEADLINE_MS);
      }
      expect(list.stderr).toMatch(/not answering/);
      expect(list.stdout).toBe("");
      expect(launch.stderr).toMatch(/not answering/);
      // The program was not started.
      expect(existsSync(sb.path("ran"))).toBe(false);
      expect(JSON.parse(status.stdout)).toMatchObject({ running: false, unresponsive: true, pid });
      // `daemon start` refuses to start a second one next to it.
      expect(start.code).toBe(1);
      expect(start.ms).toBeLessThan(DEADLINE_MS);
      expect(start.stderr).toContain(`pid ${pid}`);

      expect(statSync(sb.socket).ino).toBe(socketInode);
      expect(statSync(sb.lock).ino).toBe(lockInode);
      expect(readFileSync(sb.lock, "utf8")).toBe(lockContent);
      expect(await sb.daemonProcesses()).toEqual([pid]);
    } finally {
      process.kill(pid, "SIGCONT");
    }

    const after = await sb.run(["sessions", "list"]);
    expect(after.code).toBe(0);
    expect(sb.lockPid()).toBe(pid);
  });
});
