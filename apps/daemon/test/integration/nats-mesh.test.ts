// A mesh across two daemons (each its own dir, member key and socket) through a real
// nats-server: presence both ways, messages by name, role and broadcast, the sender seeing
// delivered → surfaced → acked from the other machine, departures, and a raw subscriber on
// every subject that never sees a message's text.
import { join } from "node:path";
import { Children, type NatsServer, startNatsServer } from "@claudemesh/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../../src/daemon.js";
import { createLogger } from "../../src/logger.js";
import { authorized, cleanup, http, spawnSleeper, tempDir, waitFor } from "../harness.js";
import { boundDir, inboxOf, type Json, joinAs, markAs, peersOf as peersAt, sendAs, statesOf } from "../nats-harness.js";

const MESH = "team";
const SECRET = "plaintext-that-must-never-cross-nats";

const children = new Children();
const sleeper = spawnSleeper();
const pid = sleeper.pid as number;
let nats: NatsServer;
let spy: NatsConnection;
const captured: string[] = [];
let a: RunningDaemon;
let b: RunningDaemon;

/** A daemon with `team` bound to the test's server, written as `mesh add` would. */
async function daemonBound(): Promise<RunningDaemon> {
  const dir = boundDir([{ name: MESH, servers: [nats.url] }]);
  return startDaemon({ dir, logger: createLogger({ file: join(dir, "daemon.log") }), reaperIntervalMs: 100 });
}

beforeAll(async () => {
  nats = await startNatsServer({ dir: tempDir(), children, monitor: true });
  spy = await connect({ servers: nats.url });
  // Everything that crosses the server, every subject (JetStream and KV included).
  spy.subscribe(">", {
    callback: (_e, m) => {
      captured.push(`${m.subject} ${new TextDecoder().decode(m.data)}`);
    },
  });
  a = await daemonBound();
  b = await daemonBound();
}, 30_000);

afterAll(async () => {
  await Promise.all([a?.shutdown("test over"), b?.shutdown("test over")]);
  await spy?.close();
  await nats?.stop();
  await children.stopAll();
  await cleanup();
});

const join2 = (d: RunningDaemon, n: number, body: Json) => joinAs(d.socketPath, n, MESH, pid, body);
const peersOf = (d: RunningDaemon, tok: string) => peersAt(d.socketPath, tok);
const send = (d: RunningDaemon, tok: string, body: Json) => sendAs(d.socketPath, tok, body);
const states = (d: RunningDaemon, tok: string, id: string) => statesOf(d.socketPath, tok, id);
const inbox = (d: RunningDaemon, tok: string) => inboxOf(d.socketPath, tok);
const mark = (d: RunningDaemon, tok: string, ids: string[], state: "surfaced" | "acked") =>
  markAs(d.socketPath, tok, ids, state);

