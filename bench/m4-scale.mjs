// M4: many daemons on one nats-server. For each size, N real daemons (each its own dir and
// process) bound to one mesh, S sessions on each (with roles and groups), every session's event
// stream open; then messages mixed across daemons (direct by session id, role anycast, group, a
// few broadcasts), W in flight, each sender's daemon taking its POST. Per size: every recipient
// copy accounted for (the copies expected against what reached the inboxes), POST → the
// recipient's `message` event per copy, msg/s, each daemon's and the server's CPU and RSS, and
// the background traffic (presence puts, liveness pings) with no message moving.
// Baseline, interleaved round by round on the same server: raw nats.js doing the same fan-out,
// one publisher publishing every copy to a JetStream stream (acked), one bare connection and
// durable consumer per "daemon" receiving, payloads the size of the real sealed frames.
import { join } from "node:path";
import {
  eachLimit,
  metricsOf,
  openMessageStream,
  ProcMeter,
  registerMember,
  retried,
  sendRetry,
  sendRetryOk,
  startDaemons,
  startMonitoredNats,
  waitMetric,
} from "./lib/fleet.mjs";
import { metricValue } from "./lib/http.mjs";
import { natsClient } from "./lib/nats.mjs";
import { makeTempDir, removeDir, sleep, spawnSleepers } from "./lib/proc.mjs";
import { fmtBytes, fmtInt, fmtMs, fmtRatio, latencySummary, median, Samples } from "./lib/stats.mjs";

export const id = "M4";
export const title =
  "Many daemons on one nats-server: mixed messages across daemons, delivered, on time, and what each daemon costs";

const MESH = "team";
/** Messages in flight (closed loop): a worker sends its next once every copy of the last arrived. */
const IN_FLIGHT = 8;
/** The mix, by share of messages; broadcasts on top: one per BROADCAST_EVERY messages (at least one a round). */
const MIX = { direct: 0.75, role: 0.12, group: 0.13 };
const BROADCAST_EVERY = 5_000;
/** Sessions per group and holders per role, at most (both spread over the daemons). */
const GROUP_SIZE = 10;
const ROLE_HOLDERS = 5;
/** A copy not seen this long after its POST counts as missing from the timing (the inboxes still say if it came). */
const COPY_TIMEOUT_MS = 30_000;
const KINDS = ["direct", "role", "group", "broadcast"];
const auth = (token) => ({ authorization: `ClaudeMesh-Session ${token}` });

const FULL = {
  sizes: [
    { daemons: 5, sessions: 50 },
    { daemons: 10, sessions: 50 },
    { daemons: 20, sessions: 50 },
    { daemons: 40, sessions: 50 },
  ],
  messagesPerSize: 25_000,
  rounds: 5,
  chunkDeadlineMs: 30_000,
  idleMs: 10_000,
  probes: 20,
  convergeTimeoutMs: 150_000,
};
const QUICK = {
  sizes: [{ daemons: 2, sessions: 3 }],
  messagesPerSize: 300,
  rounds: 2,
  chunkDeadlineMs: 8_000,
  idleMs: 2_000,
  probes: 10,
  convergeTimeoutMs: 20_000,
};

/** A small seeded generator (mulberry32): the same plan on every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Who holds which role and group: session g (daemon-major) gets role r<g mod R> and group g<g mod G>, so both span daemons. */
function layout(daemons, sessions) {
  const total = daemons * sessions;
  const groupSize = Math.min(GROUP_SIZE, Math.max(2, Math.ceil(total / 2)));
  const groups = Math.max(1, Math.floor(total / groupSize));
  const roles = Math.max(1, Math.floor(total / ROLE_HOLDERS));
  const members = [];
  for (let d = 0; d < daemons; d++) {
    for (let j = 0; j < sessions; j++) {
      const g = d * sessions + j;
      members.push({ g, daemon: d, id: `m4-d${d}-s${j}`, role: `r${g % roles}`, group: `g${g % groups}` });
    }
  }
  const byRole = new Map();
  const byGroup = new Map();
  for (const m of members) {
    if (!byRole.has(m.role)) byRole.set(m.role, []);
    byRole.get(m.role).push(m.g);
    if (!byGroup.has(m.group)) byGroup.set(m.group, []);
    byGroup.get(m.group).push(m.g);
  }
  return { total, members, byRole, byGroup, groups, roles, groupSize };
}

