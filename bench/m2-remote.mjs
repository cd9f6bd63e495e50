// M2: a message across machines, two daemons bound to one mesh on one nats-server: POST
// /v1/messages on daemon A → the recipient's `message` event on daemon B, at 1 and 16 in flight.
// Baselines, interleaved in the same run on the same server: a raw core NATS publish → a
// subscriber on another connection (one-way), a raw core request → reply (round trip), a raw
// JetStream publish (acked) → a durable consumer on another connection, with payloads the size of
// the real sealed frames; and M1's path, a message between two sessions of daemon B.
import { join } from "node:path";
import { PATHS, startDaemon } from "./lib/daemon.mjs";
import { openStream, waiter } from "./lib/events.mjs";
import { createClient, createPool, drainInbox, metricValue, registerInMesh, send, sendOk } from "./lib/http.mjs";
import { field, interleave } from "./lib/interleave.mjs";
import { natsClient, startNatsServer, writeMeshBinding } from "./lib/nats.mjs";
import { makeTempDir, removeDir, sleep, spawnSleepers } from "./lib/proc.mjs";
import { fmtInt, fmtMs, fmtRatio, latencySummary, median, Samples, summarize } from "./lib/stats.mjs";

export const id = "M2";
export const title = "Messages across two daemons through NATS: POST on A → the recipient's message event on B";

const MESH = "team";
const IN_FLIGHT = [1, 16];
/**
 * Sender sessions per daemon, taking turns so that none passes 20 messages a second (bursts of
 * 100): enough for B's local path at 16 in flight. Not M1's 400: every session of a bound mesh is
 * re-signed and re-put every 5 s and verified by the other daemon, and 800 of them held up
 * messages for 0.2–0.4 s at each refresh (a finding of its own, in docs/benchmarks.md).
 */
const SENDERS = 100;
const auth = (token) => ({ authorization: `ClaudeMesh-Session ${token}` });