describe("a mesh across two daemons on one nats-server", () => {
  let api: string; // on A
  let worker: string; // on A
  let web: string; // on B

  it("sees each other's sessions, remote ones with origin and host, no pid, no cwd", async () => {
    api = await join2(a, 1, { display_name: "api", role: "backend", cwd: "/secret/path" });
    worker = await join2(a, 2, { display_name: "worker", role: "backend" });
    web = await join2(b, 3, { display_name: "web" });
    const seenOnB = await waitFor(async () => {
      const peers = await peersOf(b, web);
      return peers.filter((p) => p.origin === "remote").length === 2 ? peers : undefined;
    }, "B to see A's two sessions");
    const remoteApi = seenOnB.find((p) => p.session_id === "s1") as Json;
    expect(remoteApi).toMatchObject({ display_name: "api", role: "backend", origin: "remote", mesh: MESH });
    expect(typeof remoteApi.host).toBe("string");
    expect(remoteApi).not.toHaveProperty("pid");
    expect(remoteApi).not.toHaveProperty("cwd");
    await waitFor(
      async () => (await peersOf(a, api)).some((p) => p.session_id === "s3" && p.origin === "remote"),
      "A to see B's session",
    );
  });

  it("a message by name goes delivered → surfaced → acked, and the sender sees each state", async () => {
    const sent = await send(b, web, { to: "api", text: `${SECRET} one` });
    expect(sent.recipients).toEqual([expect.objectContaining({ session_id: "s1", state: "accepted" })]);
    const arrived = await waitFor(async () => {
      const items = await inbox(a, api);
      return items.find((m) => m.id === sent.id);
    }, "the message in api's inbox on A");
    expect(arrived.text).toBe(`${SECRET} one`);
    await waitFor(async () => (await states(b, web, sent.id)).s1 === "delivered", "B to see delivered");
    await mark(a, api, [sent.id], "surfaced");
    await waitFor(async () => (await states(b, web, sent.id)).s1 === "surfaced", "B to see surfaced");
    await mark(a, api, [sent.id], "acked");
    await waitFor(async () => (await states(b, web, sent.id)).s1 === "acked", "B to see acked");
  });

  it("role anycast picks one remote session; a broadcast reaches every one, each once", async () => {
    const any = await send(b, web, { to: "role:backend", text: `${SECRET} anycast` });
    expect(any.recipients).toHaveLength(1);
    const picked = (any.recipients[0] as { session_id: string }).session_id;
    const tokOf = picked === "s1" ? api : worker;
    await waitFor(async () => (await inbox(a, tokOf)).some((m) => m.id === any.id), "the anycast on A");

    const all = await send(b, web, { to: "*", text: `${SECRET} broadcast` });
    expect(all.recipients.map((r) => r.session_id).sort()).toEqual(["s1", "s2"]);
    for (const tok of [api, worker]) {
      await waitFor(async () => (await inbox(a, tok)).some((m) => m.id === all.id), "the broadcast on A");
    }
    await waitFor(async () => {
      const s = await states(b, web, all.id);
      return s.s1 === "delivered" && s.s2 === "delivered";
    }, "both delivered, seen from B");
    expect((await inbox(a, api)).filter((m) => m.id === all.id)).toHaveLength(1);
  });

  it("a session that leaves A leaves B's peers", async () => {
    const res = await http(a.socketPath, "DELETE", "/v1/sessions/me", { headers: authorized(worker) });
    expect(res.status, res.text).toBe(200);
    await waitFor(async () => !(await peersOf(b, web)).some((p) => p.session_id === "s2"), "s2 gone from B");
  });

  it("keeps one connection per server: two meshes bound to the same one share it", async () => {
    const connections = async () => {
      const connz = (await (await fetch(`${nats.monitorUrl}/connz`)).json()) as { connections: { name?: string }[] };
      return connz.connections.filter((c) => c.name?.startsWith("claudemesh")).length;
    };
    expect(await connections()).toBe(2); // A and B
    const dir = boundDir([
      { name: MESH, servers: [nats.url] },
      { name: "other", servers: [nats.url] },
    ]);
    const c = await startDaemon({ dir, logger: createLogger({ file: join(dir, "daemon.log") }) });
    try {
      const tok = await joinAs(c.socketPath, 9, "other", pid, { display_name: "elsewhere" });
      await waitFor(async () => (await peersOf(a, api)).some((p) => p.session_id === "s3"), "A to still see web");
      expect((await peersAt(c.socketPath, tok)).filter((p) => p.origin === "remote")).toEqual([]);
      // Both of C's meshes attached (each sees the server), then count: one connection, not two.
      for (const mesh of [MESH, "other"]) {
        await waitFor(async () => {
          const res = await http(c.socketPath, "GET", `/v1/meshes/${mesh}`);
          return (res.json() as { status?: { state: string } }).status?.state === "connected";
        }, `C's ${mesh} connected`);
      }
      await waitFor(async () => (await peersAt(c.socketPath, tok)).length === 0 && (await connections()) >= 3, "C in");
      expect(await connections()).toBe(3);
    } finally {
      await c.shutdown("test over");
    }
  });

  it("no message text ever crossed the server", async () => {
    // Every frame above went through the spy's subscription too.
    await waitFor(() => captured.some((c) => c.startsWith("cm.team.to.")), "the spy to have seen frames");
    expect(captured.filter((c) => c.includes(SECRET))).toEqual([]);
  });
});
