// `peers`, `send`, `inbox`, `message`, `status` and `whoami` through the built CLI, as a user and
// the programs inside sessions use them. A command "inside a session" runs with the session's
// CLAUDEMESH_IPC_TOKEN_FILE, as any tool started by the session's program would.
import { describe, expect, it } from "vitest";
import { peer, sandbox, waitFor } from "../support/harness.js";

const lines = (text: string) => text.trimEnd().split("\n");
const sentId = (stdout: string) => /^sent (\S+) → /.exec(stdout)?.[1] as string;

describe.concurrent("peers, whoami, status", () => {
  it("peers: the others of the session's mesh, piped as NAME SESSION ROLE STATUS HOST AGE SUMMARY", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api", ["--role", "backend", "--summary", "schema work"]);
    const web = await peer(sb, "web");
    await peer(sb, "elsewhere", ["--mesh", "other"]);

    const inside = await sb.run(["peers"], { env: web.env });
    expect([inside.code, inside.stderr]).toEqual([0, ""]);
    expect(lines(inside.stdout).map((l) => l.split("\t"))).toEqual([
      ["api", api.id, "backend", "-", "local", expect.stringMatching(/^\d+s$/), "schema work"],
    ]);
    const shell = await sb.run(["peers", "--json"]);
    const ids = (JSON.parse(shell.stdout) as { peers: { session_id: string }[] }).peers.map((p) => p.session_id);
    expect(ids).toEqual([api.id, web.id]); // a plain shell sees the default mesh, itself no session
    const other = await sb.run(["peers", "--mesh", "other"]);
    expect(lines(other.stdout)).toHaveLength(1);
  });

  it("status sets and shows what a session says about itself; whoami names the session or the member", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const set = await sb.run(["status", "--summary", "fixing CI", "--status", "working", "--inbound", "hold"], {
      env: api.env,
    });
    expect([set.code, set.stdout]).toEqual([0, "working\thold\tfixing CI\n"]);
    const shown = await sb.run(["status", "--json"], { env: api.env });
    expect(JSON.parse(shown.stdout)).toMatchObject({
      session: { status: "working", inbound: "hold", summary: "fixing CI" },
    });
    expect((await sb.run(["status", "--status", "napping"], { env: api.env })).code).toBe(2);
    expect((await sb.run(["status"])).code).toBe(4);

    const inside = JSON.parse((await sb.run(["whoami", "--json"], { env: api.env })).stdout) as {
      session: { session_id: string; member_fingerprint: string };
      member: { fingerprint: string };
    };
    expect(inside.session.session_id).toBe(api.id);
    expect(inside.session.member_fingerprint).toBe(inside.member.fingerprint);
    const outside = await sb.run(["whoami"]);
    expect(outside.code).toBe(0);
    expect(outside.stdout).toMatch(/^SHA256:[A-Za-z0-9+/]{43}\t/);
    expect((await sb.run(["daemon", "status", "--json"])).stdout).toContain(inside.member.fingerprint);
  });
});

