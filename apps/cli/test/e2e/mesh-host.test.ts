// From nothing to two machines in three commands, through the built CLI: `mesh host` on A (a
// real nats-server it runs itself, in operator mode), `mesh invite` on A, `mesh join` on B. Then
// a message each way, an invite used twice, an expired invite, a revoked invite and a revoked
// member, each refused. A and B are two daemon dirs on this machine; the server is on a free
// loopback port and is stopped by pid with the host.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, killPid, processGone } from "@claudemesh/testkit";
import { describe, expect, it } from "vitest";
import { peer, type Sandbox, sandbox, waitFor } from "../support/harness.js";

const sentId = (stdout: string) => /^sent (\S+) → /.exec(stdout)?.[1] as string;

interface PeerView {
  readonly display_name: string;
  readonly origin: string;
}

async function peersOf(sb: Sandbox): Promise<PeerView[]> {
  const res = await sb.run(["peers", "--mesh", "team", "--json"]);
  return res.code === 0 ? (JSON.parse(res.stdout) as { peers: PeerView[] }).peers : [];
}

async function inboxTexts(sb: Sandbox, env: Record<string, string>): Promise<string[]> {
  const res = await sb.run(["inbox", "--all", "--json"], { env });
  return (JSON.parse(res.stdout) as { messages: { text: string }[] }).messages.map((m) => m.text);
}

/** `mesh host` in the background on A; resolves once it says it is hosting. */
async function host(a: Sandbox, hostDir: string, port: number) {
  const running = a.spawn(["mesh", "host", "team", "--listen", `127.0.0.1:${port}`, "--dir", hostDir]);
  a.onCleanup(async () => {
    // The host stops its server on SIGTERM; were it gone first, its server is stopped by its pid.
    if (!processGone(running.pid)) {
      process.kill(running.pid, "SIGTERM");
      await waitFor(() => processGone(running.pid), "mesh host to stop", 20_000).catch(() => killPid(running.pid));
    }
    try {
      const pid = Number(readFileSync(join(hostDir, "nats-server.pid"), "utf8"));
      if (pid > 0 && !processGone(pid)) await killPid(pid);
    } catch {}
  });
  await waitFor(
    () => running.stdout().includes("hosted at"),
    `mesh host to come up (stderr: ${running.stderr()})`,
    30_000,
  );
  return running;
}

