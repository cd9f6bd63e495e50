// The daemon as a process: start, stop, crash, restart, racing starts, stale files, bad dirs.
import { spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { daemonPaths } from "@claudemesh/client";
import { afterEach, describe, expect, it } from "vitest";
import {
  authorized,
  cleanup,
  DAEMON_MAIN,
  http,
  killAndWait,
  register,
  spawnDaemon,
  spawnSleeper,
  startDaemonProcess,
  stopDaemon,
  tempDir,
  token,
  waitFor,
} from "../harness.js";

afterEach(cleanup);

async function me(socket: string, tok: string) {
  return http(socket, "GET", "/v1/sessions/me", { headers: authorized(tok) });
}

describe("persistence across restarts", () => {
  it("restores live sessions after stop/start and drops the ones that ended meanwhile", async () => {
    const dir = tempDir();
    let daemon = await startDaemonProcess(dir);
    const live = spawnSleeper();
    const ending = spawnSleeper();
    await register(daemon.socket, { token: token(1), pid: live.pid, session_id: "live", groups: ["g"] });
    await register(daemon.socket, { token: token(2), pid: ending.pid, session_id: "ending" });
    const before = ((await me(daemon.socket, token(1))).json() as { session: unknown }).session;
    expect(await stopDaemon(daemon)).toEqual({ code: 0, signal: null });
    expect(existsSync(daemon.socket)).toBe(false);
    expect(existsSync(daemonPaths(dir).lock)).toBe(false);
    // A clean stop leaves the state file and the log, no journal file.
    expect(readdirSync(dir).sort()).toEqual(["member.key", "sessions.jsonl"]);

    await killAndWait(ending);
    daemon = await startDaemonProcess(dir);
    const after = await me(daemon.socket, token(1));
    expect(after.status).toBe(200);
    // The same session, with a fresh key and attestation: secret keys are never persisted.
    const presenceFields = ["session_pubkey", "attestation_expires_at"];
    const withoutPresence = (s: unknown) =>
      Object.fromEntries(Object.entries(s as object).filter(([key]) => !presenceFields.includes(key)));
    const restored = (after.json() as { session: Record<string, unknown> }).session;
    expect(withoutPresence(restored)).toEqual(withoutPresence(before));
    expect(restored.session_pubkey).toMatch(/^[0-9a-f]{64}$/);
    expect(restored.session_pubkey).not.toBe((before as Record<string, unknown>).session_pubkey);
    expect((await me(daemon.socket, token(2))).status).toBe(401);
    await stopDaemon(daemon);
  });

  it("restores after kill -9, reclaiming the stale lock and socket it left", async () => {
    const dir = tempDir();
    let daemon = await startDaemonProcess(dir);
    const live = spawnSleeper();
    const ending = spawnSleeper();
    await register(daemon.socket, { token: token(1), pid: live.pid });
    await register(daemon.socket, { token: token(2), pid: ending.pid });
    // The crash follows at once: whatever the coalesced state write has not saved, the journal has.
    expect(await stopDaemon(daemon, "SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    expect(existsSync(daemon.socket)).toBe(true);
    expect(existsSync(daemonPaths(dir).lock)).toBe(true);

    await killAndWait(ending);
    daemon = await startDaemonProcess(dir);
    expect((await me(daemon.socket, token(1))).status).toBe(200);
    expect((await me(daemon.socket, token(2))).status).toBe(401);
    const lock = JSON.parse(readFileSync(daemonPaths(dir).lock, "utf8")) as { pid: number };
    expect(lock.pid).toBe(daemon.pid);
    await stopDaemon(daemon);
  });

  it("restores every acknowledged registration from the journal when no state write ever worked", async () => {
    const dir = tempDir();
    // A directory where the state write's temp file goes: every state write fails (EISDIR), so
    // after the crash the journal is all there is.
    mkdirSync(`${daemonPaths(dir).state}.tmp`);
    let daemon = await startDaemonProcess(dir);
    const live = spawnSleeper();
    const tokens = Array.from({ length: 20 }, (_, i) => token(100 + i));
    for (const [i, tok] of tokens.entries())
      await register(daemon.socket, { token: tok, pid: live.pid, session_id: `j${i}` });
    await http(daemon.socket, "DELETE", "/v1/sessions/me", { headers: authorized(tokens[0] as string) });
    expect(await stopDaemon(daemon, "SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    expect(existsSync(daemonPaths(dir).state)).toBe(false);

    daemon = await startDaemonProcess(dir);
    expect((await me(daemon.socket, tokens[0] as string)).status).toBe(401); // deregistered stays gone
    for (const tok of tokens.slice(1)) expect((await me(daemon.socket, tok)).status).toBe(200);
    const listed = (await http(daemon.socket, "GET", "/v1/sessions")).json() as { sessions: { session_id: string }[] };
    expect(listed.sessions.map((s) => s.session_id)).toEqual(tokens.slice(1).map((_, i) => `j${i + 1}`));
    expect(daemon.stderr()).toContain('"msg":"journal replayed"');
    await stopDaemon(daemon);
  });

  it("sets a corrupt state file aside, logs it, and still starts", async () => {
    const dir = tempDir();
    writeFileSync(daemonPaths(dir).state, '{"format":"claudemesh-sessions","version":1,"count":2}\n{"trunc', {
      mode: 0o600,
    });
    const daemon = await startDaemonProcess(dir);
    expect((await http(daemon.socket, "GET", "/v1/sessions")).json()).toEqual({ sessions: [] });
    const aside = readdirSync(dir).filter((f) => f.startsWith("sessions.jsonl.corrupt-"));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0] as string), "utf8")).toContain('{"trunc');
    expect(daemon.stderr()).toContain("state file is corrupt");
    await stopDaemon(daemon);
  });
});

describe("singleton", () => {
  it("leaves exactly one daemon running when two start at the same instant", async () => {
    const dir = tempDir();
    const a = spawnDaemon(dir);
    const b = spawnDaemon(dir);
    const first = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)]);
    const survivor = first === a ? b : a;
    expect((await first.exited).code).toBe(1);
    expect(first.stderr()).toMatch(new RegExp(`another claudemesh daemon is running \\(pid ${survivor.pid}\\)`));
    await waitFor(async () => (await http(survivor.socket, "GET", "/v1/health")).status === 200, "survivor");
    const health = (await http(survivor.socket, "GET", "/v1/health")).json() as { pid: number };
    expect(health.pid).toBe(survivor.pid);
    await stopDaemon(survivor);
  });

  it("refuses to start beside a live daemon, naming its pid, and leaves it untouched", async () => {
    const dir = tempDir();
    const running = await startDaemonProcess(dir);
    const second = spawnDaemon(dir);
    expect((await second.exited).code).toBe(1);
    expect(second.stderr()).toContain(`(pid ${running.pid})`);
    expect((await http(running.socket, "GET", "/v1/health")).status).toBe(200);
    await stopDaemon(running);
  });

  it("reclaims a stale lock left by a dead process", async () => {
    const dir = tempDir();
    const gone = spawnSleeper();
    await killAndWait(gone);
    const owner = { pid: gone.pid, start_time: "x:1", version: "0.0.0", started_at: 1 };
    writeFileSync(daemonPaths(dir).lock, JSON.stringify(owner), { mode: 0o600 });
    const daemon = await startDaemonProcess(dir);
    expect(JSON.parse(readFileSync(daemonPaths(dir).lock, "utf8")).pid).toBe(daemon.pid);
    await stopDaemon(daemon);
  });

  it("removes a stale socket file nobody listens on", async () => {
    const dir = tempDir();
    // A socket file left behind by a process killed while listening.
    const holder = spawn(
      process.execPath,
      [
        "-e",
        `require("net").createServer().listen(${JSON.stringify(daemonPaths(dir).socket)}, () => process.kill(process.pid, "SIGKILL"))`,
      ],
      { stdio: "ignore" },
    );
    await new Promise((r) => holder.once("exit", r));
    expect(statSync(daemonPaths(dir).socket).isSocket()).toBe(true);
    const daemon = await startDaemonProcess(dir);
    expect((await http(daemon.socket, "GET", "/v1/health")).status).toBe(200);
    expect(daemon.stderr()).toContain("removed a stale socket file");
    await stopDaemon(daemon);
  });
});

