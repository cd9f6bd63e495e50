// A mesh on a 3-node NATS cluster (nats-server 2.9.10, JetStream, each node its own store): what
// the daemons make there is replicated on 3 nodes, made with nothing more than the allowlist's
// create lines; and two daemons exchanging messages lose none and show none twice while the node
// leading the message stream is killed -9 (and brought back), then the node leading the
// receiving daemon's consumer. How long delivery pauses is measured by `pnpm bench --only R3`.
import { join } from "node:path";
import { MESSAGE_STREAM, PRESENCE_BUCKET } from "@claudemesh/mesh";
import { Children, type NatsCluster, startNatsCluster } from "@claudemesh/testkit";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../src/daemon.js";
import { createLogger } from "../src/logger.js";
import { ensureStream } from "../src/nats/inbound.js";
import { loadJetStream } from "../src/nats/load.js";
import { openBucket, PRESENCE_TIMINGS } from "../src/nats/presence-sync.js";
import { cleanup, spawnSleeper, waitFor } from "./harness.js";
import { boundDir, inboxOf, joinAs, peersOf, sendAs, statesOf } from "./nats-harness.js";
import { RecordingLogger } from "./unit/helpers.js";

const MESH = "team";
const KV_STREAM = `KV_${PRESENCE_BUCKET}`;
const children = new Children();
const pid = spawnSleeper().pid as number;
const running: RunningDaemon[] = [];
const connections: NatsConnection[] = [];
let cluster: NatsCluster | undefined;

// A user allowed only what a daemon's allowlist (docs/teams.md) allows for making the stream and
// the bucket; everyone else (the daemons, the test's observer) comes in as `open`.
const AUTH = `
authorization {
  users: [
    { user: creator, password: creator, permissions: {
        publish: { allow: [
          "$JS.API.INFO"
          "$JS.API.STREAM.INFO.${MESSAGE_STREAM}"
          "$JS.API.STREAM.INFO.${KV_STREAM}"
          "$JS.API.STREAM.CREATE.${MESSAGE_STREAM}"
          "$JS.API.STREAM.CREATE.${KV_STREAM}"
        ] }
        subscribe: { allow: [ "_INBOX.>" ] }
    } }
    { user: open, password: open }
  ]
}
no_auth_user: open
`;

afterAll(async () => {
  await Promise.all(running.splice(0).map((d) => d.shutdown("test over")));
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  await cluster?.dispose();
  await children.stopAll();
  await cleanup();
});