/** `count` messages: kind, sender, address and the recipients expected (for a role, the holders, one of whom gets it). */
function makePlan(world, count, random, nextSeq) {
  const { members, byRole, byGroup, total } = world.layout;
  const pick = (n) => Math.floor(random() * n);
  const broadcasts = Math.max(1, Math.round(count / BROADCAST_EVERY));
  const at = new Set();
  while (at.size < Math.min(broadcasts, count)) at.add(pick(count));
  const plan = [];
  for (let i = 0; i < count; i++) {
    const sender = pick(total);
    const others = (list) => list.filter((g) => g !== sender);
    let m;
    if (at.has(i)) m = { kind: "broadcast", to: "*", expected: others(members.map((x) => x.g)) };
    else {
      const u = random();
      if (u < MIX.direct || total < 3) {
        let r = pick(total - 1);
        if (r >= sender) r++;
        m = { kind: "direct", to: members[r].id, expected: [r] };
      } else if (u < MIX.direct + MIX.role) {
        const role = members[pick(total)].role;
        const holders = others(byRole.get(role));
        if (holders.length === 0) {
          i--;
          continue;
        }
        m = { kind: "role", to: `role:${role}`, holders: new Set(holders) };
      } else {
        const group = members[pick(total)].group;
        const expected = others(byGroup.get(group));
        if (expected.length === 0) {
          i--;
          continue;
        }
        m = { kind: "group", to: `@${group}`, expected };
      }
    }
    plan.push({ ...m, sender, n: nextSeq() });
  }
  return plan;
}

/** Copies a message has (a role message: one). */
const copiesOf = (m) => (m.kind === "role" ? 1 : m.expected.length);

/**
 * A copy arrived for recipient `r` (a session index) with sequence `n`, at `at`. `inflight` maps
 * n → the message's record while it is timed; a copy of a message no longer timed (it timed out,
 * or a duplicate) is counted, not timed.
 */
function arrival(book, n, r, at) {
  const rec = book.inflight.get(n);
  if (rec === undefined) {
    book.untimed++;
    return;
  }
  const m = rec.m;
  if (m.kind === "role") {
    if (rec.got > 0) {
      book.duplicates++;
      return;
    }
    if (!m.holders.has(r)) book.misrouted++;
  } else if (!rec.remaining.delete(r)) {
    book.duplicates++;
    return;
  }
  rec.got++;
  if (rec.timedOut) {
    book.late++;
    return;
  }
  const ms = at - rec.t0;
  book.latency.all.push(ms);
  book.latency[m.kind].push(ms);
  if (m.kind === "role" || rec.remaining.size === 0) rec.done();
}

function newBook() {
  return {
    inflight: new Map(),
    latency: Object.fromEntries(["all", ...KINDS].map((k) => [k, new Samples()])),
    untimed: 0,
    duplicates: 0,
    misrouted: 0,
    late: 0,
    timedOutCopies: 0,
    rateLimited: 0,
    sent: 0,
    copies: 0,
  };
}

/**
 * Closed loop over `plan` with `inFlight` workers until the plan or the deadline ends: `post(m)`
 * sends one message (resolving once it is handed over), then the worker waits for its copies.
 */
