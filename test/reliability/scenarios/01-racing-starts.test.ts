// 1. Racing starts: 16 launches at once with no daemon → exactly one daemon, 16 sessions listed,
// every launch exits 0. "One daemon" means one was ever started, not that the losers of the lock
// race have exited by now: racing CLIs share one start claim, so no second daemon process runs.
import { readdirSync, readFileSync } from "node:fs";
import { daemonPaths } from "@claudemesh/client";
import { afterAll, expect, it } from "vitest";
import { cleanup, cli, cliSpawn, cmdline, daemonDir, daemonPid, listSessions, record, waitFor } from "../harness.js";

afterAll(cleanup);

/** Every pid that wrote to the daemon log: each daemon process started for the dir logs once at least. */
function loggedPids(dir: string): number[] {
  const lines = readFileSync(daemonPaths(dir).log, "utf8").trim().split("\n");
  return [...new Set(lines.map((line) => (JSON.parse(line) as { pid: number }).pid))];
}

function daemonsFor(dir: string): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const args = cmdline(pid);
      return args.includes("daemon.js") && args.includes(`--dir ${dir}`);
    });
}

it("16 launches racing from no daemon leave one daemon and 16 sessions", async () => {
  const dir = daemonDir();
  const started = performance.now();
  const launches = Array.from({ length: 16 }, (_, i) =>
    cliSpawn(dir, ["launch", "--name", `race-${i}`, "--", "sleep", "2"]),
  );
  const exits = launches.map(
    (child) => new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code))),
  );
  let maxListed = 0;
  await waitFor(async () => {
    const sessions = await listSessions(daemonPaths(dir).socket);
    maxListed = Math.max(maxListed, sessions.filter((s) => s.display_name.startsWith("race-")).length);
    return maxListed === 16;
  }, "16 sessions listed");
  expect(daemonsFor(dir)).toEqual([daemonPid(dir)]);
  expect(loggedPids(dir)).toEqual([daemonPid(dir)]);
  expect(await Promise.all(exits)).toEqual(Array(16).fill(0));
  const took = performance.now() - started;
  expect(daemonsFor(dir)).toHaveLength(1);
  const after = await cli(dir, ["sessions", "list", "--json"]);
  expect(JSON.parse(after.stdout).sessions).toEqual([]);
  record("racing-starts", { launches: 16, daemons: 1, max_listed: maxListed, wall_ms: Math.round(took) });
});
