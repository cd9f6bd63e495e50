// R3: how long messages stop when a node of a 3-node JetStream cluster dies. Daemon A sends to a
// session on daemon B every 100 ms through an R3 stream; the node leading the stream (or the node
// leading B's durable consumer) is killed -9, and the gap is from the kill to the first arrival on
// B (its session's event stream) of a message sent after the kill. Baseline, in the same run and
// the same kills: a bare nats.js publisher and a durable consumer on the same stream read with the
// library's default consume() settings, its consumer made (again) until its leader is the node
// leading B's, so both face the same loss. Between kills the node is started again and everything
// is current on 3 nodes again.
import { mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { encodeMeshConfig, MESSAGE_STREAM, parseMeshBinding } from "../packages/mesh/dist/index.js";
import { PATHS, startDaemon } from "./lib/daemon.mjs";
import { createClient, drainInbox, registerInMesh, send, sendOk } from "./lib/http.mjs";
import { natsClient } from "./lib/nats.mjs";
import { startCluster } from "./lib/nats-cluster.mjs";
import { makeTempDir, removeDir, sleep, spawnSleepers } from "./lib/proc.mjs";
import { fmtMs, median } from "./lib/stats.mjs";

export const id = "R3";
export const title =
  "Failover on a 3-node cluster: the delivery gap when the stream's or the consumer's leader is killed -9";

const MESH = "team";
const BARE = "bench_r3";
const BARE_SUBJECT = "cm.bench.to.0000000000000000.s.x";
const EVERY_MS = 100;
const GOAL_MS = 10_000;
const auth = (token) => ({ authorization: `ClaudeMesh-Session ${token}` });

function bind(dir, servers) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const parsed = parseMeshBinding({ name: MESH, servers }, Date.now());
  if (!parsed.ok) throw new Error(parsed.error);
  writeFileSync(join(dir, "meshes.json"), encodeMeshConfig({ meshes: [parsed.value] }), { mode: 0o600 });
  return dir;
}

/** A session's event stream: the arrival time of each message, by its text. */
function arrivalsOn(socketPath, token, arrivals) {
  let buffer = "";
  const req = request({ socketPath, path: "/v1/events", headers: auth(token), agent: false }, (res) => {
    res.setEncoding("utf8");
    res.on("data", (chunk) => {
      const at = performance.now();
      buffer += chunk;
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (frame.includes("event: message\n")) {
          arrivals.set(JSON.parse(frame.slice(frame.indexOf("data: ") + 6)).message.text, at);
        }
      }
    });
  });
  req.on("error", () => undefined);
  req.end();
  return () => req.destroy();
}

async function until(check, what, timeoutMs) {
  const end = performance.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (error) {
      last = error; // not yet
    }
    if (performance.now() > end)
      throw new Error(`R3: timed out waiting for ${what}${last ? ` (${last.message})` : ""}`);
    await sleep(50);
  }
}

