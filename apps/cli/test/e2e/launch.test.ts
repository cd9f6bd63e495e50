// `claudemesh launch` with real programs (`sh -c` scripts), as a user runs it: piped stdio, its
// own daemon dir, the daemon auto-started on first use.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { launchArgs, processGone, type Sandbox, sandbox, type WireSession, waitFor } from "../support/harness.js";

/** Polls `sessions list --json` until a session with this pid is listed. */
async function waitListed(sb: Sandbox, pid: number): Promise<WireSession> {
  return waitFor(async () => (await sb.sessions()).find((s) => s.pid === pid), `session of pid ${pid} to be listed`);
}

function sum(metrics: Map<string, number>, prefix: string): number {
  let total = 0;
  for (const [key, value] of metrics) if (key.startsWith(prefix)) total += value;
  return total;
}

describe.concurrent("launch", () => {
  it("gives the program its session: variables, options, token file, and a first call that resolves", async (context) => {
    const sb = sandbox(context);
    const launch = sb.spawn(
      launchArgs(
        [
          'put pid "$$"',
          // The very first call with the token, before anything else: it must already resolve.
          'me=$(cm sessions me --json); put me.rc "$?"; put me.json "$me"',
          'list=$(cm sessions list); put list.rc "$?"; put list.txt "$list"',
          "env > env.txt",
          'if [ -r "/proc/$$/cmdline" ]; then tr "\\0" " " < "/proc/$$/cmdline"; else ps -o args= -p "$$"; fi > argv.txt',
          "put ready 1",
          "gate go",
        ].join("\n"),
        [
          "--name",
          "my agent",
          "--mesh",
          "team.a",
          "--role",
          "reviewer",
          "--group",
          "g1",
          "--group=g2",
          "--session-id",
          "sess-1:x",
        ],
      ),
    );
    await sb.waitForFile("ready");
    const pid = Number(sb.read("pid"));
    const env = new Map(
      sb
        .read("env.txt")
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
    );

    expect(env.get("CLAUDEMESH_SESSION_ID")).toBe("sess-1:x");
    expect(env.get("CLAUDEMESH_MESH")).toBe("team.a");
    expect(env.get("CLAUDEMESH_DISPLAY_NAME")).toBe("my agent");
    expect(env.get("CLAUDEMESH_DAEMON_DIR")).toBe(sb.dir);

    // The token: a path to a 0600 file in a 0700 dir, holding 64 hex chars that appear in
    // neither the program's environment nor its argv.
    const tokenFile = env.get("CLAUDEMESH_IPC_TOKEN_FILE") as string;
    expect(tokenFile).toBeTruthy();
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(tokenFile)).mode & 0o777).toBe(0o700);
    const token = readFileSync(tokenFile, "utf8").trim();
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(sb.read("env.txt")).not.toContain(token);
    expect(sb.read("argv.txt")).not.toContain(token);
    expect(sb.read("argv.txt")).toContain("sh");

    // `sessions me` from inside resolved on the first try, to this very process.
    expect(sb.read("me.rc")).toBe("0");
    const me = (JSON.parse(sb.read("me.json")) as { session: WireSession }).session;
    expect(me).toMatchObject({
      session_id: "sess-1:x",
      mesh: "team.a",
      display_name: "my agent",
      role: "reviewer",
      groups: ["g1", "g2"],
      pid,
      cwd: sb.work,
      token_prefix: token.slice(0, 8),
    });
    // `sessions list` from inside lists it.
    expect(sb.read("list.rc")).toBe("0");
    expect(sb.read("list.txt").split("\n")).toContainEqual(expect.stringMatching(/^sess-1:x\t/));

    sb.touch("go");
    const res = await launch.closed;
    expect(res.code).toBe(0);
    expect(existsSync(tokenFile)).toBe(false);
    expect(existsSync(dirname(tokenFile))).toBe(false);
  });

  it("exits with the program's exit status", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(launchArgs("exit 7"));
    expect(res.code).toBe(7);
  });

  it("exits 128+N when signal N killed the program", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(launchArgs("kill -TERM $$"));
    expect(res.code).toBe(143);
  });

  it("exits 127 and registers nothing when the command is not found", async (context) => {
    const sb = sandbox(context);
    expect((await sb.run(["daemon", "start"])).code).toBe(0);
    const res = await sb.run(["launch", "--", "claudemesh-no-such-command", "--flag"]);
    expect(res.code).toBe(127);
    expect(res.stderr).toContain("claudemesh-no-such-command");
    expect(await sb.sessions()).toEqual([]);
    expect(sum(await sb.metrics(), "claudemesh_registrations_total")).toBe(0);
  });

  it.for(["SIGTERM", "SIGHUP", "SIGINT"] as const)(
    "passes %s sent to launch on to the program",
    async (signal, context) => {
      const sb = sandbox(context);
      const launch = sb.spawn(
        launchArgs(
          [
            `trap 'put marker ${signal}; kill "$!" 2>/dev/null; exit 0' ${signal.slice(3)}`,
            'put pid "$$"',
            "sleep 60 &",
            "put ready 1",
            'wait "$!"',
            "put marker not-signalled",
          ].join("\n"),
        ),
      );
      await sb.waitForFile("ready");
      process.kill(launch.pid, signal);
      const res = await launch.closed;
      expect(res.code).toBe(0);
      expect(sb.read("marker")).toBe(signal);
    },
  );

  it("exits 137 when the program is SIGKILLed, and its session is gone at once", async (context) => {
    const sb = sandbox(context);
    const launch = sb.spawn(launchArgs('put pid "$$"\nexec sleep 60'));
    const pid = Number(await sb.waitForFile("pid"));
    sb.adopt(pid);
    await waitListed(sb, pid);
    process.kill(pid, "SIGKILL");
    const res = await launch.closed;
    expect(res.code).toBe(137);
    expect((await sb.sessions()).filter((s) => s.pid === pid)).toEqual([]);
  });

  it("when launch itself is SIGKILLed the program keeps running and listed until it ends", async (context) => {
    const sb = sandbox(context);
    const launch = sb.spawn(launchArgs('put pid "$$"\ngate go\nexit 0', ["--name", "orphan"]));
    const pid = Number(await sb.waitForFile("pid"));
    sb.adopt(pid);
    const session = await waitListed(sb, pid);

    process.kill(launch.pid, "SIGKILL");
    expect((await launch.exited).signal).toBe("SIGKILL");
    // Let the reaper sweep after launch died: the program is alive, so it stays listed.
    const sweeps = "claudemesh_reaper_sweep_duration_seconds_count";
    const before = (await sb.metrics()).get(sweeps) ?? 0;
    await waitFor(async () => ((await sb.metrics()).get(sweeps) ?? 0) > before, "a reaper sweep", 20_000);
    expect(processGone(pid)).toBe(false);
    expect((await sb.sessions()).map((s) => s.session_id)).toContain(session.session_id);

    // The program ends: the reaper removes its entry within an interval (5 s by default).
    sb.touch("go");
    await waitFor(() => processGone(pid), "the program to end");
    await waitFor(
      async () => !(await sb.sessions()).some((s) => s.session_id === session.session_id),
      "the ended session to disappear",
      20_000,
    );
    expect((await sb.metrics()).get('claudemesh_removals_total{reason="exited"}')).toBe(1);

    // The killed launch could not remove its token dir; the next launch does, now that its
    // session has ended (and leaves the dirs of live sessions alone).
    const tokenDirs = () => readdirSync(join(sb.root, "t", `claudemesh-${process.getuid?.()}`));
    expect(tokenDirs()).toHaveLength(1);
    expect((await sb.run(launchArgs("exit 0", ["--name", "next"]))).code).toBe(0);
    expect(tokenDirs()).toEqual([]);
  });

  it("after a normal end the session is deregistered at once, not left to the reaper", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(launchArgs('put pid "$$"', ["--name", "short"]));
    expect(res.code).toBe(0);
    // Checked right away: no waiting for a reaper sweep.
    expect(await sb.sessions()).toEqual([]);
    const metrics = await sb.metrics();
    expect(sum(metrics, "claudemesh_registrations_total")).toBe(1);
    expect(metrics.get('claudemesh_removals_total{reason="deregistered"}')).toBe(1);
    expect(metrics.get('claudemesh_removals_total{reason="exited"}') ?? 0).toBe(0);
  });

  it("passes everything after -- to the program verbatim", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(["launch", "--", "sh", "-c", 'printf "%s|" "$@"', "x", "--name", "--json"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("--name|--json|");
  });

  it("does not start the program when the daemon cannot be started (auto-start off): exit 3", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(launchArgs("put ran yes"), { env: { CLAUDEMESH_NO_AUTOSTART: "1" } });
    expect(res.code).toBe(3);
    expect(res.stderr).toContain("CLAUDEMESH_NO_AUTOSTART");
    expect(existsSync(sb.path("ran"))).toBe(false);
    expect(existsSync(sb.socket)).toBe(false);
  });
});
