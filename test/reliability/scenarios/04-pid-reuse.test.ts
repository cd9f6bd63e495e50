// 4. Real PID reuse: in a private PID namespace, a session's process ends and a new process is
// forced onto the same pid; the reaper removes the session as pid_reused while the new one lives.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { DAEMON, record } from "../harness.js";

const INSIDE = fileURLToPath(new URL("../fixtures/pid-reuse-inside.mjs", import.meta.url));

it("removes a session whose pid now belongs to another process, as pid_reused", () => {
  const run = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", process.execPath, INSIDE, DAEMON], {
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(run.stderr).toBe("");
  const result = JSON.parse(run.stdout.trim().split("\n").at(-1) as string);
  expect(result).toMatchObject({
    registered: 200,
    reused: true,
    removal_reason: "pid_reused",
    new_process_alive: true,
    listed_after: 0,
  });
  record("pid-reuse", result);
});