export async function run({ quick, log }) {
  const reps = quick ? 1 : 5;
  const dir = makeTempDir("cmb-r3-");
  const sleepers = await spawnSleepers(1);
  const pid = sleepers.pids[0];
  const { nats, jetstream } = natsClient();
  const opts = (servers) => ({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const stops = [];
  const kills = [];
  let sending = true;
  let loop;
  try {
    const cluster = await startCluster(join(dir, "nats"));
    stops.push(() => cluster.stop());
    const obs = await nats.connect(opts(cluster.urls));
    stops.push(() => obs.close());
    const jsm = await jetstream.jetstreamManager(obs);

    // B first: the first consumer on the stream is B's.
    const b = await startDaemon(bind(join(dir, "b"), cluster.urls), { program: PATHS.cliDaemon });
    stops.push(() => b.stop());
    const clientB = createClient(b.socket);
    const web = await registerInMesh(clientB, pid, "web", MESH);
    const consumerB = await until(
      async () => {
        for await (const ci of jsm.consumers.list(MESSAGE_STREAM))
          if (ci.name.startsWith(`cm_${MESH}_`)) return ci.name;
      },
      "B's consumer",
      30_000,
    ).catch((error) => {
      throw new Error(`${error.message}; B's log: ${b.stderr().slice(-4_000)}`);
    });
    const a = await startDaemon(bind(join(dir, "a"), cluster.urls), { program: PATHS.cliDaemon });
    stops.push(() => a.stop());
    const clientA = createClient(a.socket);
    const api = await registerInMesh(clientA, pid, "api", MESH);
    await until(
      async () => {
        const { peers } = JSON.parse((await sendOk(clientA, { path: "/v1/peers", headers: auth(api) })).text);
        return peers.some((p) => p.session_id === "web" && p.origin === "remote");
      },
      "A to see web",
      30_000,
    );
    const daemonArrivals = new Map();
    stops.push(arrivalsOn(b.socket, web, daemonArrivals));

    // The bare baseline: its own publisher and reader connections.
    const pub = await nats.connect(opts(cluster.urls));
    const reader = await nats.connect(opts(cluster.urls));
    stops.push(
      () => pub.close(),
      () => reader.close(),
    );
    const js = jetstream.jetstream(pub);
    const bareArrivals = new Map();
    let bareMessages;
    const startBare = async () => {
      await bareMessages?.close();
      const c = await jetstream.jetstream(reader).consumers.get(MESSAGE_STREAM, BARE);
      const messages = await c.consume(); // the library's defaults: the baseline
      bareMessages = messages;
      void (async () => {
        for await (const m of messages) {
          bareArrivals.set(m.string(), performance.now());
          m.ack();
        }
      })().catch(() => undefined);
    };
    const leaderOf = async (consumer) =>
      (consumer ? await jsm.consumers.info(MESSAGE_STREAM, consumer) : await jsm.streams.info(MESSAGE_STREAM)).cluster
        ?.leader;
    /** The bare consumer made anew until the node leading it leads B's too. */
    const alignBare = async () => {
      const want = await until(() => leaderOf(consumerB), "B's consumer leader", 30_000);
      for (let i = 0; i < 30; i++) {
        await bareMessages?.close();
        bareMessages = undefined;
        await jsm.consumers.delete(MESSAGE_STREAM, BARE).catch(() => undefined);
        await jsm.consumers.add(MESSAGE_STREAM, {
          durable_name: BARE,
          filter_subject: "cm.bench.to.0000000000000000.>",
          ack_policy: jetstream.AckPolicy.Explicit,
          deliver_policy: jetstream.DeliverPolicy.New,
        });
        if ((await until(() => leaderOf(BARE), "the bare consumer's leader", 10_000)) === want) break;
      }
      await startBare();
      return want;
    };
    /** The stream's leader moved off the node leading the consumers, so that a kill hits one of the two. */
    const separate = async () => {
      for (let i = 0; i < 10; i++) {
        const stream = await until(() => leaderOf(), "the stream's leader", 30_000);
        if (stream !== (await leaderOf(consumerB))) return stream;
        await obs.request(`$JS.API.STREAM.LEADER.STEPDOWN.${MESSAGE_STREAM}`, "", { timeout: 5_000 }).catch(() => {});
        await sleep(500);
      }
      throw new Error("R3: the stream's leader would not leave the consumer's node");
    };

    // Both senders, every 100 ms: `sent` holds each sequence number's send time.
    const sent = [];
    loop = (async () => {
      for (let seq = 0; sending; seq++) {
        sent.push(performance.now());
        void send(clientA, {
          method: "POST",
          path: "/v1/messages",
          body: JSON.stringify({ to: "web", text: `cm ${seq}` }),
          headers: auth(api),
        }).catch(() => undefined);
        void js.publish(BARE_SUBJECT, `bare ${seq}`).catch(() => undefined); // lost when it fails: no outbox
        await sleep(EVERY_MS);
      }
    })();
    /** The first arrival, after `t0`, of a message sent after `t0`. */
    const firstAfter = (arrivals, prefix, t0) => {
      let best;
      for (let seq = 0; seq < sent.length; seq++) {
        if (sent[seq] < t0) continue;
        const at = arrivals.get(`${prefix} ${seq}`);
        if (at !== undefined && (best === undefined || at < best)) best = at;
      }
      return best;
    };
    const flowing = (t0) =>
      firstAfter(daemonArrivals, "cm", t0) !== undefined && firstAfter(bareArrivals, "bare", t0) !== undefined;
    const current = async () => {
      // Each asked at once, a failure (a leader moving) read as "not yet".
      const infos = await Promise.all([
        jsm.streams.info(MESSAGE_STREAM).catch(() => undefined),
        jsm.consumers.info(MESSAGE_STREAM, consumerB).catch(() => undefined),
        jsm.consumers.info(MESSAGE_STREAM, BARE).catch(() => undefined),
      ]);
      const names = ["the stream", "B's consumer", "the bare consumer"];
      for (const [i, info] of infos.entries()) {
        const c = info?.cluster;
        if (!c?.leader || (c.replicas ?? []).length !== 2 || !c.replicas.every((r) => r.current)) {
          throw new Error(`${names[i]}: ${info === undefined ? "no answer" : JSON.stringify(c ?? null)}`);
        }
      }
      return true;
    };

    for (let rep = 0; rep < reps; rep++) {
      for (const kind of ["stream", "consumer"]) {
        const consumerLeader = await alignBare();
        const streamLeader = await separate();
        const t = performance.now();
        await until(async () => (await current()) && flowing(t), "both flows before the kill", 60_000);
        const target = kind === "stream" ? streamLeader : consumerLeader;
        const node = cluster.node(target);
        await node.kill9();
        const t0 = performance.now();
        await until(() => flowing(t0), `both flows after killing ${target}`, 90_000);
        const daemon = firstAfter(daemonArrivals, "cm", t0) - t0;
        const bare = firstAfter(bareArrivals, "bare", t0) - t0;
        kills.push({ rep, kind, node: target, daemon, bare });
        log(`R3: ${kind} leader ${target} killed: claudemesh ${fmtMs(daemon)}, bare defaults ${fmtMs(bare)}`);
        // web's inbox holds at most 1,000 unsurfaced (at 10 a second, ~100 s of sends): read it.
        await drainInbox(clientB, web);
        await node.start();
        await cluster.ready();
        const back = performance.now();
        await until(
          async () => {
            await current();
            const cm = firstAfter(daemonArrivals, "cm", back) !== undefined;
            const bare = firstAfter(bareArrivals, "bare", back) !== undefined;
            if (!cm || !bare) {
              throw new Error(
                `not delivered since the node came back: ${[!cm && "claudemesh", !bare && "bare"].filter(Boolean).join(" and ")}`,
              );
            }
            return true;
          },
          "everything current on 3 nodes again",
          120_000,
        );
      }
    }
  } finally {
    sending = false;
    await loop;
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
    await sleepers.stop();
    removeDir(dir);
  }

  const of = (kind, side) => kills.filter((k) => k.kind === kind).map((k) => k[side]);
  const row = (kind, label) => {
    const d = of(kind, "daemon");
    const r = of(kind, "bare");
    return [
      label,
      String(d.length),
      fmtMs(median(d)),
      fmtMs(Math.max(...d)),
      fmtMs(median(r)),
      fmtMs(Math.max(...r)),
      `${(median(r) / median(d)).toFixed(1)}×`,
    ];
  };
  const worst = Math.max(...kills.map((k) => k.daemon));
  return {
    baseline:
      "in the same kills, a bare nats.js 3.4.0 publisher and durable consumer on the same stream, read with consume()'s defaults (30 s pulls, 15 s heartbeats), its consumer led by the same node as B's",
    repetitions: { reps, everyMs: EVERY_MS },
    notes: [
      "Gap: from the kill -9 to the first arrival of a message sent after it (daemon: B's session event stream; bare: its consume() loop). A sends every 100 ms (POST /v1/messages, into its outbox); the bare publisher publishes every 100 ms and loses what fails (no outbox).",
      "Before each kill the stream's leader is stepped down until it is not the node leading the two consumers, so that a kill takes either the stream's leader or the consumers' leader, not both; after it the node is started again and every replica is current before the next.",
      "claudemesh reads with 5 s pulls and 1 s heartbeats, re-pulled at once when heartbeats stop (apps/daemon/src/nats/inbound.ts, CONSUME_OPTIONS).",
      "3 nats-servers, 2 daemons and the bench client share the machine's 2 cores (shared with other work while measured).",
    ],
    tables: [
      {
        title: `Delivery gap after a kill -9, ${reps} time(s) each`,
        header: [
          "node killed",
          "kills",
          "claudemesh median",
          "claudemesh max",
          "bare defaults median",
          "bare defaults max",
          "bare / claudemesh",
        ],
        rows: [row("stream", "the stream's leader"), row("consumer", "the consumers' leader")],
      },
    ],
    goals: [
      {
        goal: "delivery gap after a leader's kill -9 ≤ 10 s (every time)",
        measured: `max ${fmtMs(worst)} (bare defaults max ${fmtMs(Math.max(...kills.map((k) => k.bare)))})`,
        met: worst <= GOAL_MS,
      },
    ],
    data: { kills },
  };
}
