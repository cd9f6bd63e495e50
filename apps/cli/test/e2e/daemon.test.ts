// `claudemesh daemon start|stop|restart|status|logs`, piped and with --json.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CLI_VERSION, launchArgs, processGone, sandbox, waitFor, withoutPresence } from "../support/harness.js";

interface Status {
  running: boolean;
  pid?: number;
  version?: string;
  uptime_ms?: number;
  sessions?: number;
  socket: string;
  log: string;
}

describe.concurrent("daemon", () => {
  it("status exits 3 when the daemon is not running, and --json says running:false", async (context) => {
    const sb = sandbox(context);
    const text = await sb.run(["daemon", "status"]);
    expect(text.code).toBe(3);
    expect(text.stdout).toContain("not running");

    const json = await sb.run(["daemon", "status", "--json"]);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ running: false, socket: sb.socket, log: sb.log });
    // Asking is not starting.
    expect(existsSync(sb.socket)).toBe(false);
    expect(sb.lockPid()).toBeUndefined();
  });

  it("start twice: `daemon started (pid N)` then `daemon already running (pid N)`; status reports it", async (context) => {
    const sb = sandbox(context);
    const first = await sb.run(["daemon", "start"]);
    expect(first.code).toBe(0);
    const pid = Number(/^daemon started \(pid (\d+)\)\n$/.exec(first.stdout)?.[1]);
    expect(pid).toBe(sb.lockPid());

    const second = await sb.run(["daemon", "start"]);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(`daemon already running (pid ${pid})\n`);

    const json = await sb.run(["daemon", "status", "--json"]);
    expect(json.code).toBe(0);
    const status = JSON.parse(json.stdout) as Status;
    expect(status).toEqual({
      running: true,
      pid,
      version: CLI_VERSION,
      uptime_ms: expect.any(Number),
      sessions: 0,
      managed_by: null,
      member_fingerprint: expect.stringMatching(/^SHA256:/),
      socket: sb.socket,
      log: sb.log,
    });
    expect(status.uptime_ms).toBeGreaterThanOrEqual(0);

    const text = await sb.run(["daemon", "status"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`pid ${pid}`);
    expect(text.stdout).toContain(sb.socket);
    expect(text.stdout).toContain(sb.log);
    expect(text.stdout).toContain("managed by: nothing (started on demand)\n");
  });

  it("stop exits 0 and removes the socket and the lock; stopping again also exits 0", async (context) => {
    const sb = sandbox(context);
    expect((await sb.run(["daemon", "start"])).code).toBe(0);
    const pid = sb.lockPid() as number;
    expect(existsSync(sb.socket)).toBe(true);

    const stop = await sb.run(["daemon", "stop"]);
    expect(stop.code).toBe(0);
    expect(existsSync(sb.socket)).toBe(false);
    expect(existsSync(sb.lock)).toBe(false);
    expect(processGone(pid)).toBe(true);

    const again = await sb.run(["daemon", "stop"]);
    expect(again.code).toBe(0);
    expect((await sb.run(["daemon", "status"])).code).toBe(3);
  });

  it("restart keeps a live session: same session id, its token still works", async (context) => {
    const sb = sandbox(context);
    const launch = sb.spawn(
      launchArgs('put pid "$$"\ngate go\nme=$(cm sessions me --json); put me.rc "$?"; put me.json "$me"'),
    );
    const pid = Number(await sb.waitForFile("pid"));
    const session = await waitFor(async () => (await sb.sessions()).find((s) => s.pid === pid), "session listed");
    const oldDaemon = sb.lockPid() as number;

    const restart = await sb.run(["daemon", "restart"]);
    expect(restart.code).toBe(0);
    const newDaemon = sb.lockPid();
    expect(newDaemon).toBeDefined();
    expect(newDaemon).not.toBe(oldDaemon);
    expect(processGone(oldDaemon)).toBe(true);
    expect((await sb.sessions()).map(withoutPresence)).toEqual([withoutPresence(session)]);

    // The program, after the restart, is still recognised by its token; then ends normally.
    sb.touch("go");
    expect((await launch.closed).code).toBe(0);
    expect(sb.read("me.rc")).toBe("0");
    const me = (JSON.parse(sb.read("me.json")) as { session: typeof session }).session;
    expect(withoutPresence(me)).toEqual(withoutPresence(session));
    expect(me.session_pubkey).toMatch(/^[0-9a-f]{64}$/); // a fresh key, not none
    expect(await sb.sessions()).toEqual([]);
  });

  it("logs -n 5 prints at most the last 5 lines; exit 4 when there is no log yet", async (context) => {
    const sb = sandbox(context);
    const none = await sb.run(["daemon", "logs", "-n", "5"]);
    expect(none.code).toBe(4);
    expect(none.stdout).toBe("");

    expect((await sb.run(["daemon", "start"])).code).toBe(0);
    expect((await sb.run(["daemon", "restart"])).code).toBe(0);
    expect((await sb.run(["daemon", "restart"])).code).toBe(0);
    const log = readFileSync(sb.log, "utf8").trimEnd().split("\n");
    expect(log.length).toBeGreaterThan(5);

    const res = await sb.run(["daemon", "logs", "-n", "5"]);
    expect(res.code).toBe(0);
    const printed = res.stdout.trimEnd().split("\n");
    expect(printed.length).toBeLessThanOrEqual(5);
    expect(printed).toEqual(log.slice(-printed.length));

    // Like `tail -n 0`: nothing.
    const zero = await sb.run(["daemon", "logs", "-n", "0"]);
    expect(zero.code).toBe(0);
    expect(zero.stdout).toBe("");
  });

  it.skipIf(process.platform !== "linux")(
    "an auto-started daemon inherits no session variable and runs from its dir",
    async (context) => {
      const sb = sandbox(context);
      // As if run from inside another session.
      const res = await sb.run(["sessions", "list"], {
        env: {
          CLAUDEMESH_SESSION_ID: "outer",
          CLAUDEMESH_IPC_TOKEN_FILE: sb.path("outer-token"),
          CLAUDEMESH_MESH: "outer",
          CLAUDEMESH_DISPLAY_NAME: "outer",
        },
      });
      expect(res.code).toBe(0);
      const pid = sb.lockPid() as number;
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      expect(environ.filter((v) => v.startsWith("CLAUDEMESH_"))).toEqual([]);
      expect(realpathSync(`/proc/${pid}/cwd`)).toBe(realpathSync(sb.dir));
    },
  );

  it("CLAUDEMESH_NO_AUTOSTART=1: a command needing the daemon exits 3 and starts none", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["sessions", "list"], { env: { CLAUDEMESH_NO_AUTOSTART: "1" } });
    expect(res.code).toBe(3);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain("CLAUDEMESH_NO_AUTOSTART");
    expect(existsSync(sb.socket)).toBe(false);
    expect(sb.lockPid()).toBeUndefined();
    expect(await sb.daemonProcesses()).toEqual([]);
  });
});
