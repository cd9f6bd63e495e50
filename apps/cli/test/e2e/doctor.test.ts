// `claudemesh doctor`: every problem it knows is created for real in a sandbox and detected;
// `--fix` repairs the safe ones (and touches nothing a live or frozen daemon owns); a second run
// is clean.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { killPid, type Result, type Sandbox, sandbox, waitFor } from "../support/harness.js";

/** The pinned Claude Code (tools/claude-code), for the claude checks: a real one, found the same on every machine. */
const CLAUDE = fileURLToPath(new URL("../../../../tools/claude-code/node_modules/.bin/claude", import.meta.url));
const ENSURE = fileURLToPath(new URL("../../../../tools/claude-code/ensure.mjs", import.meta.url));

beforeAll(() => {
  if (!existsSync(CLAUDE)) execFileSync(process.execPath, [ENSURE], { stdio: "inherit", timeout: 300_000 });
}, 300_000);

interface Line {
  status: string;
  check: string;
  finding: string;
  fix: string;
}

/** Piped doctor output: one `status<TAB>check<TAB>finding<TAB>fix` line per check. */
function lines(res: Result): Map<string, Line> {
  const out = new Map<string, Line>();
  for (const line of res.stdout.trimEnd().split("\n")) {
    const cells = line.split("\t");
    expect(cells).toHaveLength(4);
    const [status, check, finding, fix] = cells as [string, string, string, string];
    out.set(check, { status, check, finding, fix });
  }
  return out;
}

const CHECKS = [
  "dir",
  "dir-owner",
  "dir-mode",
  "socket-path",
  "lock",
  "socket",
  "duplicates",
  "version",
  "service",
  "claude",
  "claude-mcp",
];

/** Doctor with a temp HOME (no unit or Claude Code config of the developer's own is looked at). */
function doctor(sb: Sandbox, args: string[] = [], env: Record<string, string | undefined> = {}): Promise<Result> {
  const home = join(sb.root, "h");
  mkdirSync(home, { recursive: true });
  return sb.run(["doctor", ...args], {
    env: { HOME: home, XDG_CONFIG_HOME: undefined, CLAUDE_CONFIG_DIR: undefined, CLAUDEMESH_CLAUDE: CLAUDE, ...env },
  });
}

function expectClean(res: Result): void {
  expect(res.code).toBe(0);
  const found = lines(res);
  expect([...found.keys()]).toEqual(CHECKS);
  for (const line of found.values())
    expect(line, `${line.check}: ${line.finding}`).toMatchObject({ status: "ok", fix: "-" });
}

