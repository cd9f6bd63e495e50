// A mesh across machines when things break, against a real nats-server: a daemon killed -9 (its
// sessions leave the other's peers through liveness, long before their presence expires; what
// was sent to them arrives after it restarts), the server restarted under 2,000 messages (none
// lost, none shown twice), the server hung (SIGSTOP) and down (sends accepted all along, local
// delivery unaffected, the outbox drained after).
import { join } from "node:path";
import { PRESENCE_BUCKET } from "@claudemesh/mesh";
import { Children, type NatsServer, startNatsServer } from "@claudemesh/testkit";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../../src/daemon.js";
import { createLogger } from "../../src/logger.js";
import { cleanup, http, killAndWait, spawnSleeper, startDaemonProcess, tempDir, waitFor } from "../harness.js";
import { boundDir, inboxOf, joinAs, metricOf, peersOf, sendAs, statesOf } from "../nats-harness.js";

const MESH = "team";
const children = new Children();
const sleeper = spawnSleeper();
const pid = sleeper.pid as number;
const running: RunningDaemon[] = [];
const servers: NatsServer[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.shutdown("test over")));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await children.stopAll();
  await cleanup();
});

async function server(): Promise<NatsServer> {
  const nats = await startNatsServer({ dir: tempDir(), children });
  servers.push(nats);
  return nats;
}

async function daemonOn(nats: NatsServer): Promise<RunningDaemon> {
  const dir = boundDir([{ name: MESH, servers: [nats.url] }]);
  const d = await startDaemon({ dir, logger: createLogger({ file: join(dir, "daemon.log") }), reaperIntervalMs: 100 });
  running.push(d);
  return d;
}

/** The mesh's status as `mesh status` reads it. */
async function meshStatus(socket: string): Promise<{ state: string; outbox: number; remote_peers: number }> {
  const res = await http(socket, "GET", `/v1/meshes/${MESH}`);
  expect(res.status, res.text).toBe(200);
  return (res.json() as { status: { state: string; outbox: number; remote_peers: number } }).status;
}

/** Remote sessions B dropped, whatever the cause. */
async function departures(socket: string): Promise<number> {
  let n = 0;
  for (const cause of ["deleted", "expired", "dead_daemon"]) {
    n += await metricOf(socket, "claudemesh_remote_peer_changes_total", { change: cause });
  }
  return n;
}

const seesRemote = async (socket: string, tok: string, id: string) =>
  (await peersOf(socket, tok)).some((p) => p.session_id === id && p.origin === "remote");

describe("a daemon killed -9", () => {
  it("leaves the other's peers through liveness; what was sent meanwhile arrives after its restart", async () => {
    const nats = await server();
    const dirA = boundDir([{ name: MESH, servers: [nats.url] }]);
    const a = await startDaemonProcess(dirA);
    const b = await daemonOn(nats);
    const api = await joinAs(a.socket, 1, MESH, pid, { display_name: "api" });
    const web = await joinAs(b.socketPath, 2, MESH, pid, { display_name: "web" });
    await waitFor(() => seesRemote(b.socketPath, web, "s1"), "B to see api");

    await killAndWait(a.child);
    const killedAt = Date.now();
    // Well inside the presence's 15 s: the ping subject answered "no responders".
    await waitFor(async () => !(await seesRemote(b.socketPath, web, "s1")), "api to leave B's peers", 5_000);
    const goneMs = Date.now() - killedAt;

    // Addressed by id while its daemon is away: accepted, waiting.
    const queued = await sendAs(b.socketPath, web, { to: "s1", text: "while you were away" });
    expect(queued.recipients).toEqual([expect.objectContaining({ session_id: "s1", state: "accepted" })]);

    const again = await startDaemonProcess(dirA); // api's process is alive: restored, with new keys
    await waitFor(async () => (await inboxOf(again.socket, api)).some((m) => m.id === queued.id), "the queued message");
    await waitFor(
      async () => (await statesOf(b.socketPath, web, queued.id)).s1 === "delivered",
      "B to see it delivered",
    );
    expect(goneMs).toBeLessThan(5_000);
  }, 60_000);
});

