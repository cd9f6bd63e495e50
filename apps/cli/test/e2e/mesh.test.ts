// `claudemesh mesh add|list|status|remove` through the built CLI and its daemon, against real
// nats-servers: what each prints, piped and with --json, and the exit codes: 0 done, 1 a server
// that failed the check (the daemon's message printed) or a name already bound, 2 bad input
// (caught before any daemon is started), 3 no daemon, 4 a mesh that is not bound.
import { existsSync, writeFileSync } from "node:fs";
import { Children, freePort, type NatsServer, startNatsServer } from "@claudemesh/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, sandbox, waitFor } from "../support/harness.js";

const TOKEN = "s3cret-of-the-server";
const FP = `SHA256:${"Q".repeat(43)}`;
const children = new Children();
let open: NatsServer;
let guarded: NatsServer;

beforeAll(async () => {
  [open, guarded] = await Promise.all([
    startNatsServer({ children }),
    startNatsServer({ children, args: ["--auth", TOKEN] }),
  ]);
}, 30_000);
afterAll(async () => {
  await Promise.all([open?.dispose(), guarded?.dispose()]);
  await children.stopAll();
});

const lines = (text: string) => text.trimEnd().split("\n");

/** Waits until `mesh status NAME --json` says connected, its round trip measured; returns that view. */
async function connected(sb: Sandbox, name: string): Promise<Record<string, unknown>> {
  let view: Record<string, unknown> = {};
  await waitFor(async () => {
    const res = await sb.run(["mesh", "status", name, "--json"]);
    if (res.code !== 0) return false;
    view = JSON.parse(res.stdout) as Record<string, unknown>;
    const status = view["status"] as { state?: string; rtt_ms?: number | null } | null;
    return status?.state === "connected" && typeof status.rtt_ms === "number";
  }, `mesh ${name} to connect`);
  return view;
}