describe("daemon dir and files", () => {
  it("creates the dir 0700 and every file 0600", async () => {
    const dir = join(tempDir(), "nested", "daemon");
    const daemon = await startDaemonProcess(dir);
    const sleeper = spawnSleeper();
    await register(daemon.socket, { token: token(1), pid: sleeper.pid });
    await waitFor(() => existsSync(daemonPaths(dir).state), "state file");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(dir)) expect([file, statSync(join(dir, file)).mode & 0o777]).toEqual([file, 0o600]);
    await stopDaemon(daemon);
  });

  it("refuses a dir open to group or others, naming the fix", async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const daemon = spawnDaemon(dir);
    expect((await daemon.exited).code).toBe(1);
    expect(daemon.stderr()).toContain(`chmod 700 ${dir}`);
    expect(existsSync(daemonPaths(dir).socket)).toBe(false);
  });

  it("refuses a dir owned by another user", async () => {
    const dir = tempDir();
    chownSync(dir, 65534, 65534);
    const daemon = spawnDaemon(dir);
    expect((await daemon.exited).code).toBe(1);
    expect(daemon.stderr()).toMatch(/owned by uid 65534, not by you/);
  });

  it("refuses a socket path longer than the OS allows", async () => {
    const dir = join(tempDir(), "x".repeat(120));
    mkdirSync(dir, { mode: 0o700 });
    const daemon = spawnDaemon(dir);
    expect((await daemon.exited).code).toBe(1);
    expect(daemon.stderr()).toMatch(/socket path .* bytes|too long/i);
  });

  it("writes JSON log lines to daemon.log when not in the foreground", async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, [DAEMON_MAIN, "--dir", dir], { stdio: "ignore" });
    const socket = daemonPaths(dir).socket;
    await waitFor(async () => (await http(socket, "GET", "/v1/health")).status === 200, "daemon ready");
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    const lines = readFileSync(daemonPaths(dir).log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(["daemon ready", "daemon stopping", "daemon stopped"]),
    );
    expect(statSync(daemonPaths(dir).log).mode & 0o777).toBe(0o600);
  });

  it("exits with a usage error on an unknown option", async () => {
    const daemon = spawnDaemon(tempDir(), ["--bogus"]);
    expect((await daemon.exited).code).toBe(2);
    expect(daemon.stderr()).toContain("--bogus");
  });
});