describe("a dead daemon's presence put back in the bucket (a replay, or a daemon that cannot answer)", () => {
  it("brings no ghost back: held until that daemon answers a ping, believed once it is back", async () => {
    const nats = await server();
    const dirA = boundDir([{ name: MESH, servers: [nats.url] }]);
    const a = await startDaemonProcess(dirA);
    const b = await daemonOn(nats);
    await joinAs(a.socket, 1, MESH, pid, { display_name: "api" });
    const web = await joinAs(b.socketPath, 2, MESH, pid, { display_name: "web" });
    await waitFor(() => seesRemote(b.socketPath, web, "s1"), "B to see api");
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await new Kvm(nc).open(PRESENCE_BUCKET);
      let key = "";
      for await (const k of await kv.keys(`${MESH}.*.s1`)) key = k;
      const saved = (await kv.get(key))?.value as Uint8Array;

      await killAndWait(a.child);
      await waitFor(async () => !(await seesRemote(b.socketPath, web, "s1")), "api to leave B's peers", 5_000);
      const held = () =>
        metricOf(b.socketPath, "claudemesh_remote_refused_total", { kind: "presence", reason: "daemon_gone" });
      for (let i = 0; i < 3; i++) await kv.put(key, saved); // signed, in date: only liveness can tell
      await waitFor(async () => (await held()) >= 3, "B to hold the replayed presences");
      expect(await seesRemote(b.socketPath, web, "s1")).toBe(false);
      expect(await metricOf(b.socketPath, "claudemesh_remote_peer_changes_total", { change: "arrived" })).toBe(1);
    } finally {
      await nc.close();
    }
    await startDaemonProcess(dirA); // api's process is alive: restored, answering pings, republished
    await waitFor(() => seesRemote(b.socketPath, web, "s1"), "api back on B once its daemon answers", 15_000);
  }, 60_000);
});

describe("a daemon that hangs (SIGSTOP) with its connection open", () => {
  it("has its sessions dropped within 15 s, by their unrefreshed presence, and back once it resumes", async () => {
    const nats = await server();
    const a = await startDaemonProcess(boundDir([{ name: MESH, servers: [nats.url] }]));
    const b = await daemonOn(nats);
    await joinAs(a.socket, 1, MESH, pid, { display_name: "api" });
    const web = await joinAs(b.socketPath, 2, MESH, pid, { display_name: "web" });
    await waitFor(() => seesRemote(b.socketPath, web, "s1"), "B to see api");

    a.child.kill("SIGSTOP");
    const stoppedAt = Date.now();
    try {
      // Its pings time out (never judged): only the presence's deadline can tell.
      await waitFor(async () => !(await seesRemote(b.socketPath, web, "s1")), "api to leave B's peers", 30_000);
      expect(Date.now() - stoppedAt).toBeLessThan(15_000);
      expect(await metricOf(b.socketPath, "claudemesh_remote_peer_changes_total", { change: "expired" })).toBe(1);
    } finally {
      a.child.kill("SIGCONT");
    }
    await waitFor(() => seesRemote(b.socketPath, web, "s1"), "api back on B once A refreshes", 15_000);
  }, 60_000);
});