async function closedLoop(book, plan, inFlight, deadlineMs, post) {
  let next = 0;
  const started = performance.now();
  const end = started + deadlineMs;
  const worker = async () => {
    while (next < plan.length && performance.now() < end) {
      const m = plan[next++];
      const rec = { m, got: 0, timedOut: false, remaining: m.kind === "role" ? undefined : new Set(m.expected) };
      const finished = new Promise((resolve) => {
        rec.done = resolve;
      });
      book.inflight.set(m.n, rec);
      rec.t0 = performance.now();
      await post(m);
      book.sent++;
      book.copies += copiesOf(m);
      const timer = setTimeout(() => {
        rec.timedOut = true;
        book.timedOutCopies += copiesOf(m) - rec.got;
        rec.done();
      }, COPY_TIMEOUT_MS);
      await finished;
      clearTimeout(timer);
      // A timed-out message stays in the book, so that a copy coming later counts as late.
      if (!rec.timedOut) book.inflight.delete(m.n);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedMs = performance.now() - started;
  return { sent: next, elapsedMs, perSec: (next / elapsedMs) * 1000 };
}

/** POST /v1/messages on the sender's daemon with its token; a 429 waits out Retry-After (counted). */
async function postMessage(world, book, m) {
  const sender = world.sessions[m.sender];
  const request = {
    method: "POST",
    path: "/v1/messages",
    body: JSON.stringify({ to: m.to, text: `m4 ${m.n}`, idempotency_key: `m4-${m.n}` }),
    headers: auth(sender.token),
  };
  for (;;) {
    const res = await sendRetry(world.daemons[sender.daemon].pool, request);
    if (res.status === 202) return;
    if (res.status !== 429)
      throw new Error(`POST /v1/messages (${m.to}) answered ${res.status}: ${res.text.slice(0, 200)}`);
    book.rateLimited++;
    await sleep(1_000);
  }
}

/** Reads every session's inbox (GET /v1/inbox with its token), records what reached it, acks it all. */
async function drainInboxes(world) {
  await eachLimit(world.daemons, 4, async (daemon) => {
    for (const s of world.sessions.filter((x) => x.daemon === daemon.index)) {
      const res = await sendRetryOk(daemon.pool, { path: "/v1/inbox", headers: auth(s.token) });
      const messages = JSON.parse(res.text).messages;
      for (const msg of messages) {
        const n = Number(msg.text.slice(3));
        if (!world.inboxes.has(n)) world.inboxes.set(n, []);
        world.inboxes.get(n).push(s.g);
      }
      for (let i = 0; i < messages.length; i += 1_000) {
        await sendRetryOk(daemon.pool, {
          method: "POST",
          path: "/v1/inbox/mark",
          body: JSON.stringify({ ids: messages.slice(i, i + 1_000).map((x) => x.id), state: "acked" }),
          headers: auth(s.token),
        });
      }
    }
  });
}

/** Every copy expected against the inboxes: found, missing, duplicated, unexpected. */
function account(world) {
  let expected = 0;
  let found = 0;
  let duplicates = 0;
  let unexpected = 0;
  for (const m of world.sentPlan) {
    const got = world.inboxes.get(m.n) ?? [];
    if (m.kind === "role") {
      expected++;
      const right = got.filter((g) => m.holders.has(g)).length;
      if (right > 0) found++;
      duplicates += Math.max(0, right - 1);
      unexpected += got.length - right;
    } else {
      expected += m.expected.length;
      const want = new Set(m.expected);
      const seen = new Set();
      for (const g of got) {
        if (!want.has(g)) unexpected++;
        else if (seen.has(g)) duplicates++;
        else seen.add(g);
      }
      found += seen.size;
    }
  }
  return { expected, found, missing: expected - found, duplicates, unexpected };
}

/** The raw fan-out: one publisher connection, one bare connection and durable consumer per "daemon". */
async function rawSetUp(world, frameBytes) {
  const { nats, jetstream } = natsClient();
  const url = world.nats.url;
  const pub = await nats.connect({ servers: url, name: "m4-raw-pub" });
  const jsm = await jetstream.jetstreamManager(pub);
  await jsm.streams.add({
    name: "BENCH_M4",
    subjects: ["bench.m4.>"],
    retention: jetstream.RetentionPolicy.Limits,
    storage: jetstream.StorageType.File,
    duplicate_window: nats.nanos(120_000),
  });
  const subs = [];
  const readers = [];
  const consumers = [];
  for (let d = 0; d < world.daemons.length; d++) {
    const sub = await nats.connect({ servers: url, name: `m4-raw-sub-${d}` });
    subs.push(sub);
    await jsm.consumers.add("BENCH_M4", {
      durable_name: `bench_m4_${d}`,
      filter_subject: `bench.m4.to.${d}.>`,
      ack_policy: jetstream.AckPolicy.Explicit,
      deliver_policy: jetstream.DeliverPolicy.All,
      ack_wait: nats.nanos(30_000),
      max_ack_pending: 1_000,
    });
    const consumer = await jetstream.jetstream(sub).consumers.get("BENCH_M4", `bench_m4_${d}`);
    const messages = await consumer.consume({ max_messages: 256 });
    consumers.push(messages);
    readers.push(
      (async () => {
        for await (const m of messages) {
          const at = performance.now();
          const view = new DataView(m.data.buffer, m.data.byteOffset, 8);
          arrival(world.rawBook, view.getUint32(0), view.getUint32(4), at);
          m.ack();
        }
      })(),
    );
  }
  const js = jetstream.jetstream(pub);
  return {
    /** Every copy published (each awaited to its ack, all at once), to the recipient's daemon's subject; a role message to one holder. */
    async post(m) {
      const targets = m.kind === "role" ? [[...m.holders][m.n % m.holders.size]] : m.expected;
      await Promise.all(
        targets.map((r) => {
          const data = new Uint8Array(frameBytes);
          const view = new DataView(data.buffer);
          view.setUint32(0, m.n);
          view.setUint32(4, r);
          const s = world.sessions[r];
          return js.publish(`bench.m4.to.${s.daemon}.s.${s.g}`, data, { msgID: `m4-${m.n}-${r}`, timeout: 10_000 });
        }),
      );
    },
    async close() {
      for (const c of consumers) await c.close();
      await Promise.all(readers.map((r) => r.catch(() => {})));
      for (const s of subs) await s.close();
      await pub.close();
    },
  };
}

/** A raw subscriber counting what crosses the server: liveness pings, presence puts, sealed frames (sizes). */
async function openSpy(world) {
  const { nats } = natsClient();
  const spy = await nats.connect({ servers: world.nats.url, name: "m4-spy" });
  const counts = { pings: 0, puts: 0, putBytes: 0, frames: [] };
  let framesOn = false;
  spy.subscribe(`cm.${MESH}.ping.>`, {
    callback: () => {
      counts.pings++;
    },
  });
  spy.subscribe("$KV.claudemesh_presence.>", {
    callback: (error, m) => {
      if (error !== null) return;
      counts.puts++;
      counts.putBytes += m.data.length;
    },
  });
  spy.subscribe(`cm.${MESH}.to.*.s.*`, {
    callback: (error, m) => {
      if (error === null && framesOn) counts.frames.push(m.data.length);
    },
  });
  await spy.flush();
  return {
    counts,
    frames: (on) => {
      framesOn = on;
    },
    reset() {
      counts.pings = 0;
      counts.puts = 0;
      counts.putBytes = 0;
    },
    close: () => spy.close(),
  };
}

/** Server counters over a window: /varz and the presence bucket's stream (KV puts are its sequence). */
async function serverCounters(world) {
  const [varz, streams] = await Promise.all([world.nats.varz(), world.nats.streams()]);
  return {
    at: performance.now(),
    inMsgs: varz.in_msgs,
    inBytes: varz.in_bytes,
    outMsgs: varz.out_msgs,
    outBytes: varz.out_bytes,
    kvSeq: streams.KV_claudemesh_presence?.last_seq ?? 0,
    messageSeq: streams.CLAUDEMESH_MESSAGES?.last_seq ?? 0,
  };
}

function rates(a, b) {
  const s = (b.at - a.at) / 1000;
  const r = (k) => (b[k] - a[k]) / s;
  return {
    inMsgs: r("inMsgs"),
    inBytes: r("inBytes"),
    outMsgs: r("outMsgs"),
    outBytes: r("outBytes"),
    kvPuts: r("kvSeq"),
    messageStream: r("messageSeq"),
  };
}

const spread = (values) => ({ median: median(values), max: Math.max(...values), min: Math.min(...values) });

/** One size, start to stop. Fills `world` as it goes so that the caller's finally can stop it all. */
async function runSize(world, size, config, log, sleeperPid) {
  const t = (label, since) => {
    world.setup[label] = performance.now() - since;
  };
  const tag = `M4 ${size.daemons}×${size.sessions}`;
  world.layout = layout(size.daemons, size.sessions);
  let since = performance.now();
  world.nats = await startMonitoredNats(join(world.root, "nats"));
  log(`${tag}: starting ${size.daemons} daemons`);
  world.daemons = await startDaemons(world.root, size.daemons, world.nats.url, MESH, {
    onStarted: (d) => world.started.push(d),
  });
  await waitMetric(world.daemons, "claudemesh_nats_links_connected", () => 1, { timeoutMs: 60_000 });
  t("daemonsMs", since);

  log(`${tag}: registering ${world.layout.total} sessions, opening their event streams`);
  since = performance.now();
  world.sessions = world.layout.members.map((m) => ({ ...m }));
  await eachLimit(world.daemons, 8, async (daemon) => {
    for (const s of world.sessions.filter((x) => x.daemon === daemon.index)) {
      s.token = await registerMember(daemon.pool, {
        pid: sleeperPid,
        sessionId: s.id,
        mesh: MESH,
        role: s.role,
        groups: [s.group],
      });
    }
  });
  t("registerMs", since);
  const onCopy = (g) => (text, at) => {
    const n = Number(text.slice(3));
    const book = world.probing ? world.probeBook : world.meshBook;
    arrival(book, n, g, at);
  };
  for (const s of world.sessions) {
    s.stream = openMessageStream(world.daemons[s.daemon].socket, s.token, onCopy(s.g));
    world.streams.push(s.stream);
  }
  await Promise.all(world.streams.map((s) => s.opened));
  since = performance.now();
  const remote = world.layout.total - size.sessions;
  await waitMetric(world.daemons, "claudemesh_remote_peers", () => remote, {
    timeoutMs: config.convergeTimeoutMs,
    everyMs: 500,
  });
  t("convergeMs", since);
  log(`${tag}: presence converged in ${(world.setup.convergeMs / 1000).toFixed(1)} s; idle window`);

  // Idle: no message moving; what presence refresh and liveness cost on their own.
  world.spy = await openSpy(world);
  const pids = world.daemons.map((d) => d.pid);
  const idleDaemons = new ProcMeter(pids);
  const idleNats = new ProcMeter([world.nats.pid]);
  const c0 = await serverCounters(world);
  world.spy.reset();
  const s0 = performance.now();
  idleDaemons.start();
  idleNats.start();
  await sleep(config.idleMs);
  idleDaemons.stop();
  idleNats.stop();
  const idleSeconds = (performance.now() - s0) / 1000;
  const c1 = await serverCounters(world);
  const idle = {
    daemonCores: spread(idleDaemons.cores()),
    daemonRss: spread(idleDaemons.maxRss),
    natsCores: idleNats.cores()[0],
    natsRss: idleNats.maxRss[0],
    server: rates(c0, c1),
    spy: {
      pings: world.spy.counts.pings / idleSeconds,
      puts: world.spy.counts.puts / idleSeconds,
      putBytes: world.spy.counts.putBytes / idleSeconds,
    },
  };

  // The sealed frames' size, from direct messages to a session of another daemon, one at a time.
  log(`${tag}: ${config.probes} probe messages for the sealed frames' size`);
  world.probing = true;
  world.spy.frames(true);
  const probePlan = [];
  for (let i = 0; i < config.probes; i++) {
    const sender = (i * 7919) % world.layout.total;
    const senderDaemon = world.sessions[sender].daemon;
    const r = world.sessions.find((s) => s.daemon === (senderDaemon + 1) % size.daemons && s.g !== sender).g;
    probePlan.push({ kind: "direct", to: world.sessions[r].id, expected: [r], sender, n: world.seq++ });
  }
  await closedLoop(world.probeBook, probePlan, 1, 60_000, (m) => postMessage(world, world.probeBook, m));
  world.sentPlan.push(...probePlan);
  world.spy.frames(false);
  world.probing = false;
  const frames = world.spy.counts.frames.slice();
  const frameBytes = Math.round(median(frames));
  world.raw = await rawSetUp(world, frameBytes);

  const meshDaemons = new ProcMeter(pids);
  const meshNats = new ProcMeter([world.nats.pid]);
  const rawDaemons = new ProcMeter(pids);
  const rawNats = new ProcMeter([world.nats.pid]);
  const meshRounds = [];
  const rawRounds = [];
  const meshServer = [];
  let meshBenchCpuMs = 0;
  let rawBenchCpuMs = 0;
  const random = rng(4242 + size.daemons * 1000 + size.sessions);
  const perRound = Math.ceil(config.messagesPerSize / config.rounds);
  for (let round = 0; round < config.rounds; round++) {
    const plan = makePlan(world, perRound, random, () => world.seq++);
    const a = await serverCounters(world);
    let cpu0 = process.cpuUsage();
    meshDaemons.start();
    meshNats.start();
    const mesh = await closedLoop(world.meshBook, plan, IN_FLIGHT, config.chunkDeadlineMs, (m) =>
      postMessage(world, world.meshBook, m),
    );
    meshDaemons.stop();
    meshNats.stop();
    let cpu = process.cpuUsage(cpu0);
    meshBenchCpuMs += (cpu.user + cpu.system) / 1000;
    meshServer.push(rates(a, await serverCounters(world)));
    const sent = plan.slice(0, mesh.sent);
    world.sentPlan.push(...sent);
    meshRounds.push({ ...mesh, copies: sent.reduce((x, m) => x + copiesOf(m), 0) });
    // Untimed: copies still on their way land, every inbox is read and emptied (none nears its 1,000).
    await waitMetric(world.daemons, "claudemesh_outbox_depth", () => 0, { timeoutMs: 15_000 }).catch(() => {});
    await drainInboxes(world);
    await sleep(500);

    // The same messages (their copies) through raw JetStream: new sequence numbers, same recipients.
    const rawPlan = sent.map((m) => ({ ...m, n: world.seq++ }));
    cpu0 = process.cpuUsage();
    rawDaemons.start();
    rawNats.start();
    const raw = await closedLoop(world.rawBook, rawPlan, IN_FLIGHT, 10 * config.chunkDeadlineMs, (m) =>
      world.raw.post(m),
    );
    rawDaemons.stop();
    rawNats.stop();
    cpu = process.cpuUsage(cpu0);
    rawBenchCpuMs += (cpu.user + cpu.system) / 1000;
    rawRounds.push({ ...raw, copies: meshRounds.at(-1).copies });
    log(
      `${tag}: round ${round + 1}/${config.rounds}: ${mesh.sent} messages (${meshRounds.at(-1).copies} copies), ${fmtInt(mesh.perSec)} msg/s against raw ${fmtInt(raw.perSec)}`,
    );
  }
  await waitMetric(world.daemons, "claudemesh_outbox_depth", () => 0, { timeoutMs: 15_000 }).catch(() => {});
  await sleep(1_000);
  await drainInboxes(world);
  const delivery = account(world);

  const metrics = await Promise.all(world.daemons.map(metricsOf));
  const sumMetric = (name) => metrics.reduce((x, text) => x + (metricValue(text, name) || 0), 0);
  const after = {
    outboxDepth: sumMetric("claudemesh_outbox_depth"),
    framesPublished: sumMetric("claudemesh_remote_frames_published_total"),
    framesReceived: sumMetric("claudemesh_remote_frames_received_total"),
    presencesPublished: sumMetric("claudemesh_presences_published_total"),
    refused: metrics.reduce(
      (x, text) =>
        x +
        text
          .split("\n")
          .filter((l) => l.startsWith("claudemesh_remote_refused_total{"))
          .reduce((y, l) => y + Number(l.split(" ").pop()), 0),
      0,
    ),
    alive: world.daemons.filter((d) => d.alive()).length,
    streamsEndedEarly: world.streams.filter((x) => x.endedEarly).length,
  };

  const lat = (book) => Object.fromEntries(["all", ...KINDS].map((k) => [k, latencySummary(book.latency[k].values())]));
  const meshSent = meshRounds.reduce((x, r) => x + r.sent, 0);
  const meshCopies = meshRounds.reduce((x, r) => x + r.copies, 0);
  const meshMs = meshRounds.reduce((x, r) => x + r.elapsedMs, 0);
  const rawMs = rawRounds.reduce((x, r) => x + r.elapsedMs, 0);
  const mb = world.meshBook;
  const rb = world.rawBook;
  const meshCpuTotal = meshDaemons.cpuMs.reduce((x, y) => x + y, 0);
  return {
    daemons: size.daemons,
    sessionsPerDaemon: size.sessions,
    sessions: world.layout.total,
    groups: world.layout.groups,
    roles: world.layout.roles,
    groupSize: world.layout.groupSize,
    setup: { ...world.setup },
    idle,
    frames: { count: frames.length, bytes: frameBytes, min: Math.min(...frames), max: Math.max(...frames) },
    mesh: {
      sent: meshSent,
      copies: meshCopies,
      broadcasts: world.sentPlan.filter((m) => m.kind === "broadcast").length,
      perSec: median(meshRounds.map((r) => r.perSec)),
      copiesPerSec: (meshCopies / meshMs) * 1000,
      latency: lat(mb),
      delivery,
      timedOutCopies: mb.timedOutCopies,
      late: mb.late,
      duplicateEvents: mb.duplicates,
      misrouted: mb.misrouted,
      untimedEvents: mb.untimed,
      rateLimited: mb.rateLimited + world.probeBook.rateLimited,
      daemonCores: spread(meshDaemons.cores()),
      daemonRss: spread(meshDaemons.maxRss),
      daemonCpuMsPerCopy: meshCpuTotal / meshCopies,
      natsCores: meshNats.cores()[0],
      natsRss: meshNats.maxRss[0],
      benchCores: meshBenchCpuMs / meshMs,
      server: {
        inMsgs: median(meshServer.map((s) => s.inMsgs)),
        inBytes: median(meshServer.map((s) => s.inBytes)),
        messageStream: median(meshServer.map((s) => s.messageStream)),
      },
      rounds: meshRounds,
    },
    raw: {
      sent: rawRounds.reduce((x, r) => x + r.sent, 0),
      perSec: median(rawRounds.map((r) => r.perSec)),
      copiesPerSec: (meshCopies / rawMs) * 1000,
      latency: lat(rb),
      timedOutCopies: rb.timedOutCopies,
      duplicates: rb.duplicates,
      natsCores: rawNats.cores()[0],
      daemonCores: spread(rawDaemons.cores()),
      benchCores: rawBenchCpuMs / rawMs,
      rounds: rawRounds,
    },
    after,
    retried: retried.count - world.retriedAtStart,
  };
}

async function stopWorld(world) {
  await world.raw?.close().catch(() => {});
  await world.spy?.close().catch(() => {});
  for (const s of world.streams) s.close();
  await Promise.all(world.started.map((d) => d.pool.close().catch(() => {})));
  await Promise.all(world.started.map((d) => d.stop()));
  await world.nats?.stop();
}

const freshWorld = (root) => ({
  root,
  started: [],
  daemons: [],
  streams: [],
  sessions: [],
  setup: {},
  seq: 0,
  sentPlan: [],
  inboxes: new Map(),
  meshBook: newBook(),
  rawBook: newBook(),
  probeBook: newBook(),
  probing: false,
  retriedAtStart: retried.count,
});

const pct = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(x === 1 ? 0 : 3)} %` : "—");
const cores = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : "—");

export async function run({ quick, log }) {
  const config = quick ? QUICK : FULL;
  const sleepers = await spawnSleepers(1);
  const results = [];
  const failures = [];
  try {
    for (const size of config.sizes) {
      const root = makeTempDir("cm4-");
      const world = freshWorld(root);
      const t0 = performance.now();
      try {
        const r = await runSize(world, size, config, log, sleepers.pids[0]);
        r.durationMs = performance.now() - t0;
        results.push(r);
      } catch (error) {
        // In a full run a size that does not fit ends the curve (larger ones would not fit either).
        const dead = world.started.filter((d) => !d.alive());
        if (dead.length > 0) {
          const first = dead[0];
          error.message += `; ${dead.length} of ${world.started.length} daemons exited (daemon ${first.index}'s stderr: ${first.stderr().trim().slice(-400)})`;
        }
        if (quick || results.length === 0) throw error;
        log(`M4 ${size.daemons}×${size.sessions} failed: ${error.stack ?? error}`);
        failures.push({ ...size, error: String(error?.message ?? error), setup: { ...world.setup } });
        break;
      } finally {
        await stopWorld(world);
        removeDir(root);
      }
    }
  } finally {
    await sleepers.stop();
  }

  const largest = results.at(-1);
  const smallest = results[0];
  const mix = `${MIX.direct * 100} % direct by session id, ${MIX.role * 100} % role anycast (role:NAME, ${ROLE_HOLDERS} holders), ${MIX.group * 100} % group (@group, up to ${GROUP_SIZE} members), and on top one broadcast (\`*\`) per ${fmtInt(BROADCAST_EVERY)} messages, at least one a round`;
  const flatCpu = largest.idle.daemonCores.median / smallest.idle.daemonCores.median;
  const flatRss = largest.idle.daemonRss.median / smallest.idle.daemonRss.median;
  const flatLoadCpu = largest.mesh.daemonCpuMsPerCopy / smallest.mesh.daemonCpuMsPerCopy;
  const sizeLabel = (r) => `${r.daemons} × ${r.sessionsPerDaemon}`;
  return {
    baseline: `on the same nats-server in the same run, interleaved round by round with the daemons' messages: raw nats.js (the daemons' own 3.4.0) doing the same fan-out, one publisher connection publishing every copy of each message (a role message: one holder's) to a file-storage JetStream stream, awaiting each ack, and one bare connection with a durable consumer (explicit acks, 256 pulled at a time, as the daemons' \`cm_<mesh>_<daemon>\`) per daemon, each copy the size of the median sealed frame seen on the server; the same messages, the same recipients, the same ${IN_FLIGHT} in flight`,
    sizes: {
      sizes: config.sizes,
      messagesPerSize: config.messagesPerSize,
      rounds: config.rounds,
      chunkDeadlineMs: config.chunkDeadlineMs,
      inFlight: IN_FLIGHT,
      idleMs: config.idleMs,
      mix,
    },
    repetitions: { rounds: config.rounds },
    notes: [
      `Sizes: daemons × sessions per daemon; every daemon is the CLI's bundled daemon in its own temp dir and process, the mesh \`${MESH}\` bound in its meshes.json to one \`nats-server -js\` (with its monitoring port) started for the size; every session registered with a role and a group (both spread over the daemons) and its event stream open. Presence converged (every daemon's claudemesh_remote_peers = the other daemons' sessions) before anything is measured.`,
      `Mix: ${mix}; senders picked at random among all sessions (seeded), each POST to the sender's own daemon with its token. ${IN_FLIGHT} messages in flight (closed loop): a worker sends its next message once every copy of the last one arrived (or after ${COPY_TIMEOUT_MS / 1000} s). Up to ${fmtInt(config.messagesPerSize)} messages per size in ${config.rounds} rounds, each round stopping after ${config.chunkDeadlineMs / 1000} s if not done; the raw baseline sends the same messages right after each round.`,
      "Latency: from the POST leaving the client to the recipient's `message` event on its own stream (what an agent is pushed; the contract's `surfaced` comes only when it reads or marks it, which here is the inbox read after each round). One sample per recipient copy; p50/p99/max over all copies of the size. msg/s: median over rounds of messages per second.",
      "Delivered: after each round (untimed) every session's inbox is read with GET /v1/inbox and its token and acked (so none nears its 1,000 unsurfaced); at the end of the size every copy expected (each direct and group recipient, every session but the sender for a broadcast, one holder for a role) is looked for among what the inboxes held: found, missing, duplicated, unexpected.",
      "CPU: utime+stime from /proc/<pid>/stat over the windows (100 % = one core busy); RSS: VmRSS from /proc/<pid>/status, the largest seen. Idle: a window with no message moving after presence converged (presence refresh and liveness only). Per daemon: the median and the max over the daemons. Presence traffic: KV puts/s from the presence bucket's stream sequence (/jsz), all messages in from /varz, and a raw subscriber counting liveness ping requests and presence puts.",
      ...results.map(
        (r) =>
          `${sizeLabel(r)}: set-up ${fmtMs(r.setup.daemonsMs)} to start the daemons, ${fmtMs(r.setup.registerMs)} to register ${fmtInt(r.sessions)} sessions, ${fmtMs(r.setup.convergeMs)} more for presence to converge; frames ${fmtInt(r.frames.bytes)} B (median of ${r.frames.count}); ${fmtInt(r.mesh.sent)} messages, ${fmtInt(r.mesh.copies)} copies (${r.mesh.broadcasts} broadcasts); copies timed out ${fmtInt(r.mesh.timedOutCopies)}, late ${r.mesh.late}, duplicate events ${r.mesh.duplicateEvents}, misrouted ${r.mesh.misrouted}; 429s ${r.mesh.rateLimited}, requests sent again after a broken connection ${r.retried}; after: outbox ${r.after.outboxDepth}, refused frames/presences ${r.after.refused}, daemons alive ${r.after.alive}/${r.daemons}, event streams ended early ${r.after.streamsEndedEarly}; the bench client used ${cores(r.mesh.benchCores)} of a core during the daemons' rounds, ${cores(r.raw.benchCores)} during the raw ones.`,
      ),
      ...failures.map(
        (f) =>
          `${f.daemons} × ${f.sessions} did not fit: ${f.error} (set-up so far: ${Object.entries(f.setup)
            .map(([k, v]) => `${k} ${fmtMs(v)}`)
            .join(", ")}).`,
      ),
      "The nats-server, every daemon and the bench client (all event streams, the raw publisher and consumers) share the machine's 2 cores.",
    ],
    tables: [
      {
        title:
          "Messages mixed across daemons: delivered, POST → `message` event per copy, against raw JetStream doing the same fan-out",
        header: [
          "daemons × sessions",
          "messages (copies)",
          "delivered",
          "msg/s",
          "raw msg/s",
          "msg/s ratio",
          "p50",
          "p99",
          "max",
          "raw p50",
          "raw p99",
          "p99 ratio",
        ],
        rows: results.map((r) => [
          sizeLabel(r),
          `${fmtInt(r.mesh.sent)} (${fmtInt(r.mesh.copies)})`,
          pct(r.mesh.delivery.found / r.mesh.delivery.expected),
          fmtInt(r.mesh.perSec),
          fmtInt(r.raw.perSec),
          fmtRatio(r.mesh.perSec / r.raw.perSec),
          fmtMs(r.mesh.latency.all.p50),
          fmtMs(r.mesh.latency.all.p99),
          fmtMs(r.mesh.latency.all.max),
          fmtMs(r.raw.latency.all.p50),
          fmtMs(r.raw.latency.all.p99),
          fmtRatio(r.mesh.latency.all.p99 / r.raw.latency.all.p99),
        ]),
      },
      {
        title: "Latency by kind of address (POST → `message` event, p50 / p99 over copies)",
        header: ["daemons × sessions", ...KINDS],
        rows: results.map((r) => [
          sizeLabel(r),
          ...KINDS.map(
            (k) =>
              `${fmtMs(r.mesh.latency[k].p50)} / ${fmtMs(r.mesh.latency[k].p99)} (${fmtInt(r.mesh.latency[k].count)})`,
          ),
        ]),
      },
      {
        title:
          "What each daemon and the server cost: idle (presence and liveness only) and under the messages (median / max over daemons)",
        header: [
          "daemons × sessions",
          "daemon CPU idle",
          "daemon CPU, messages",
          "daemon RSS",
          "daemons' CPU per copy",
          "server CPU idle",
          "server CPU, messages",
          "server CPU, raw",
          "server RSS",
        ],
        rows: results.map((r) => [
          sizeLabel(r),
          `${cores(r.idle.daemonCores.median)} / ${cores(r.idle.daemonCores.max)}`,
          `${cores(r.mesh.daemonCores.median)} / ${cores(r.mesh.daemonCores.max)}`,
          `${fmtBytes(r.mesh.daemonRss.median)} / ${fmtBytes(r.mesh.daemonRss.max)}`,
          fmtMs(r.mesh.daemonCpuMsPerCopy),
          cores(r.idle.natsCores),
          cores(r.mesh.natsCores),
          cores(r.raw.natsCores),
          fmtBytes(Math.max(r.idle.natsRss, r.mesh.natsRss)),
        ]),
      },
      {
        title: "Background traffic with no message moving (per second, on the server)",
        header: [
          "daemons × sessions",
          "presence puts/s (KV stream)",
          "presence bytes/s",
          "liveness pings/s",
          "messages in/s (/varz)",
          "bytes in/s (/varz)",
          "all daemons' CPU idle",
        ],
        rows: results.map((r) => [
          sizeLabel(r),
          fmtInt(r.idle.server.kvPuts),
          fmtBytes(r.idle.spy.putBytes),
          fmtInt(r.idle.spy.pings),
          fmtInt(r.idle.server.inMsgs),
          fmtBytes(r.idle.server.inBytes),
          cores(r.idle.daemonCores.median * r.daemons),
        ]),
      },
    ],
    goals: [
      {
        goal: "100 % of recipient copies delivered, at every size",
        measured: results
          .map(
            (r) =>
              `${sizeLabel(r)}: ${pct(r.mesh.delivery.found / r.mesh.delivery.expected)} (${fmtInt(r.mesh.delivery.missing)} missing of ${fmtInt(r.mesh.delivery.expected)})`,
          )
          .join(", "),
        met: results.every((r) => r.mesh.delivery.missing === 0 && r.mesh.delivery.duplicates === 0),
      },
      {
        goal: "p99 POST → `message` event ≤ 50 ms at the largest size that fits",
        measured: `${sizeLabel(largest)}: ${fmtMs(largest.mesh.latency.all.p99)} (raw ${fmtMs(largest.raw.latency.all.p99)})${failures.length > 0 ? `; ${failures[0].daemons} × ${failures[0].sessions} did not fit` : ""}`,
        met: largest.mesh.latency.all.p99 <= 50,
      },
      {
        goal: "cost per daemon flat as daemons grow (largest size within 1.5× of the smallest: idle CPU, RSS, CPU per copy)",
        measured: `${sizeLabel(smallest)} → ${sizeLabel(largest)}: idle CPU ${fmtRatio(flatCpu)}, RSS ${fmtRatio(flatRss)}, CPU per copy ${fmtRatio(flatLoadCpu)}`,
        met: results.length > 1 && flatCpu <= 1.5 && flatRss <= 1.5 && flatLoadCpu <= 1.5,
      },
    ],
    data: { results, failures },
  };
}
