// Auto-start under a race: many launches at once with no daemon running end with one daemon.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { launchArgs, sandbox, waitFor } from "../support/harness.js";

const N = 16;

describe("auto-start", () => {
  it(`${N} launches started at once with no daemon running start exactly one daemon`, async (context) => {
    const sb = sandbox(context);
    // Each program lives until the test opens the gate, so all of them are alive when counted.
    const launches = Array.from({ length: N }, (_, i) =>
      sb.spawn(launchArgs('put "pid.$CLAUDEMESH_DISPLAY_NAME" "$$"\ngate go', ["--name", `race${i}`])),
    );

    const sessions = await waitFor(
      async () => {
        const list = await sb.sessions();
        return list.length === N && list;
      },
      `${N} sessions to be listed`,
      30_000,
    );
    expect(sessions.map((s) => s.display_name).sort()).toEqual(Array.from({ length: N }, (_, i) => `race${i}`).sort());

    // One lock, one daemon: status names the lock's owner, and no other daemon process was ever
    // started for this dir (the racing CLIs share one start claim; every daemon process logs,
    // a loser of the lock race included).
    const lockPid = sb.lockPid();
    expect(lockPid).toBeGreaterThan(0);
    const status = await sb.run(["daemon", "status", "--json"]);
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as { pid: number }).pid).toBe(lockPid);
    expect(await sb.daemonProcesses()).toEqual([lockPid]);
    const logged = readFileSync(join(sb.dir, "daemon.log"), "utf8").trim().split("\n");
    expect(new Set(logged.map((line) => (JSON.parse(line) as { pid: number }).pid))).toEqual(new Set([lockPid]));
    expect(existsSync(join(sb.dir, "daemon.starting"))).toBe(false);

    sb.touch("go");
    const results = await Promise.all(launches.map((l) => l.closed));
    expect(results.map((r) => r.code)).toEqual(Array.from({ length: N }, () => 0));
    expect(await sb.sessions()).toEqual([]);
    expect(await sb.daemonProcesses()).toEqual([lockPid]);
    expect(sb.lockPid()).toBe(lockPid);
  });
});