describe("the server restarted while 2,000 messages flow", () => {
  it("loses none and shows none twice", async () => {
    const nats = await server();
    const a = await daemonOn(nats);
    const b = await daemonOn(nats);
    // 4 recipients on A, 20 senders on B (each within its burst of 100).
    const recipients = await Promise.all([1, 2, 3, 4].map((n) => joinAs(a.socketPath, n, MESH, pid)));
    const senders = await Promise.all(Array.from({ length: 20 }, (_, i) => joinAs(b.socketPath, 100 + i, MESH, pid)));
    await waitFor(async () => {
      const peers = await peersOf(b.socketPath, senders[0] as string);
      return peers.filter((p) => p.origin === "remote").length === 4;
    }, "B to see A's four sessions");

    const ids = new Map<string, string>(); // message id → recipient session id
    let restarted: Promise<void> | undefined;
    for (let round = 0; round < 100; round++) {
      await Promise.all(
        senders.map(async (tok, i) => {
          const to = `s${1 + ((round + i) % 4)}`;
          const m = await sendAs(b.socketPath, tok, { to, text: `m ${round} ${i}` });
          ids.set(m.id, to);
        }),
      );
      if (round === 30) restarted = nats.restart(); // SIGTERM, then the same port and store
    }
    await restarted;
    expect(ids.size).toBe(2_000);

    await waitFor(
      async () => {
        let delivered = 0;
        for (const [n, tok] of recipients.entries()) {
          const inbox = await inboxOf(a.socketPath, tok as string, "all");
          const seen = inbox.map((m) => m.id);
          // Never twice in an inbox.
          expect(new Set(seen).size).toBe(seen.length);
          delivered += seen.filter((id) => ids.get(id) === `s${n + 1}`).length;
        }
        return delivered === 2_000;
      },
      "all 2,000 in their inboxes on A",
      60_000,
    );
    // And the senders learn it: each one delivered once, seen from B (states only move forward).
    await waitFor(
      async () => (await metricOf(b.socketPath, "claudemesh_message_states_total", { state: "delivered" })) === 2_000,
      "B to see all 2,000 delivered",
      30_000,
    );
    expect(await metricOf(b.socketPath, "claudemesh_outbox_depth")).toBe(0);
    // No flapping: A's sessions were never dropped from B's peers across the restart.
    expect(await departures(b.socketPath)).toBe(0);
  }, 120_000);
});

describe("the server hung, then down", () => {
  it("SIGSTOP 10 s: sends are accepted all along and delivered after SIGCONT", async () => {
    const nats = await server();
    const a = await daemonOn(nats);
    const b = await daemonOn(nats);
    const api = await joinAs(a.socketPath, 1, MESH, pid);
    const web = await joinAs(b.socketPath, 2, MESH, pid);
    await waitFor(() => seesRemote(b.socketPath, web, "s1"), "B to see api");

    await nats.pause();
    const sent: string[] = [];
    const pausedAt = Date.now();
    while (Date.now() - pausedAt < 10_000) {
      sent.push((await sendAs(b.socketPath, web, { to: "s1", text: `paused ${sent.length}` })).id);
      await new Promise((r) => setTimeout(r, 500));
    }
    await nats.resume();
    await waitFor(
      async () => {
        const have = new Set((await inboxOf(a.socketPath, api, "all")).map((m) => m.id));
        return sent.every((id) => have.has(id));
      },
      "every message sent during the pause",
      60_000,
    );
    expect(await departures(b.socketPath)).toBe(0); // a hung server judges nobody dead
  }, 120_000);

  it("down 30 s: the local mesh works, the outbox holds the remote sends and drains after", async () => {
    const nats = await server();
    const a = await daemonOn(nats);
    const b = await daemonOn(nats);
    const api = await joinAs(a.socketPath, 1, MESH, pid);
    const web = await joinAs(b.socketPath, 2, MESH, pid);
    const local = await joinAs(b.socketPath, 3, MESH, pid, { display_name: "local-peer" });
    await waitFor(() => seesRemote(b.socketPath, web, "s1"), "B to see api");

    await nats.stop();
    await waitFor(async () => (await meshStatus(b.socketPath)).state !== "connected", "B to notice");
    const remoteSends: string[] = [];
    const downAt = Date.now();
    while (Date.now() - downAt < 30_000) {
      remoteSends.push((await sendAs(b.socketPath, web, { to: "s1", text: "to a machine away" })).id);
      // The local mesh is unaffected: delivered at once.
      const here = await sendAs(b.socketPath, web, { to: "local-peer", text: "next door" });
      expect(here.recipients).toEqual([expect.objectContaining({ state: "delivered" })]);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    expect((await meshStatus(b.socketPath)).outbox).toBeGreaterThan(0);
    expect((await inboxOf(b.socketPath, local)).length).toBe(remoteSends.length);

    await nats.restart();
    await waitFor(
      async () => {
        const have = new Set((await inboxOf(a.socketPath, api, "all")).map((m) => m.id));
        return remoteSends.every((id) => have.has(id));
      },
      "the outbox to drain into api's inbox",
      60_000,
    );
    await waitFor(async () => (await meshStatus(b.socketPath)).outbox === 0, "B's outbox to be empty");
  }, 120_000);
});