describe.concurrent("send, inbox, message", () => {
  it("sends by name; printing the inbox surfaces it; --ack acks it; the sender sees each state", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const res = await sb.run(["send", "api", "the", "schema", "changed"]);
    expect(res.code).toBe(0);
    expect(lines(res.stdout)).toEqual([expect.stringMatching(/^sent \S+ → 1 recipient$/), `api\t${api.id}\tdelivered`]);
    const id = sentId(res.stdout);

    const read = await sb.run(["inbox"], { env: api.env });
    expect(read.code).toBe(0);
    expect(read.stdout).toMatch(new RegExp(`^\\[peer message ${id}\\] from \\S+ \\(the member, from a shell, SHA256:`));
    expect(read.stdout).toContain("\n> the schema changed\n");
    const state = async () => (await sb.run(["message", id])).stdout.split("\t")[2];
    expect(await state()).toBe("surfaced");
    // Printed once: nothing new the second time; --all still shows it.
    expect((await sb.run(["inbox"], { env: api.env })).stdout).toBe("");
    const all = JSON.parse((await sb.run(["inbox", "--all", "--json"], { env: api.env })).stdout) as {
      messages: { id: string; state: string }[];
    };
    expect(all.messages.map((m) => [m.id, m.state])).toEqual([[id, "surfaced"]]);
    await sb.run(["inbox", "--all", "--ack"], { env: api.env });
    expect(await state()).toBe("acked");
    // A session reads only its own inbox.
    const web = await peer(sb, "web");
    expect((await sb.run(["inbox", "--all"], { env: web.env })).stdout).toBe("");
    expect((await sb.run(["inbox"])).code).toBe(4);
  });

  it("reads the text from stdin; refuses unknown (4) and ambiguous (2, candidates on stderr) recipients", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const a1 = await peer(sb, "twin");
    const a2 = await peer(sb, "twin");
    const piped = await sb.run(["send", "api", "--json"], { input: "line one\r\nline two\n" });
    expect(piped.code).toBe(0);
    expect(JSON.parse(piped.stdout)).toMatchObject({
      message: { recipients: [{ session_id: api.id, state: "delivered" }] },
    });
    const read = await sb.run(["inbox", "--json"], { env: api.env });
    expect((JSON.parse(read.stdout) as { messages: { text: string }[] }).messages[0]?.text).toBe("line one\nline two");

    const unknown = await sb.run(["send", "nobody", "hi"]);
    expect([unknown.code, unknown.stdout]).toEqual([4, ""]);
    expect(unknown.stderr).toContain('"nobody"');
    const ambiguous = await sb.run(["send", "twin", "hi"]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain(a1.id);
    expect(ambiguous.stderr).toContain(a2.id);
    expect((await sb.run(["send", "api", "x", "--priority", "urgent"])).code).toBe(2);
    expect((await sb.run(["send", "api"], { input: "" })).code).toBe(2);
  });

  it("anycast reaches one holder of the role; * every other session but the sender", async (context) => {
    const sb = sandbox(context);
    const r1 = await peer(sb, "r1", ["--role", "reviewer"]);
    const r2 = await peer(sb, "r2", ["--role", "reviewer"]);
    const me = await peer(sb, "me");
    const any = await sb.run(["send", "role:reviewer", "look?"], { env: me.env });
    expect(lines(any.stdout).slice(1)).toHaveLength(1);
    const all = await sb.run(["send", "*", "main is broken"], { env: r1.env });
    const reached = lines(all.stdout)
      .slice(1)
      .map((l) => l.split("\t")[1]);
    expect(reached.sort()).toEqual([r2.id, me.id].sort());
  });

  it("--wait surfaced returns once the recipient printed it; --wait acked times out with exit 5", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const waiting = sb.spawn(["send", "api", "please look", "--wait", "surfaced", "--timeout", "60"]);
    await waitFor(() => waiting.stdout().includes("waiting until surfaced"), "the send to wait");
    await sb.run(["inbox"], { env: api.env });
    const done = await waiting.closed;
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`api\t${api.id}\tsurfaced`);

    const timedOut = await sb.run(["send", "api", "ack me", "--wait", "acked", "--timeout", "1"]);
    expect(timedOut.code).toBe(5);
    expect(timedOut.stdout).toContain("delivered");
    expect(timedOut.stderr).toContain("within 1 s");
  });

  it("inbound policies: refuse is refused (exit 1 with --wait), hold is delivered and readable", async (context) => {
    const sb = sandbox(context);
    const closed = await peer(sb, "closed", ["--inbound", "refuse"]);
    const held = await peer(sb, "held", ["--inbound", "hold"]);
    const refused = await sb.run(["send", "closed", "x", "--wait", "surfaced"]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`closed\t${closed.id}\trefused (policy)`);
    const kept = await sb.run(["send", "held", "x"]);
    expect(kept.stdout).toContain("delivered");
    expect((await sb.run(["inbox"], { env: held.env })).stdout).toContain("> x\n");
  });

  it("inbox --watch prints messages as they arrive and marks them surfaced", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const watch = sb.spawn(["inbox", "--watch", "--json"], { env: api.env });
    await new Promise((r) => setTimeout(r, 300));
    const first = sentId((await sb.run(["send", "api", "one"])).stdout);
    await waitFor(() => watch.stdout().includes('"one"'), "the first message");
    const second = sentId((await sb.run(["send", "api", "two"])).stdout);
    await waitFor(() => watch.stdout().includes('"two"'), "the second message");
    await waitFor(
      async () => (await sb.run(["message", first])).stdout.includes("surfaced"),
      "the first to be marked surfaced",
    );
    watch.child.kill("SIGINT");
    expect((await watch.closed).code).toBe(0);
    expect(lines(watch.stdout()).map((l) => (JSON.parse(l) as { text: string }).text)).toEqual(["one", "two"]);
    expect((await sb.run(["message", second])).stdout).toContain("surfaced");
  });

  it("a message whose printing fails stays unsurfaced", async (context) => {
    const sb = sandbox(context);
    const api = await peer(sb, "api");
    const id = sentId((await sb.run(["send", "api", "keep me"])).stdout);
    // A reader that went away before the inbox was printed: the write fails (EPIPE), so nothing may be marked.
    const reading = sb.spawn(["inbox"], { env: api.env });
    reading.child.stdout?.destroy();
    await reading.exited;
    expect(reading.stdout()).toBe("");
    expect((await sb.run(["message", id])).stdout).toContain("delivered");
  });
});