describe("mesh host, invite, join", () => {
  it("joins a second daemon in three commands; a message goes each way; used, expired and revoked invites and a revoked member are refused", async (context) => {
    const a = sandbox(context);
    const b = sandbox(context);
    const hostDir = join(a.root, "host");
    const port = await freePort();
    await host(a, hostDir, port);

    const invite = await a.run(["mesh", "invite", "team", "--dir", hostDir]);
    expect(invite.code, invite.stderr).toBe(0);
    const joinString = invite.stdout.trim();
    expect(joinString).toMatch(/^claudemesh-join:1:[A-Za-z0-9_-]+$/);
    expect(invite.stderr).toMatch(/good once until/);

    const joined = await b.run(["mesh", "join", joinString]);
    expect([joined.code, joined.stdout], joined.stderr).toEqual([
      0,
      `mesh team joined: bound to nats://127.0.0.1:${port}\n`,
    ]);

    const alice = await peer(a, "alice", ["--mesh", "team"]);
    const bob = await peer(b, "bob", ["--mesh", "team"]);
    await waitFor(
      async () => (await peersOf(a)).some((p) => p.display_name === "bob" && p.origin === "remote"),
      "A to see bob",
    );
    await waitFor(
      async () => (await peersOf(b)).some((p) => p.display_name === "alice" && p.origin === "remote"),
      "B to see alice",
    );

    const toBob = await a.run(["send", "bob", "hello bob"], {
      env: alice.env,
    });
    expect(toBob.code, toBob.stderr).toBe(0);
    const toAlice = await b.run(["send", "alice", "hello alice"], {
      env: bob.env,
    });
    expect(toAlice.code, toAlice.stderr).toBe(0);
    await waitFor(async () => (await inboxTexts(b, bob.env)).join() === "hello bob", "bob to get hello bob");
    await waitFor(async () => (await inboxTexts(a, alice.env)).join() === "hello alice", "alice to get hello alice");
    expect(sentId(toBob.stdout)).not.toBe(sentId(toAlice.stdout));

    // The same string again: used once, the server refuses it.
    await waitFor(async () => {
      const again = await b.run(["mesh", "join", joinString]);
      return again.code === 1 && /refused/.test(again.stderr);
    }, "the used invite to be refused");

    // Expired, and revoked before use.
    const short = await a.run(["mesh", "invite", "team", "--dir", hostDir, "--expires", "1s", "--json"]);
    const unused = await a.run(["mesh", "invite", "team", "--dir", hostDir, "--json"]);
    const { id: unusedId, join: unusedJoin } = JSON.parse(unused.stdout) as { id: string; join: string };
    const revokeInvite = await a.run(["mesh", "revoke", "team", unusedId, "--dir", hostDir]);
    expect([revokeInvite.code, revokeInvite.stdout]).toEqual([
      0,
      `revoked invite ${unusedId}: the server refuses it from now on\n`,
    ]);
    const c = sandbox(context);
    const revoked = await c.run(["mesh", "join", unusedJoin]);
    expect([revoked.code, revoked.stderr]).toEqual([1, expect.stringMatching(/server refused the invite/)]);
    const shortInvite = JSON.parse(short.stdout) as { join: string; expires_at: string };
    await waitFor(() => Date.now() > Date.parse(shortInvite.expires_at) + 100, "the short invite to expire", 5_000);
    const expired = await c.run(["mesh", "join", shortInvite.join]);
    expect([expired.code, expired.stderr]).toEqual([1, expect.stringMatching(/expired/)]);

    // A revoked member: its connection is closed and it cannot come back; A stops seeing bob.
    const fp = (JSON.parse((await b.run(["whoami", "--json"])).stdout) as { member: { fingerprint: string } }).member
      .fingerprint;
    const revokeMember = await a.run(["mesh", "revoke", "team", fp, "--dir", hostDir]);
    expect(revokeMember.code, revokeMember.stderr).toBe(0);
    expect(revokeMember.stdout).toMatch(
      new RegExp(`^revoked member ${fp.replace(/[+/]/g, "\\$&")} \\(daemon [0-9a-f]{16}\\)`),
    );
    await waitFor(async () => {
      const view = JSON.parse((await b.run(["mesh", "status", "team", "--json"])).stdout) as {
        status: { state: string };
      };
      return view.status.state !== "connected";
    }, "B's link to drop");
    await waitFor(
      async () => !(await peersOf(a)).some((p) => p.display_name === "bob"),
      "A to stop seeing bob",
      30_000,
    );
    expect((await a.run(["mesh", "revoke", "team", "SHA256:nobody", "--dir", hostDir])).code).toBe(4);
  });

  it("refuses bad input before anything runs: a damaged join string (2), a mesh this machine does not host (4)", async (context) => {
    const sb = sandbox(context);
    const damaged = await sb.run(["mesh", "join", "claudemesh-join:1:AAAA"]);
    expect([damaged.code, damaged.stderr]).toEqual([
      2,
      expect.stringMatching(/^claudemesh: the join string is damaged/),
    ]);
    const notOne = await sb.run(["mesh", "join", "hello"]);
    expect(notOne.code).toBe(2);
    const none = await sb.run(["mesh", "invite", "team", "--dir", join(sb.root, "nothing")]);
    expect([none.code, none.stderr]).toEqual([4, expect.stringMatching(/no hosted mesh in .*mesh host team first/)]);
    // As a login service: the unit it would write, and no install inside CI.
    const unit = await sb.run(["mesh", "host", "team", "--install", "--dry-run", "--dir", join(sb.root, "h")]);
    expect(unit.code, unit.stderr).toBe(0);
    expect(unit.stdout).toMatch(/^ExecStart=\S+ \S+cli\.js mesh host team --dir \S+\/h$/m);
    const inCi = await sb.run(["mesh", "host", "team", "--install"], { env: { CI: "true" } });
    expect([inCi.code, inCi.stderr]).toEqual([
      1,
      expect.stringMatching(/refusing to install a login service inside CI/),
    ]);
    const badExpiry = await sb.run(["mesh", "invite", "team", "--dir", sb.root, "--expires", "soon"]);
    expect([badExpiry.code, badExpiry.stderr]).toEqual([
      2,
      expect.stringMatching(/^claudemesh: --expires: "soon" is not a duration/),
    ]);
  });
});
