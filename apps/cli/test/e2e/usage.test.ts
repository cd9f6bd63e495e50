// The command line itself: version, mistyped commands, options rejected before anything starts.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI_VERSION, launchArgs, sandbox } from "../support/harness.js";

describe.concurrent("command line", () => {
  it("--version prints `claudemesh <semver>` on stdout", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["--version"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^claudemesh \d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?\n$/);
    expect(res.stdout).toBe(`claudemesh ${CLI_VERSION}\n`);
    expect(res.stderr).toBe("");
  });

  it("an unknown subcommand exits 2 and suggests the closest one", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["sessions", "lst"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/\blist\b/);
    expect(res.stdout).toBe("");
  });

  it("an unknown top-level command exits 2 and suggests the closest one", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["lanch"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/\blaunch\b/);
  });

  it("launch with an invalid --mesh exits 2, names --mesh and starts nothing", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(launchArgs("put ran yes", ["--mesh", "UPPER"]));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("--mesh");
    // No daemon was started, and the program did not run.
    expect(existsSync(sb.socket)).toBe(false);
    expect(existsSync(sb.lock)).toBe(false);
    expect(existsSync(sb.path("ran"))).toBe(false);
    expect(await sb.daemonProcesses()).toEqual([]);
    // The token dir was not even created.
    expect(readdirSync(sb.env.TMPDIR as string)).toEqual([]);
  });

  it("`launch -h` shows the help of launch and starts nothing", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["launch", "-h"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Usage: claudemesh launch/);
    expect(res.stdout).toContain("--session-id");
    expect(existsSync(sb.dir)).toBe(false);
  });

  it("an unknown option of launch is a usage error, not a program name", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["launch", "-x", "sh"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("-x");
    expect(existsSync(sb.dir)).toBe(false);
  });

  it("a daemon dir too long for a socket path is a clear error naming the fix", async (context) => {
    const sb = sandbox(context);
    const dir = join(sb.root, "x".repeat(100));
    for (const args of [["sessions", "list"], launchArgs("put ran yes"), ["daemon", "status"]]) {
      const res = await sb.run(args, { env: { CLAUDEMESH_DAEMON_DIR: dir } });
      expect(res.code).toBe(3);
      expect(res.stderr).toContain("CLAUDEMESH_DAEMON_DIR");
      expect(res.stderr).toMatch(/socket path .* bytes/);
      expect(res.stderr).not.toContain("unexpected error");
      expect(res.stderr).not.toMatch(/^\s+at /m);
    }
    const start = await sb.run(["daemon", "start"], { env: { CLAUDEMESH_DAEMON_DIR: dir } });
    expect(start.code).toBe(1);
    expect(start.stderr).toContain("CLAUDEMESH_DAEMON_DIR");
    expect(existsSync(sb.path("ran"))).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
