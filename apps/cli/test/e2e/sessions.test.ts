// `claudemesh sessions list|me|watch`, piped as scripts use them.
import { homedir } from "node:os";
import { describe, expect, it } from "vitest";
import { httpGet, launchArgs, type Sandbox, sandbox, type WireSession, waitFor } from "../support/harness.js";

/** Starts a session that lives until `gate` is created; resolves once it is listed. */
async function startSession(sb: Sandbox, name: string, options: string[] = []) {
  const launch = sb.spawn(launchArgs(`put "pid.${name}" "$$"\ngate "gate.${name}"`, ["--name", name, ...options]));
  const pid = Number(await sb.waitForFile(`pid.${name}`));
  const session = await waitFor(
    async () => (await sb.sessions()).find((s) => s.pid === pid),
    `session ${name} to be listed`,
  );
  return { launch, pid, session, end: () => sb.touch(`gate.${name}`) };
}

/** The CWD column as the CLI shows it: the home dir becomes `~`. */
function shownCwd(path: string): string {
  const home = homedir();
  return path === home ? "~" : path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

function jsonLines(text: string): unknown[] {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as unknown);
}

interface WatchEvent {
  type: string;
  id: number;
  reason: string;
  session: WireSession;
}

describe.concurrent("sessions list", () => {
  it("piped: one tab-separated line per session, no header, no colour, nothing truncated", async (context) => {
    const sb = sandbox(context);
    const longName = `agent-${"x".repeat(120)}`;
    const a = await startSession(sb, "alpha", ["--mesh", "m1"]);
    const b = await startSession(sb, longName, ["--mesh", "m2"]);

    const res = await sb.run(["sessions", "list"], { env: { FORCE_COLOR: "1" } });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe("");
    expect(res.stdout).not.toContain("\x1b");
    expect(res.stdout.endsWith("\n")).toBe(true);
    const rows = res.stdout
      .trimEnd()
      .split("\n")
      .map((line) => line.split("\t"));
    expect(rows).toHaveLength(2);
    for (const { session, pid } of [a, b]) {
      const row = rows.find((r) => r[0] === session.session_id);
      // SESSION NAME MESH PID AGE CWD
      expect(row).toEqual([
        session.session_id,
        session.display_name,
        session.mesh,
        String(pid),
        expect.stringMatching(/^\d+[smhd]$/),
        shownCwd(sb.work),
      ]);
    }
    expect(rows.map((r) => r[1])).toContain(longName);
    a.end();
    b.end();
    expect((await a.launch.closed).code).toBe(0);
    expect((await b.launch.closed).code).toBe(0);
  });

  it('--json prints {"sessions":[…]} exactly as the API returns it, and --mesh filters', async (context) => {
    const sb = sandbox(context);
    const a = await startSession(sb, "alpha", ["--mesh", "m1", "--role", "lead", "--group", "g"]);
    const b = await startSession(sb, "beta", ["--mesh", "m2"]);

    const all = await sb.run(["sessions", "list", "--json"]);
    expect(all.code).toBe(0);
    expect(all.stderr).toBe("");
    expect(JSON.parse(all.stdout)).toEqual(JSON.parse((await httpGet(sb.socket, "/v1/sessions")).text));
    expect((JSON.parse(all.stdout) as { sessions: WireSession[] }).sessions).toHaveLength(2);

    const m2 = await sb.run(["sessions", "list", "--mesh", "m2", "--json"]);
    expect(m2.code).toBe(0);
    expect(JSON.parse(m2.stdout)).toEqual({ sessions: [b.session] });
    expect(JSON.parse(m2.stdout)).toEqual(JSON.parse((await httpGet(sb.socket, "/v1/sessions?mesh=m2")).text));

    const m1 = await sb.run(["sessions", "ls", "--mesh=m1"]);
    expect(m1.code).toBe(0);
    expect(m1.stdout.trimEnd().split("\n")).toEqual([expect.stringMatching(new RegExp(`^${a.session.session_id}\\t`))]);

    const none = await sb.run(["sessions", "list", "--mesh", "nobody"]);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe("");

    const bad = await sb.run(["sessions", "list", "--mesh", "UPPER"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--mesh");
    a.end();
    b.end();
    await Promise.all([a.launch.closed, b.launch.closed]);
  });
});

describe.concurrent("sessions me", () => {
  it("exits 4 outside a session", async (context) => {
    const sb = sandbox(context);
    for (const args of [
      ["sessions", "me"],
      ["sessions", "me", "--json"],
    ]) {
      const res = await sb.run(args);
      expect(res.code).toBe(4);
      expect(res.stdout).toBe("");
      expect(res.stderr).toMatch(/session/);
    }
  });

  it("exits 4 with the token file of a session that has ended", async (context) => {
    const sb = sandbox(context);
    const res = await sb.run(
      launchArgs('cp "$CLAUDEMESH_IPC_TOKEN_FILE" saved-token\nput token-path "$CLAUDEMESH_IPC_TOKEN_FILE"'),
    );
    expect(res.code).toBe(0);
    // The path the session had (launch removed it) and a copy of the token it held.
    for (const file of [sb.read("token-path"), sb.path("saved-token")]) {
      const me = await sb.run(["sessions", "me", "--json"], { env: { CLAUDEMESH_IPC_TOKEN_FILE: file } });
      expect(me.code).toBe(4);
      expect(me.stdout).toBe("");
    }
  });
});

describe.concurrent("sessions watch", () => {
  it("--json prints the sessions, then one line per event, and survives a daemon restart", async (context) => {
    const sb = sandbox(context);
    const before = await startSession(sb, "before");
    const watch = sb.spawn(["sessions", "watch", "--json"]);
    const lines = () => jsonLines(watch.stdout());
    const events = () => lines().slice(1) as WatchEvent[];
    const eventsOf = (id: string) => events().filter((e) => e.session.session_id === id);
    const waitForEvents = (id: string, types: string[]) =>
      waitFor(
        () => eventsOf(id).length >= types.length && eventsOf(id),
        `${types.join(", ")} of ${id} (watch printed: ${watch.stdout()})`,
        15_000,
      );

    // First line: the current sessions, as `sessions list --json` prints them.
    await waitFor(() => lines().length >= 1, "the first line of watch");
    expect(lines()[0]).toEqual({ sessions: [before.session] });

    const first = await sb.run(["launch", "--session-id", "first", "--", "true"]);
    expect(first.code).toBe(0);
    const firstEvents = await waitForEvents("first", ["registered", "deregistered"]);
    expect(firstEvents.map((e) => [e.type, e.reason])).toEqual([
      ["session_registered", "registered"],
      ["session_deregistered", "deregistered"],
    ]);

    const oldDaemon = sb.lockPid();
    const restart = await sb.run(["daemon", "restart"]);
    expect(restart.code).toBe(0);
    expect(sb.lockPid()).not.toBe(oldDaemon);

    const second = await sb.run(["launch", "--session-id", "second", "--", "true"]);
    expect(second.code).toBe(0);
    const secondEvents = await waitForEvents("second", ["registered", "deregistered"]);
    expect(secondEvents.map((e) => e.type)).toEqual(["session_registered", "session_deregistered"]);

    // The session that lived through the restart still reports its end.
    before.end();
    expect((await before.launch.closed).code).toBe(0);
    await waitFor(
      () => eventsOf(before.session.session_id).some((e) => e.type === "session_deregistered"),
      "the deregistration of the session started before the watch",
    );
    expect(watch.child.exitCode).toBeNull();

    // Interrupted, it ends cleanly.
    process.kill(watch.pid, "SIGINT");
    const res = await watch.closed;
    expect(res.code).toBe(0);
    // Machine output only on stdout: every line is JSON.
    expect(() => jsonLines(res.stdout)).not.toThrow();
  });
});