describe.concurrent("doctor", () => {
  it("a fresh machine is clean, and doctor starts nothing and creates nothing", async (context) => {
    const sb = sandbox(context);
    const res = await doctor(sb);
    expectClean(res);
    expect(lines(res).get("dir")?.finding).toContain("does not exist yet");
    expect(existsSync(sb.dir)).toBe(false);
    expect(await sb.daemonProcesses()).toEqual([]);

    const json = JSON.parse((await doctor(sb, ["--json"])).stdout) as { checks: Record<string, unknown>[] };
    expect(json.checks.map((c) => c.name)).toEqual(CHECKS);
    for (const check of json.checks) {
      expect(Object.keys(check)).toEqual(["name", "status", "finding", "fix"]);
      expect(check).toMatchObject({ status: "ok", fix: null });
    }
  });

  it("a running daemon is clean", async (context) => {
    const sb = sandbox(context);
    expect((await sb.run(["daemon", "start"])).code).toBe(0);
    const res = await doctor(sb);
    expectClean(res);
    const found = lines(res);
    expect(found.get("lock")?.finding).toContain(`pid ${sb.lockPid()}`);
    expect(found.get("socket")?.finding).toBe("a daemon listens");
    expect(found.get("duplicates")?.finding).toBe(`one daemon process (pid ${sb.lockPid()})`);
  });

  it("a killed daemon and a loose dir: detects the stale lock, stale socket and mode; --fix repairs them all", async (context) => {
    const sb = sandbox(context);
    expect((await sb.run(["daemon", "start"])).code).toBe(0);
    const pid = sb.lockPid() as number;
    await killPid(pid); // SIGKILL: the lock and the socket stay behind
    chmodSync(sb.dir, 0o755);

    const before = await doctor(sb);
    expect(before.code).toBe(1);
    const found = lines(before);
    expect(found.get("dir-mode")).toMatchObject({
      status: "fail",
      fix: `chmod 700 ${sb.dir} (claudemesh doctor --fix does it)`,
    });
    expect(found.get("dir-mode")?.finding).toContain("mode 0755");
    expect(found.get("lock")).toMatchObject({ status: "warn", fix: "claudemesh doctor --fix removes it" });
    expect(found.get("lock")?.finding).toContain(`pid ${pid}, is gone`);
    expect(found.get("socket")).toMatchObject({ status: "warn", fix: "claudemesh doctor --fix removes it" });
    expect(found.get("socket")?.finding).toContain("nothing listens");
    expect(found.get("version")?.status).toBe("ok");

    const fixed = await doctor(sb, ["--fix"]);
    expect(fixed.stderr).toContain(`fixed dir-mode: chmod 700 ${sb.dir}`);
    expect(fixed.stderr).toContain(`fixed lock: removed ${sb.lock}`);
    expect(fixed.stderr).toContain(`fixed socket: removed ${sb.socket}`);
    expectClean(fixed);
    expect(statSync(sb.dir).mode & 0o777).toBe(0o700);
    expect(existsSync(sb.lock)).toBe(false);
    expect(existsSync(sb.socket)).toBe(false);
    expect(existsSync(`${sb.lock}.reclaim`)).toBe(false);

    expectClean(await doctor(sb));
    expect((await sb.run(["daemon", "start"])).code).toBe(0);
  });

  it("a lock whose pid now belongs to another process is stale (start time differs); young garbage is not", async (context) => {
    const sb = sandbox(context);
    mkdirSync(sb.dir, { mode: 0o700 });
    writeFileSync(sb.lock, JSON.stringify({ pid: process.pid, start_time: "0", version: "0.1.0", started_at: 1 }));
    const reused = lines(await doctor(sb)).get("lock");
    expect(reused?.status).toBe("warn");
    expect(reused?.finding).toContain(`pid ${process.pid} is now another process`);
    expectClean(await doctor(sb, ["--fix"]));

    // Just written and unreadable: it may be being written right now. Never removed. (Its mtime
    // is set ahead, so that a slow machine cannot age it past the grace period mid-test.)
    writeFileSync(sb.lock, "{not json");
    const ahead = (Date.now() + 60_000) / 1000;
    utimesSync(sb.lock, ahead, ahead);
    const young = lines(await doctor(sb, ["--fix"])).get("lock");
    expect(young).toMatchObject({ status: "warn" });
    expect(young?.finding).toContain("names no owner yet");
    expect(readFileSync(sb.lock, "utf8")).toBe("{not json");
    // Old garbage is stale, as the daemon judges it.
    const old = (Date.now() - 60_000) / 1000;
    utimesSync(sb.lock, old, old);
    expect(lines(await doctor(sb)).get("lock")?.finding).toContain("names no owner");
    expectClean(await doctor(sb, ["--fix"]));
  });

  it("--fix never removes a lock or socket while a daemon answers", async (context) => {
    const sb = sandbox(context);
    expect((await sb.run(["daemon", "start"])).code).toBe(0);
    const pid = sb.lockPid() as number;
    const socketInode = statSync(sb.socket).ino;
    // The lock now names a process that is gone, but the daemon still answers on the socket.
    const dead = JSON.stringify({ pid: 999_999_999, start_time: null, version: "0.1.0", started_at: 1 });
    writeFileSync(sb.lock, dead);
    try {
      const res = await doctor(sb, ["--fix"]);
      expect(res.stderr).toContain("not fixed lock: something answers on");
      expect(lines(res).get("lock")?.status).toBe("warn");
      expect(readFileSync(sb.lock, "utf8")).toBe(dead);
      expect(statSync(sb.socket).ino).toBe(socketInode);
    } finally {
      await killPid(pid); // the lock no longer names it: end it here
    }
  });

  it("a frozen daemon: a warning, and --fix touches neither its lock nor its socket", async (context) => {
    const sb = sandbox(context);
    expect((await sb.run(["daemon", "start"])).code).toBe(0);
    const pid = sb.lockPid() as number;
    const lock = readFileSync(sb.lock, "utf8");
    const socketInode = statSync(sb.socket).ino;
    process.kill(pid, "SIGSTOP");
    try {
      const res = await doctor(sb, ["--fix"]);
      expect(res.code).toBe(0);
      const found = lines(res);
      expect(found.get("version")?.status).toBe("warn");
      expect(found.get("version")?.finding).toContain("does not answer");
      expect(found.get("lock")?.status).toBe("ok");
      expect(readFileSync(sb.lock, "utf8")).toBe(lock);
      expect(statSync(sb.socket).ino).toBe(socketInode);
    } finally {
      process.kill(pid, "SIGCONT");
    }
  });

  it.skipIf(process.platform !== "linux")(
    "two daemons serving one dir are found (Linux); ending the extra one makes doctor clean",
    async (context) => {
      const sb = sandbox(context);
      expect((await sb.run(["daemon", "start"])).code).toBe(0);
      const first = sb.lockPid() as number;
      // Field note 4: a cleanup that deleted a live daemon's socket and lock let a second one start.
      rmSync(sb.lock);
      rmSync(sb.socket);
      expect((await sb.run(["daemon", "start"])).code).toBe(0);
      const second = sb.lockPid() as number;
      await waitFor(async () => (await sb.daemonProcesses()).length === 2, "two daemon processes");

      const res = await doctor(sb, ["--fix"]);
      expect(res.code).toBe(1);
      const dup = lines(res).get("duplicates");
      expect(dup?.status).toBe("fail");
      expect(dup?.finding).toBe(
        `2 daemon processes serve this dir: pids ${[first, second].sort((a, b) => a - b).join(", ")}`,
      );
      expect(dup?.fix).toBe(`keep pid ${second} (it holds the lock) and end the others: kill ${first}`);
      expect(await sb.daemonProcesses()).toHaveLength(2); // not a safe repair: left to the user

      await killPid(first);
      expectClean(await doctor(sb));
    },
  );

  it("a socket path over the OS limit fails, and nothing connects to it", async (context) => {
    const sb = sandbox(context);
    const dir = join(sb.root, "x".repeat(100));
    const res = await doctor(sb, ["--fix"], { CLAUDEMESH_DAEMON_DIR: dir });
    expect(res.code).toBe(1);
    const found = lines(res);
    expect(found.get("socket-path")).toMatchObject({
      status: "fail",
      fix: "set CLAUDEMESH_DAEMON_DIR to a shorter directory",
    });
    expect(found.get("socket")?.finding).toContain("skipped");
    expect(found.get("version")?.finding).toContain("skipped");
    expect(existsSync(dir)).toBe(false);
  });

  it("version skew between the CLI and the daemon is a warning naming `daemon restart`", async (context) => {
    const sb = sandbox(context);
    mkdirSync(sb.dir, { mode: 0o700 });
    // An older daemon, as far as the wire goes.
    const server = createServer((req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(
        req.url === "/v1/version"
          ? JSON.stringify({ daemon_version: "0.0.9", ipc_api: "v1", ipc_features: [], schema_version: 1 })
          : JSON.stringify({ ok: true, pid: process.pid, uptime_ms: 1, sessions: 0 }),
      );
    });
    await new Promise<void>((resolve) => server.listen(sb.socket, resolve));
    try {
      const res = await doctor(sb);
      expect(res.code).toBe(0);
      expect(lines(res).get("version")).toMatchObject({
        status: "warn",
        finding: expect.stringMatching(/^the daemon runs 0\.0\.9, this CLI is \d/),
        fix: "claudemesh daemon restart (live sessions survive)",
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expectClean(await doctor(sb));
  });

  it.skipIf(process.platform !== "linux")(
    "a unit whose Node no longer exists fails; reinstalling pins this Node again",
    async (context) => {
      const sb = sandbox(context);
      const home = join(sb.root, "h");
      const env = { HOME: home, XDG_CONFIG_HOME: undefined, CI: undefined, PATH: join(sb.root, "nobin") };
      expect((await sb.run(["daemon", "install"], { env })).code).toBe(0);
      const unit = join(home, ".config", "systemd", "user", "claudemesh.service");
      writeFileSync(
        unit,
        readFileSync(unit, "utf8").replace(`ExecStart=${process.execPath} `, "ExecStart=/gone/node "),
      );

      const res = await doctor(sb);
      expect(res.code).toBe(1);
      const service = lines(res).get("service");
      expect(service?.status).toBe("fail");
      expect(service?.finding).toContain("claudemesh.service runs /gone/node, which no longer exists");
      expect(service?.fix).toBe(`claudemesh daemon install (pins this Node, ${process.execPath})`);
      expect((await doctor(sb, ["--fix"])).code).toBe(1); // not a repair doctor makes by itself

      expect((await sb.run(["daemon", "install"], { env })).code).toBe(0);
      expectClean(await doctor(sb));
    },
  );

  it.skipIf(process.getuid?.() !== 0)(
    "a dir owned by someone else fails and is not touched by --fix (needs root to create)",
    async (context) => {
      const sb = sandbox(context);
      mkdirSync(sb.dir, { mode: 0o700 });
      chownSync(sb.dir, 65534, 65534);
      try {
        const res = await doctor(sb, ["--fix"]);
        expect(res.code).toBe(1);
        expect(lines(res).get("dir-owner")).toMatchObject({
          status: "fail",
          fix: `chown 0 ${sb.dir}, or set CLAUDEMESH_DAEMON_DIR to a directory you own`,
        });
        expect(statSync(sb.dir).uid).toBe(65534);
      } finally {
        chownSync(sb.dir, 0, 0);
      }
      expectClean(await doctor(sb));
    },
  );
});