describe.concurrent("mesh", () => {
  it("add, list, status and remove: their output piped and with --json, and exit 0, 1 and 4", async (context) => {
    const sb = sandbox(context);
    const add = await sb.run(["mesh", "add", "team", "--nats", open.url, "--trust-member", FP]);
    expect([add.code, add.stderr]).toEqual([0, ""]);
    expect(add.stdout).toBe(`mesh team bound to ${open.url}\n`);

    const view = await connected(sb, "team");
    expect(view).toMatchObject({ name: "team", servers: [open.url], credentials: null, trust_members: [FP] });

    // Piped: MESH STATE SERVER RTT REMOTE PEERS OUTBOX, tab-separated, no header.
    const list = await sb.run(["mesh", "list"]);
    expect(list.code).toBe(0);
    expect(lines(list.stdout).map((l) => l.split("\t"))).toEqual([
      ["team", "connected", `127.0.0.1:${open.port}`, expect.stringMatching(/^\d+(\.\d)?ms$/), "0", "0"],
    ]);
    expect((await sb.run(["mesh", "status"])).stdout).toBe(list.stdout);
    const json = JSON.parse((await sb.run(["mesh", "list", "--json"])).stdout) as { meshes: unknown[] };
    expect(json.meshes).toHaveLength(1);
    expect(json.meshes[0]).toMatchObject({ name: "team", status: { state: "connected" } });

    const status = await sb.run(["mesh", "status", "team"]);
    expect(status.code).toBe(0);
    expect(status.stdout.split("\t").slice(0, 3)).toEqual(["team", "connected", `127.0.0.1:${open.port}`]);

    // A second add of the name fails, and says how to free it.
    const again = await sb.run(["mesh", "add", "team", "--nats", guarded.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^claudemesh: mesh team is already bound .*mesh remove team/);

    const removed = await sb.run(["mesh", "remove", "team"]);
    expect([removed.code, removed.stdout]).toEqual([0, "mesh team unbound: it is local to this machine again\n"]);
    for (const argv of [
      ["mesh", "remove", "team"],
      ["mesh", "status", "team"],
      ["mesh", "status", "never-bound", "--json"],
    ]) {
      const res = await sb.run(argv);
      expect([res.code, res.stdout], argv.join(" ")).toEqual([4, ""]);
      expect(res.stderr).toMatch(/^claudemesh: mesh \S+ is not bound to a NATS server/);
    }
    expect((await sb.run(["mesh", "list"])).stdout).toBe("");
    expect(JSON.parse((await sb.run(["mesh", "list", "--json"])).stdout)).toEqual({ meshes: [] });
  });

  it("exit 1 with the daemon's message when the check fails: a wrong token, a port nothing listens on; nothing is bound", async (context) => {
    const sb = sandbox(context);
    writeFileSync(sb.path("wrong.token"), "not-it\n", { mode: 0o600 });
    const wrong = await sb.run(["mesh", "add", "guarded", "--nats", guarded.url, "--token-file", "wrong.token"]);
    expect([wrong.code, wrong.stdout]).toEqual([1, ""]);
    expect(wrong.stderr).toContain(`refused the credentials in ${sb.path("wrong.token")}`);

    const port = await freePort();
    const nowhere = await sb.run(["mesh", "add", "nowhere", "--nats", `nats://127.0.0.1:${port}`]);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toMatch(new RegExp(`cannot reach the NATS server at nats://127\\.0\\.0\\.1:${port}`));
    expect(JSON.parse((await sb.run(["mesh", "list", "--json"])).stdout)).toEqual({ meshes: [] });

    // The right token, by a relative path: recorded as an absolute one.
    writeFileSync(sb.path("right.token"), `${TOKEN}\n`, { mode: 0o600 });
    const right = await sb.run(["mesh", "add", "guarded", "--nats", guarded.url, "--token-file", "right.token"]);
    expect(right.code, right.stderr).toBe(0);
    const view = await connected(sb, "guarded");
    expect(view["credentials"]).toEqual({ kind: "token", file: sb.path("right.token") });
    const status = await sb.run(["mesh", "status", "guarded", "--json"]);
    expect(status.stdout).not.toContain(TOKEN);
  });

  it("exit 2 for bad input, before any daemon is started; exit 3 when no daemon may be started", async (context) => {
    const sb = sandbox(context);
    writeFileSync(sb.path("t"), "x\n");
    for (const [argv, message] of [
      [["mesh", "add", "team"], /no server: give --nats/],
      [["mesh", "add", "Team", "--nats", open.url], /invalid mesh name/],
      [["mesh", "add", "team", "--nats", "http://h:1"], /unsupported scheme/],
      [
        ["mesh", "add", "team", "--nats", open.url, "--creds", "absent.creds"],
        /--creds \S+absent\.creds: no such file/,
      ],
      [["mesh", "add", "team", "--nats", open.url, "--creds", "t", "--token-file", "t"], /give one of/],
      [["mesh", "add", "team", "--nats", open.url, "--trust-member", "nope"], /not a member fingerprint/],
      [["mesh", "add", "team", "--nats"], /argument missing/],
      [["mesh", "frobnicate"], /unknown command/],
    ] as const) {
      const res = await sb.run(argv);
      expect(res.code, argv.join(" ")).toBe(2);
      expect(res.stderr).toMatch(message);
    }
    expect(existsSync(sb.dir)).toBe(false);

    const off = { env: { CLAUDEMESH_NO_AUTOSTART: "1" } };
    for (const argv of [
      ["mesh", "list"],
      ["mesh", "status", "team"],
      ["mesh", "remove", "team"],
    ]) {
      expect((await sb.run(argv, off)).code, argv.join(" ")).toBe(3);
    }
    expect((await sb.run(["mesh", "add", "team", "--nats", open.url], off)).code).toBe(3);
  });

  it("a binding survives a daemon restart", async (context) => {
    const sb = sandbox(context);
    expect((await sb.run(["mesh", "add", "team", "--nats", open.url])).code).toBe(0);
    await connected(sb, "team");
    expect((await sb.run(["daemon", "restart"])).code).toBe(0);
    const view = await connected(sb, "team");
    expect(view["name"]).toBe("team");
  });
});