/** Closed loop: `inFlight` workers, each starting its next as soon as `one(n)` gave its latency. */
async function closedLoop(inFlight, durationMs, one) {
  const latencies = new Samples();
  let seq = 0;
  const started = performance.now();
  const end = started + durationMs;
  const worker = async () => {
    while (performance.now() < end) latencies.push(await one(seq++));
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedMs = performance.now() - started;
  return { perSec: (latencies.length / elapsedMs) * 1000, ...latencySummary(latencies.values()) };
}

/** Polls a daemon's counter until it stops moving (receipts still crossing), at most `maxMs`. */
async function settle(client, name, maxMs = 3_000) {
  const end = performance.now() + maxMs;
  let last = Number.NaN;
  while (performance.now() < end) {
    const value = metricValue((await sendOk(client, { path: "/v1/metrics" })).text, name);
    if (value === last) return;
    last = value;
    await sleep(100);
  }
}

/** A message cell: senders of `from` take turns, to B's recipients; every recipient's inbox acked after. */
async function messageCell(world, variant, inFlight, durationMs) {
  const { senders, pool } = world[variant];
  const { recipients } = world;
  const round = world.round++;
  const result = await closedLoop(inFlight, durationMs, async (n) => {
    const sender = senders[n % senders.length];
    const recipient = recipients[n % recipients.length];
    const nonce = `m2 ${variant} ${round} ${n}`;
    const t0 = performance.now();
    const arrived = recipient.stream.wait(nonce);
    const res = await send(pool, {
      method: "POST",
      path: "/v1/messages",
      body: JSON.stringify({ to: recipient.id, text: nonce }),
      headers: auth(sender.token),
    });
    if (res.status !== 202) throw new Error(`POST /v1/messages answered ${res.status}: ${res.text.slice(0, 200)}`);
    return (await arrived) - t0;
  });
  // Untimed: every inbox emptied, so none nears its 1,000 unsurfaced; for remote messages, the
  // acked receipts crossing back to A are let through before the next cell starts.
  for (const r of recipients) await drainInbox(world.clientB, r.token);
  if (variant === "remote") await settle(world.clientA, "claudemesh_remote_frames_received_total");
  return result;
}

/** The raw clients on the same server: one connection publishes, another receives (as A and B). */
async function rawSetUp(url, frameBytes) {
  const { nats, jetstream } = natsClient();
  const pub = await nats.connect({ servers: url, name: "bench-pub" });
  const sub = await nats.connect({ servers: url, name: "bench-sub" });
  const coreWaiting = new Map();
  const jsWaiting = new Map();
  const seqOf = (data) => new DataView(data.buffer, data.byteOffset, 4).getUint32(0);
  sub.subscribe("bench.core.oneway", {
    callback: (error, m) => {
      if (error !== null) return;
      const at = performance.now();
      const n = seqOf(m.data);
      coreWaiting.get(n)?.(at);
      coreWaiting.delete(n);
    },
  });
  sub.subscribe("bench.core.rr", {
    callback: (error, m) => {
      if (error === null) m.respond(m.data);
    },
  });
  await sub.flush();
  // A stream and a durable consumer made as the daemon makes its own (file storage, explicit acks).
  const jsm = await jetstream.jetstreamManager(pub);
  await jsm.streams.add({
    name: "BENCH_RAW",
    subjects: ["bench.js.>"],
    retention: jetstream.RetentionPolicy.Limits,
    storage: jetstream.StorageType.File,
    duplicate_window: nats.nanos(120_000),
  });
  await jsm.consumers.add("BENCH_RAW", {
    durable_name: "bench_raw",
    filter_subject: "bench.js.>",
    ack_policy: jetstream.AckPolicy.Explicit,
    deliver_policy: jetstream.DeliverPolicy.All,
    ack_wait: nats.nanos(30_000),
    max_ack_pending: 1_000,
  });
  const consumer = await jetstream.jetstream(sub).consumers.get("BENCH_RAW", "bench_raw");
  const messages = await consumer.consume({ max_messages: 256 });
  const reading = (async () => {
    for await (const m of messages) {
      const at = performance.now();
      const n = seqOf(m.data);
      jsWaiting.get(n)?.(at);
      jsWaiting.delete(n);
      m.ack();
    }
  })();
  const js = jetstream.jetstream(pub);
  let seq = 0;
  const payload = () => {
    const data = new Uint8Array(frameBytes);
    new DataView(data.buffer).setUint32(0, seq);
    return { n: seq++, data };
  };
  const coreWait = waiter(coreWaiting, "core subscriber");
  const jsWait = waiter(jsWaiting, "JetStream consumer");
  return {
    oneway: async () => {
      const { n, data } = payload();
      const t0 = performance.now();
      const arrived = coreWait(n);
      pub.publish("bench.core.oneway", data);
      return (await arrived) - t0;
    },
    requestReply: async () => {
      const { data } = payload();
      const t0 = performance.now();
      await pub.request("bench.core.rr", data, { timeout: 10_000 });
      return performance.now() - t0;
    },
    jetstream: async () => {
      const { n, data } = payload();
      const t0 = performance.now();
      const arrived = jsWait(n);
      await js.publish(`bench.js.${n % 16}`, data, { msgID: `bench-${n}`, timeout: 10_000 });
      return (await arrived) - t0;
    },
    async close() {
      await messages.close();
      await reading.catch(() => {});
      await pub.close();
      await sub.close();
    },
  };
}

async function register(client, pid, sessionId) {
  return { token: await registerInMesh(client, pid, sessionId, MESH), id: sessionId };
}

/** Polls A until it sees every one of B's recipients as a remote peer (presence converged). */
async function waitForRemotePeers(client, token, ids, timeoutMs = 20_000) {
  const end = performance.now() + timeoutMs;
  const wanted = new Set(ids);
  let seen = 0;
  while (performance.now() < end) {
    const { peers } = JSON.parse((await sendOk(client, { path: "/v1/peers", headers: auth(token) })).text);
    seen = peers.filter((p) => p.origin === "remote" && wanted.has(p.session_id)).length;
    if (seen === wanted.size) return;
    await sleep(50);
  }
  throw new Error(`A sees ${seen} of B's ${wanted.size} recipients within ${timeoutMs} ms`);
}

/** Fills `world` as it goes, so that a failure half-way leaves the caller what to stop. */
async function setUp(world, root, pid, sizes) {
  world.nats = await startNatsServer(join(root, "nats"));
  const dirA = writeMeshBinding(join(root, "a"), MESH, world.nats.url);
  const dirB = writeMeshBinding(join(root, "b"), MESH, world.nats.url);
  world.a = await startDaemon(dirA, { program: PATHS.cliDaemon });
  world.b = await startDaemon(dirB, { program: PATHS.cliDaemon });
  world.clientA = createClient(world.a.socket);
  world.clientB = createClient(world.b.socket);
  for (let i = 0; i < sizes.recipients; i++) {
    const r = await register(world.clientB, pid, `m2-recipient-${i}`);
    r.stream = openStream(world.b.socket, r.token);
    await r.stream.opened;
    world.recipients.push(r);
  }
  for (let i = 0; i < sizes.senders; i++) {
    world.remote.senders.push(await register(world.clientA, pid, `m2-sender-a-${i}`));
    world.local.senders.push(await register(world.clientB, pid, `m2-sender-b-${i}`));
  }
  await waitForRemotePeers(
    world.clientA,
    world.remote.senders[0].token,
    world.recipients.map((r) => r.id),
  );
}

/**
 * Where a message's time goes, before the cells (1 in flight, one after the other): a raw
 * subscriber on every subject of the mesh stamps each sealed frame and each receipt as it
 * crosses the server. Also gives the frames' sizes, for the raw baselines' payloads.
 */
async function timeline(world, count) {
  const { nats } = natsClient();
  const spy = await nats.connect({ servers: world.nats.url, name: "bench-spy" });
  const sizes = [];
  let onFrame;
  let onReceipt;
  spy.subscribe(`cm.${MESH}.to.>`, {
    callback: (error, m) => {
      if (error !== null) return;
      const at = performance.now();
      if (m.subject.endsWith(".r")) {
        onReceipt?.(at);
        onReceipt = undefined;
      } else {
        sizes.push(m.data.length);
        onFrame?.(at);
        onFrame = undefined;
      }
    },
  });
  await spy.flush();
  const spans = { answered: [], framed: [], opened: [], receipted: [], total: [] };
  const timeout = (what) =>
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within 10 s`)), 10_000).unref());
  try {
    for (let i = 0; i < count; i++) {
      const recipient = world.recipients[i % world.recipients.length];
      const nonce = `m2 probe ${i}`;
      const framed = Promise.race([new Promise((resolve) => (onFrame = resolve)), timeout("frame")]);
      const receipted = Promise.race([new Promise((resolve) => (onReceipt = resolve)), timeout("receipt")]);
      const arrived = recipient.stream.wait(nonce);
      const t0 = performance.now();
      await sendOk(world.clientA, {
        method: "POST",
        path: "/v1/messages",
        body: JSON.stringify({ to: recipient.id, text: nonce }),
        headers: auth(world.remote.senders[i % world.remote.senders.length].token),
      });
      const tAnswer = performance.now();
      const [tFrame, tEvent, tReceipt] = await Promise.all([framed, arrived, receipted]);
      spans.answered.push(tAnswer - t0);
      spans.framed.push(tFrame - t0);
      spans.opened.push(tEvent - tFrame);
      spans.receipted.push(tReceipt - tEvent);
      spans.total.push(tEvent - t0);
    }
  } finally {
    await spy.close();
  }
  for (const r of world.recipients) await drainInbox(world.clientB, r.token);
  await settle(world.clientA, "claudemesh_remote_frames_received_total");
  return { sizes, spans: Object.fromEntries(Object.entries(spans).map(([k, v]) => [k, median(v)])), count };
}

export async function run({ quick, log }) {
  const rounds = quick ? 1 : 5;
  const durationMs = quick ? 300 : 2_000;
  const sizes = { senders: quick ? 40 : SENDERS, recipients: 16, inFlight: IN_FLIGHT, cellDurationMs: durationMs };
  const sleepers = await spawnSleepers(1);
  const root = makeTempDir();
  const world = { round: 0, recipients: [], remote: { senders: [] }, local: { senders: [] } };
  let raw;
  const pools = [];
  const cells = [];
  let frames;
  let spans;
  let after;
  try {
    log("M2: nats-server, daemons A and B, sessions");
    await setUp(world, root, sleepers.pids[0], sizes);
    log("M2: where a message's time goes (a raw subscriber stamping frames and receipts)");
    spans = await timeline(world, quick ? 20 : 200);
    frames = spans.sizes;
    const frameBytes = Math.round(median(frames));
    raw = await rawSetUp(world.nats.url, frameBytes);
    for (const inFlight of IN_FLIGHT) {
      log(`M2: ${inFlight} in flight`);
      world.remote.pool = createPool(world.a.socket, inFlight);
      world.local.pool = createPool(world.b.socket, inFlight);
      pools.push(world.remote.pool, world.local.pool);
      const samples = await interleave(
        [
          { name: "remote", run: () => messageCell(world, "remote", inFlight, durationMs) },
          { name: "local", run: () => messageCell(world, "local", inFlight, durationMs) },
          { name: "jetstream", run: () => closedLoop(inFlight, durationMs, raw.jetstream) },
          { name: "oneway", run: () => closedLoop(inFlight, durationMs, raw.oneway) },
          { name: "requestReply", run: () => closedLoop(inFlight, durationMs, raw.requestReply) },
        ],
        { rounds, warmup: 1 },
      );
      await Promise.all(pools.splice(0).map((p) => p.close()));
      const stat = (variant) => ({
        perSec: summarize(field(samples[variant], "perSec")),
        p50: summarize(field(samples[variant], "p50")),
        p99: summarize(field(samples[variant], "p99")),
        max: summarize(field(samples[variant], "max")),
        count: summarize(field(samples[variant], "count")),
      });
      const cell = { inFlight };
      for (const variant of Object.keys(samples)) cell[variant] = stat(variant);
      cell.goalLimitMs = 3 * cell.requestReply.p99.median + cell.local.p99.median;
      cell.goalRatio = cell.remote.p99.median / cell.goalLimitMs;
      cells.push(cell);
    }
    const metricsA = (await sendOk(world.clientA, { path: "/v1/metrics" })).text;
    const metricsB = (await sendOk(world.clientB, { path: "/v1/metrics" })).text;
    after = {
      outboxDepthA: metricValue(metricsA, "claudemesh_outbox_depth"),
      publishedA: metricValue(metricsA, "claudemesh_remote_frames_published_total"),
      receivedB: metricValue(metricsB, "claudemesh_remote_frames_received_total"),
      remotePeersA: metricValue(metricsA, "claudemesh_remote_peers"),
      remotePeersB: metricValue(metricsB, "claudemesh_remote_peers"),
      refusedB: metricValue(metricsB, "claudemesh_remote_refused_total"),
    };
  } finally {
    await Promise.all(pools.map((p) => p.close().catch(() => {})));
    await raw?.close().catch(() => {});
    for (const r of world.recipients ?? []) r.stream.close();
    await world.clientA?.close();
    await world.clientB?.close();
    await Promise.all([world.a?.stop(), world.b?.stop()]);
    await world.nats?.stop();
    await sleepers.stop();
    removeDir(root);
  }

  const frameBytes = Math.round(median(frames));
  const VARIANTS = [
    ["remote", "A → B: POST on A → `message` event on B"],
    ["local", "B → B: POST on B → `message` event on B (M1's path)"],
    ["jetstream", "raw JetStream: publish (acked) → durable consumer"],
    ["oneway", "raw core NATS: publish → subscriber (one-way)"],
    ["requestReply", "raw core NATS: request → reply (round trip)"],
  ];
  return {
    baseline: `on the same nats-server in the same run, interleaved: raw core NATS publish → subscriber on another connection (one-way, both ends in the bench process), raw core request → reply (round trip, echoing the payload), raw JetStream publish (awaiting its ack) → a durable pull consumer on another connection (file storage, explicit acks, as the daemon makes its own), each with ${fmtInt(frameBytes)}-byte payloads (the median sealed frame seen on the server); and M1's path, a message between two sessions of daemon B`,
    sizes: { ...sizes, frameBytes },
    repetitions: { rounds, warmupRounds: 1 },
    notes: [
      `Latency runs from the POST leaving the client (or the raw publish) to the \`message\` event reaching the recipient's stream on B (or the subscriber's callback); the POST's 202 (the JetStream ack) is awaited too before the worker sends again. ${sizes.senders} sender sessions on A (and ${sizes.senders} on B for the local path) take turns, none near the 20 msg/s limit; ${sizes.recipients} recipients on B, each with its event stream open, acked between cells outside the timing (for remote cells, until A's received-frames counter stops moving: the acked receipts crossing back).`,
      `On its way A signs and verifies the message, journals it, answers 202, seals it to the recipient's X25519 key and publishes it to the message stream (awaiting the server's ack); B's durable consumer takes it, opens and verifies it, journals it, emits the event, and publishes a \`delivered\` receipt back to A, which is in the timed cells too.`,
      `Where the time goes: ${spans.count} messages A → B one after the other before the cells, a raw subscriber on \`cm.${MESH}.to.>\` stamping each sealed frame and each receipt as the server forwards it (its own hop, ~ the core one-way figure, is inside "frame on the server"). Frames seen: ${frames.length}, ${fmtInt(Math.min(...frames))}–${fmtInt(Math.max(...frames))} bytes (median ${fmtInt(frameBytes)}) for a ${"m2 remote 0 0".length}-character text.`,
      `After the runs: A's outbox depth ${after?.outboxDepthA}, frames A published ${fmtInt(after?.publishedA)}, message frames B took ${fmtInt(after?.receivedB)}, remote peers A ${after?.remotePeersA} / B ${after?.remotePeersB}, frames or presences B refused ${Number.isNaN(after?.refusedB) ? 0 : after?.refusedB}.`,
      "The nats-server, both daemons and the bench client (with its raw NATS connections) share the machine's 2 cores.",
    ],
    tables: [
      {
        title: "A message across two daemons against the raw NATS paths and the local path (medians of repetitions)",
        header: ["in flight", "path", "per second", "p50", "p99", "max", "p50 / core one-way", "p99 / core one-way"],
        rows: cells.flatMap((c) =>
          VARIANTS.map(([key, label]) => [
            String(c.inFlight),
            label,
            fmtInt(c[key].perSec.median),
            fmtMs(c[key].p50.median),
            fmtMs(c[key].p99.median),
            fmtMs(c[key].max.median),
            fmtRatio(c[key].p50.median / c.oneway.p50.median),
            fmtRatio(c[key].p99.median / c.oneway.p99.median),
          ]),
        ),
      },
      {
        title:
          "The goal: A → B p99 against 3× the raw request → reply p99 plus the local path's p99 (medians of repetitions)",
        header: [
          "in flight",
          "A → B p99",
          "request → reply p99",
          "local p99",
          "limit (3× + local)",
          "ratio to limit",
          "A → B p50 − local p50",
          "JetStream p50",
        ],
        rows: cells.map((c) => [
          String(c.inFlight),
          fmtMs(c.remote.p99.median),
          fmtMs(c.requestReply.p99.median),
          fmtMs(c.local.p99.median),
          fmtMs(c.goalLimitMs),
          fmtRatio(c.goalRatio),
          fmtMs(c.remote.p50.median - c.local.p50.median),
          fmtMs(c.jetstream.p50.median),
        ]),
      },
      {
        title: `Where an A → B message's time goes (1 in flight, medians of ${spans.count} messages)`,
        header: [
          "POST → 202 on A",
          "POST → sealed frame on the server",
          "frame → `message` event on B",
          "event → `delivered` receipt on the server",
          "POST → event",
        ],
        rows: [
          [
            fmtMs(spans.spans.answered),
            fmtMs(spans.spans.framed),
            fmtMs(spans.spans.opened),
            fmtMs(spans.spans.receipted),
            fmtMs(spans.spans.total),
          ],
        ],
      },
    ],
    goals: [
      {
        goal: "A → B p99 ≤ 3× the raw core NATS request → reply p99 + the local (M1) p99, 1 and 16 in flight",
        measured: cells
          .map(
            (c) => `${c.inFlight}: ${fmtMs(c.remote.p99.median)} vs ${fmtMs(c.goalLimitMs)} (${fmtRatio(c.goalRatio)})`,
          )
          .join(", "),
        met: cells.every((c) => c.goalRatio <= 1),
      },
    ],
    data: { cells, frames, timeline: spans, after },
  };
}