describe("shutdown and self-check", () => {
  it("stops within 2 s with open event streams and keep-alive connections, removing socket and lock", async () => {
    const dir = tempDir();
    const daemon = await startDaemonProcess(dir);
    const sleeper = spawnSleeper();
    await register(daemon.socket, { token: token(1), pid: sleeper.pid });
    const streams = Array.from({ length: 10 }, () => {
      const req = request({ socketPath: daemon.socket, path: "/v1/events", agent: false });
      req.on("error", () => {});
      req.end();
      return req;
    });
    let open = 0;
    for (const req of streams) req.on("response", () => open++);
    await waitFor(() => open === 10, "10 open streams");
    const started = Date.now();
    daemon.child.kill("SIGTERM");
    const exit = await daemon.exited;
    const took = Date.now() - started;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(took).toBeLessThan(2_000);
    expect(existsSync(daemon.socket)).toBe(false);
    expect(existsSync(daemonPaths(dir).lock)).toBe(false);
    expect(readFileSync(daemonPaths(dir).state, "utf8")).toContain(`"pid":${sleeper.pid}`);
  });

  it.each(["SIGINT", "SIGHUP"] as const)("stops cleanly on %s", async (signal) => {
    const dir = tempDir();
    const daemon = await startDaemonProcess(dir);
    expect(await stopDaemon(daemon, signal)).toEqual({ code: 0, signal: null });
    expect(existsSync(daemon.socket)).toBe(false);
  });

  it("exits when its socket file disappears", async () => {
    const dir = tempDir();
    const daemon = await startDaemonProcess(dir, ["--self-check-interval-ms", "50"]);
    unlinkSync(daemon.socket);
    expect((await daemon.exited).code).toBe(1);
    expect(daemon.stderr()).toContain("socket path no longer reaches this daemon");
    expect(existsSync(daemonPaths(dir).lock)).toBe(false);
  });

  it("exits when another process takes its socket path over, leaving that process's socket alone", async () => {
    const dir = tempDir();
    const daemon = await startDaemonProcess(dir, ["--self-check-interval-ms", "50"]);
    unlinkSync(daemon.socket);
    const other = createServer((conn) => conn.end());
    await new Promise<void>((resolve) => other.listen(daemon.socket, resolve));
    try {
      expect((await daemon.exited).code).toBe(1);
      expect(daemon.stderr()).toContain('"state":"replaced"');
      // The newcomer's socket is still there, and still reaches it.
      expect(existsSync(daemon.socket)).toBe(true);
      const reached = await new Promise<boolean>((resolve) => {
        const conn = connect(daemon.socket, () => resolve(true)).on("error", () => resolve(false));
        conn.on("connect", () => conn.destroy());
      });
      expect(reached).toBe(true);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });
});
