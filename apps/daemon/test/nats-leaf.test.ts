// A server per machine: each daemon talks to a leaf nats-server of its own (no JetStream, no
// port open to others), and each leaf connects out to a hub that has JetStream. A message each
// way; then one machine is cut off from the hub (its leaf restarted pointing at a port where no
// hub listens): that machine's local mesh keeps working, its sends to the other machine wait in
// its outbox (`mesh status` shows them), and once the leaf reaches the hub again everything
// queued on either side is delivered once and presence is back on both sides.
import { join } from "node:path";
import { MESSAGE_STREAM } from "@claudemesh/mesh";
import {
  Children,
  freePort,
  type LeafHub,
  type LeafNode,
  leafConnected,
  startLeaf,
  startLeafHub,
} from "@claudemesh/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../src/daemon.js";
import { createLogger } from "../src/logger.js";
import { cleanup, http, spawnSleeper, waitFor } from "./harness.js";
import { boundDir, inboxOf, joinAs, peersOf, sendAs, statesOf } from "./nats-harness.js";

const MESH = "team";
const children = new Children();
const pid = spawnSleeper().pid as number;
const running: RunningDaemon[] = [];
const servers: { dispose(): Promise<void> }[] = [];

afterAll(async () => {
  await Promise.all(running.splice(0).map((d) => d.shutdown("test over")));
  await Promise.all(servers.map((s) => s.dispose()));
  await children.stopAll();
  await cleanup();
});

async function daemonOn(leaf: LeafNode): Promise<RunningDaemon> {
  const dir = boundDir([{ name: MESH, servers: [leaf.url] }]);
  const d = await startDaemon({ dir, logger: createLogger({ file: join(dir, "daemon.log") }), reaperIntervalMs: 100 });
  running.push(d);
  return d;
}

async function meshStatus(socket: string): Promise<{ state: string; outbox: number; remote_peers: number }> {
  const res = await http(socket, "GET", `/v1/meshes/${MESH}`);
  expect(res.status, res.text).toBe(200);
  return (res.json() as { status: { state: string; outbox: number; remote_peers: number } }).status;
}

const sees = async (socket: string, tok: string, id: string) =>
  (await peersOf(socket, tok)).some((p) => p.session_id === id && p.origin === "remote");

/** Every id in the inbox, each once. */
async function holdsOnce(socket: string, tok: string, ids: readonly string[]): Promise<boolean> {
  const seen = (await inboxOf(socket, tok, "all")).map((m) => m.id);
  expect(new Set(seen).size).toBe(seen.length);
  const have = new Set(seen);
  return ids.every((id) => have.has(id));
}

describe("a leaf nats-server per machine, connected out to a hub with JetStream", () => {
  it("carries messages each way; a machine cut off from the hub works locally, queues, and catches up once", async () => {
    const hub: LeafHub & { dispose(): Promise<void> } = await startLeafHub({ children });
    servers.push(hub);
    const leafA = await startLeaf(hub, "leafA", { children });
    const leafB = await startLeaf(hub, "leafB", { children });
    servers.push(leafA, leafB);
    await waitFor(async () => (await leafConnected(leafA)) && leafConnected(leafB), "both leaves connected to the hub");

    const a = await daemonOn(leafA);
    const b = await daemonOn(leafB);
    const api = await joinAs(a.socketPath, 1, MESH, pid, { display_name: "api" });
    const local = await joinAs(a.socketPath, 3, MESH, pid, { display_name: "local-peer" });
    const web = await joinAs(b.socketPath, 2, MESH, pid, { display_name: "web" });
    await waitFor(() => sees(a.socketPath, api, "s2"), "A to see web");
    await waitFor(() => sees(b.socketPath, web, "s1"), "B to see api");

    // A message each way, through both leaves and the hub's stream.
    const there = await sendAs(a.socketPath, api, { to: "s2", text: "to B" });
    const back = await sendAs(b.socketPath, web, { to: "s1", text: "to A" });
    await waitFor(() => holdsOnce(b.socketPath, web, [there.id]), "web to get A's message");
    await waitFor(() => holdsOnce(a.socketPath, api, [back.id]), "api to get B's message");
    await waitFor(async () => (await statesOf(a.socketPath, api, there.id)).s2 === "delivered", "A told delivered");
    await waitFor(async () => (await statesOf(b.socketPath, web, back.id)).s1 === "delivered", "B told delivered");
    // The stream lives on the hub, a single server: one replica.
    const observer = await connect({ servers: hub.url });
    try {
      expect((await (await jetstreamManager(observer)).streams.info(MESSAGE_STREAM)).config.num_replicas).toBe(1);
    } finally {
      await observer.close();
    }

    // Cut A's machine off: its leaf comes back pointing at a port where no hub listens.
    const nowhere = await freePort();
    await leafA.repoint(nowhere);
    await waitFor(async () => !(await leafConnected(leafA)), "leafA gone from the hub");
    await waitFor(async () => (await meshStatus(a.socketPath)).state === "connected", "A connected to its leaf again");
    // B finds A's daemon gone (its pings find no responders) and drops its sessions.
    await waitFor(async () => !(await sees(b.socketPath, web, "s1")), "api to leave B's peers", 20_000);

    const toB: string[] = [];
    const toA: string[] = [];
    for (let i = 0; i < 5; i++) {
      // A's local mesh is unaffected: delivered at once.
      const here = await sendAs(a.socketPath, api, { to: "local-peer", text: `next door ${i}` });
      expect(here.recipients).toEqual([expect.objectContaining({ state: "delivered" })]);
      const queued = await sendAs(a.socketPath, api, { to: "s2", text: `while cut off ${i}` });
      expect(queued.recipients).toEqual([expect.objectContaining({ session_id: "s2", state: "accepted" })]);
      toB.push(queued.id);
      // B, still on the hub, sends to A's session by id: it waits in A's consumer on the hub.
      toA.push((await sendAs(b.socketPath, web, { to: "s1", text: `to the cut-off ${i}` })).id);
    }
    expect((await inboxOf(a.socketPath, local)).length).toBe(5);
    await waitFor(async () => (await meshStatus(a.socketPath)).outbox === toB.length, "A's outbox to hold the 5");
    expect((await inboxOf(b.socketPath, web, "all")).filter((m) => toB.includes(m.id))).toEqual([]);

    // The hub is reachable again.
    await leafA.repoint(hub.leafPort);
    await waitFor(() => leafConnected(leafA), "leafA back on the hub");
    await waitFor(() => holdsOnce(b.socketPath, web, [there.id, ...toB]), "web to get what A queued, once", 45_000);
    await waitFor(
      () => holdsOnce(a.socketPath, api, [back.id, ...toA]),
      "api to get what B sent meanwhile, once",
      45_000,
    );
    await waitFor(async () => (await meshStatus(a.socketPath)).outbox === 0, "A's outbox empty");
    await waitFor(
      async () => {
        for (const id of toB) if ((await statesOf(a.socketPath, api, id)).s2 !== "delivered") return false;
        return true;
      },
      "A told all 5 delivered",
      30_000,
    );
    await waitFor(() => sees(b.socketPath, web, "s1"), "api back in B's peers", 30_000);
    await waitFor(() => sees(a.socketPath, api, "s2"), "web in A's peers", 30_000);
  }, 90_000);
});