async function client(servers: readonly string[], user = "open"): Promise<NatsConnection> {
  const nc = await connect({
    servers: [...servers],
    user,
    pass: user,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  connections.push(nc);
  return nc;
}

async function daemonOn(servers: readonly string[]): Promise<RunningDaemon> {
  const dir = boundDir([{ name: MESH, servers: [...servers] }]);
  const d = await startDaemon({ dir, logger: createLogger({ file: join(dir, "daemon.log") }), reaperIntervalMs: 100 });
  running.push(d);
  return d;
}

/** The node leading the stream, or one of its consumers; undefined while there is none. */
async function leaderOf(jsm: JetStreamManager, consumer?: string): Promise<string | undefined> {
  const info =
    consumer === undefined
      ? await jsm.streams.info(MESSAGE_STREAM)
      : await jsm.consumers.info(MESSAGE_STREAM, consumer);
  return info.cluster?.leader || undefined;
}

/** The stream and the consumer have a leader again, and every replica is current. */
async function settled(jsm: JetStreamManager, consumer: string): Promise<boolean> {
  const stream = await jsm.streams.info(MESSAGE_STREAM);
  const reader = await jsm.consumers.info(MESSAGE_STREAM, consumer);
  return [stream.cluster, reader.cluster].every(
    (c) => !!c?.leader && (c.replicas ?? []).length === 2 && (c.replicas ?? []).every((r) => r.current),
  );
}

describe("a mesh on a 3-node cluster", () => {
  it("has the stream and the bucket made with 3 replicas, under the allowlist's create lines alone", async () => {
    cluster = await startNatsCluster({ children, extra: AUTH });
    const creator = await client(cluster.urls, "creator");
    const js = await loadJetStream();
    await ensureStream(await js.jetstreamManager(creator), js);
    await openBucket(creator, PRESENCE_TIMINGS.bucketTtlMs, new RecordingLogger());

    const jsm = await jetstreamManager(await client(cluster.urls));
    for (const name of [MESSAGE_STREAM, KV_STREAM]) {
      const info = await jsm.streams.info(name);
      expect(info.config.num_replicas, name).toBe(3);
      expect(info.cluster?.replicas?.length, name).toBe(2);
    }
    // Made again (a daemon attaching later): the same stream, untouched.
    await ensureStream(await js.jetstreamManager(creator), js);
    expect((await jsm.streams.info(MESSAGE_STREAM)).config.num_replicas).toBe(3);
  }, 60_000);

  it("loses no message and shows none twice while the stream's leader, then the consumer's, is killed -9", async () => {
    if (cluster === undefined) throw new Error("the cluster did not start");
    const c = cluster;
    const jsm = await jetstreamManager(await client(c.urls));
    // B first: the first consumer made is B's (its name holds B's daemon id).
    const b = await daemonOn(c.urls);
    const web = await joinAs(b.socketPath, 2, MESH, pid, { display_name: "web" });
    const consumerB = await waitFor(async () => {
      for await (const ci of jsm.consumers.list(MESSAGE_STREAM)) if (ci.name.startsWith(`cm_${MESH}_`)) return ci.name;
      return undefined;
    }, "B's consumer");
    const a = await daemonOn(c.urls);
    const api = await joinAs(a.socketPath, 1, MESH, pid, { display_name: "api" });
    await waitFor(async () => (await peersOf(a.socketPath, api)).some((p) => p.session_id === "s2"), "A to see web");
    await waitFor(async () => (await peersOf(b.socketPath, web)).some((p) => p.session_id === "s1"), "B to see api");

    // Both ways, every 100 ms, until told to stop.
    const toWeb: { id: string; at: number }[] = [];
    const toApi: { id: string; at: number }[] = [];
    let sending = true;
    const loop = async (socket: string, tok: string, to: string, out: { id: string; at: number }[]) => {
      while (sending) {
        out.push({ id: (await sendAs(socket, tok, { to, text: `m ${out.length}` })).id, at: Date.now() });
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const loops = Promise.all([loop(a.socketPath, api, "s2", toWeb), loop(b.socketPath, web, "s1", toApi)]);

    /** Kills the node, waits for a message sent after the kill to reach web, brings the node back. */
    const killAndRecover = async (leader: string): Promise<number> => {
      const node = c.node(leader);
      await node.kill9();
      const killedAt = Date.now();
      const arrived = await waitFor(
        async () => {
          const seen = new Set((await inboxOf(b.socketPath, web, "all")).map((m) => m.id));
          const after = toWeb.find((m) => m.at > killedAt && seen.has(m.id));
          return after && Date.now();
        },
        `a message sent after ${leader} was killed to reach web`,
        45_000,
      );
      await node.restart();
      await c.ready();
      await waitFor(() => settled(jsm, consumerB), "the stream and B's consumer current on 3 nodes again", 30_000);
      return arrived - killedAt;
    };

    const streamLeader = await waitFor(() => leaderOf(jsm), "the stream's leader");
    const gapStream = await killAndRecover(streamLeader);
    const consumerLeader = await waitFor(() => leaderOf(jsm, consumerB), "B's consumer's leader");
    const gapConsumer = await killAndRecover(consumerLeader);
    sending = false;
    await loops;

    // None lost, none twice, and every sender told `delivered`.
    const all = async (socket: string, tok: string, sent: { id: string }[]) => {
      await waitFor(
        async () => {
          const ids = (await inboxOf(socket, tok, "all")).map((m) => m.id);
          expect(new Set(ids).size).toBe(ids.length);
          const have = new Set(ids);
          return sent.every((m) => have.has(m.id));
        },
        `all ${sent.length} in the inbox`,
        45_000,
      );
    };
    await all(b.socketPath, web, toWeb);
    await all(a.socketPath, api, toApi);
    for (const [socket, tok, sent, to] of [
      [a.socketPath, api, toWeb, "s2"],
      [b.socketPath, web, toApi, "s1"],
    ] as const) {
      await waitFor(
        async () => {
          for (const m of sent) if ((await statesOf(socket, tok, m.id))[to] !== "delivered") return false;
          return true;
        },
        `the sender to see all ${sent.length} delivered`,
        45_000,
      );
    }
    expect(toWeb.length).toBeGreaterThan(20);
    console.info(
      `[figures] nats-cluster: ${toWeb.length} + ${toApi.length} messages; killed ${streamLeader} (stream leader): next arrival after ${gapStream} ms; killed ${consumerLeader} (B's consumer leader): ${gapConsumer} ms`,
    );
  }, 120_000);
});
