// SOAK: a bounded soak of meshes across machines. A hub nats-server with JetStream, two leaf
// nats-servers without JetStream (each linked to the hub through a relay the bench can cut), and
// three daemons (one per leaf, one on the hub), each its own process and dir. For the whole run,
// sessions (real processes) come and go, a steady load of messages (direct, role, broadcast, each
// with a unique nonce) flows between sessions on different daemons, and a seeded schedule of
// faults plays: a daemon restarted cleanly, a daemon killed -9 and restarted, the hub restarted on
// its store, a leaf cut from its hub (its link reset), a leaf frozen (SIGSTOP). Invariants, checked throughout and after a settle period:
// every message owed reaches its recipient's inbox exactly once and the sender sees it delivered;
// no ghost peer beyond the contract's bounds; no live peer missing once the mesh has recovered;
// memory, fds, files and the JetStream store bounded. A broken invariant throws, with evidence.
// Replay a run with CLAUDEMESH_SOAK_SEED=<seed> (printed at the start).
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { PATHS, startServer } from "./lib/daemon.mjs";
import { metricValue, newToken } from "./lib/http.mjs";
import { writeMeshBinding } from "./lib/nats.mjs";
import { monitor, startHub, startLeaf, startRelay, waitLeafCount } from "./lib/nats-leaf.mjs";
import {
  cleanEnv,
  makeTempDir,
  removeDir,
  rssBytes,
  signalPid,
  sleep,
  spawnSleepers,
  untrack,
  waitGone,
} from "./lib/proc.mjs";
import { fmtBytes, fmtInt, fmtMs, latencySummary } from "./lib/stats.mjs";

export const id = "SOAK";
export const title =
  "Soak: sessions churn, daemons restart and are killed, the hub restarts, a leaf loses its hub; messages and peers checked throughout";

const MESH = "soak";
/** The daemons' reaper interval: a dead session's process is noticed within it. */
const REAPER_MS = 2_000;
/** Polling the peers lists: the error on every ghost figure is within one period (plus a request). */
const PEERS_EVERY_MS = 250;
/** Contract bounds (docs/contract.md, "What a bound mesh carries"). */
const REMOTE_DELETE_MS = REAPER_MS + 1_000;
const STOPPED_REFRESHING_MS = 15_000;
const LINK_GRACE_MS = 3_000;
/** What our polling adds to a measured time: a period, a request, a loaded 2-core machine. */
const SLACK_MS = 1_000;
/** A live session must be on every daemon's peers list this long after a fault was recovered from. */
const CONVERGE_BOUND_MS = 45_000;
/** Checked throughout: a copy to a live session is in its inbox this long after its send. */
const DELIVERY_BOUND_MS = 60_000;

const auth = (token) => ({ authorization: `ClaudeMesh-Session ${token}` });

/** mulberry32: a small seeded PRNG, so that a schedule can be replayed from its seed. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle(list, rand) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/** Files under `dir` (recursively): how many and their total size; sockets and the like not counted. */
function dirUsage(dir) {
  let files = 0;
  let bytes = 0;
  const walk = (d) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        try {
          bytes += statSync(p).size;
          files++;
        } catch {
          // gone meanwhile
        }
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

/** `claudemesh_remote_refused_total{kind, reason}` as `kind/reason` → count. */
function refusedCounts(text) {
  const counts = new Map();
  for (const line of text.split("\n")) {
    if (!line.startsWith("claudemesh_remote_refused_total{")) continue;
    const kind = /kind="([^"]*)"/.exec(line)?.[1] ?? "?";
    const reason = /reason="([^"]*)"/.exec(line)?.[1] ?? "?";
    const n = Number(line.split(" ").pop());
    if (n > 0) counts.set(`${kind}/${reason}`, n);
  }
  return counts;
}

function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** start / after warm-up / peak / end of one figure over samples `{t, v}`. */
function spanOf(samples, warmAt) {
  const values = samples.filter((s) => Number.isFinite(s.v));
  if (values.length === 0) return { start: Number.NaN, warm: Number.NaN, peak: Number.NaN, end: Number.NaN };
  const warm = values.find((s) => s.t >= warmAt) ?? values[values.length - 1];
  return {
    start: values[0].v,
    warm: warm.v,
    peak: Math.max(...values.map((s) => s.v)),
    end: values[values.length - 1].v,
  };
}

class World {
  constructor({ quick, log, seed }) {
    this.quick = quick;
    this.log = log;
    this.seed = seed;
    this.rand = prng(seed);
    this.t0 = performance.now();
    this.machines = [];
    this.sessions = new Map();
    this.nextSession = 0;
    this.nextNonce = 0;
    this.sent = [];
    /** Copies not read yet, checked every few seconds: `{m, r}` (message record, recipient id). */
    this.outstanding = new Set();
    this.byNonce = new Map();
    this.faults = [];
    this.violations = [];
    this.counts = {
      accepted: 0,
      unknownRecipient: 0,
      daemonDown: 0,
      otherRefusal: 0,
      readErrors: 0,
      duplicates: 0,
      overdue: 0,
      registered: 0,
      ended: 0,
      unexpectedArrivals: 0,
    };
    this.otherStatuses = new Map();
    this.ghostSamples = { calm: [], fault: [] };
    this.resources = { hubBytes: [], streamMessages: [], streamBytes: [] };
    this.stopping = false;
  }

  now() {
    return performance.now() - this.t0;
  }

  violate(kind, detail) {
    if (this.violations.filter((v) => v.kind === kind).length < 20)
      this.violations.push({ kind, at: this.now(), detail });
    else
      this.violations.find((v) => v.kind === kind).more = (this.violations.find((v) => v.kind === kind).more ?? 0) + 1;
    this.log(`SOAK: invariant broken (${kind}): ${JSON.stringify(detail).slice(0, 400)}`);
  }

  pick(list) {
    return list[Math.floor(this.rand() * list.length)];
  }

  alive() {
    return [...this.sessions.values()].filter((s) => s.alive);
  }

  /** Faults whose window [start, converged] meets [from, to]. */
  faultsBetween(from, to) {
    return this.faults.filter((f) => f.start <= to && (f.converged ?? Number.POSITIVE_INFINITY) >= from);
  }
}

/** One request to a machine's daemon; `{status, json, text}`, or `{status: 0, error}` when it could not be asked. */
async function call(machine, { method = "GET", path, body, token }) {
  if (!machine.up) return { status: 0, error: "down" };
  try {
    const headers = token ? auth(token) : {};
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await machine.pool.request({
      method,
      path,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, json, text };
  } catch (error) {
    return { status: 0, error: error.code ?? error.message };
  }
}

async function startMachine(machine) {
  const t0 = performance.now();
  machine.daemon = await startServer(
    PATHS.cliDaemon,
    ["--dir", machine.dir, "--reaper-interval-ms", String(REAPER_MS)],
    join(machine.dir, "daemon.sock"),
    { env: cleanEnv() },
  );
  machine.pool ??= new Pool("http://localhost", {
    connections: 6,
    pipelining: 1,
    keepAliveTimeout: 10_000,
    connect: { socketPath: join(machine.dir, "daemon.sock") },
  });
  machine.up = true;
  machine.starts++;
  await meshConnected(machine);
  return performance.now() - t0;
}

/** Waits until the daemon says its mesh's link is connected (its own view of its server). */
async function meshConnected(machine, timeoutMs = 30_000) {
  const end = performance.now() + timeoutMs;
  let last;
  while (performance.now() < end) {
    const res = await call(machine, { path: `/v1/meshes/${MESH}` });
    last = res.json?.status?.state ?? res.error ?? res.status;
    if (last === "connected") return;
    await sleep(50);
  }
  throw new Error(`${machine.name}: mesh ${MESH} not connected within ${timeoutMs} ms (last: ${last})`);
}

async function stopMachine(machine, how) {
  machine.up = false;
  const pid = machine.daemon.pid;
  if (how === "kill9") {
    signalPid(pid, "SIGKILL");
    await waitGone(pid, 5_000);
    untrack(pid);
  } else {
    await machine.daemon.stop();
  }
}

async function registerSession(world, machine, { stable = false, role } = {}) {
  const sessionId = `soak-${world.seed.toString(36)}-${world.nextSession++}`;
  const sleeper = await spawnSleepers(1);
  const token = newToken();
  const res = await call(machine, {
    method: "POST",
    path: "/v1/sessions/register",
    body: {
      token,
      pid: sleeper.pids[0],
      session_id: sessionId,
      display_name: sessionId,
      mesh: MESH,
      ...(role && { role }),
    },
  });
  if (res.status !== 200) {
    await sleeper.stop();
    return undefined;
  }
  const session = {
    id: sessionId,
    machine,
    token,
    sleeper,
    stable,
    role,
    alive: true,
    registeredAt: world.now(),
    endedAt: undefined,
    endHow: undefined,
    /** message id → nonce, for every message read from its inbox */
    readIds: new Map(),
    /** nonce → message id */
    nonces: new Map(),
    ackedIds: new Set(),
    lastSeen: new Map(),
  };
  world.sessions.set(sessionId, session);
  world.counts.registered++;
  return session;
}

/** Ends a session: its process killed (the reaper removes it), or DELETE /v1/sessions/me first. */
async function endSession(world, session, how) {
  session.alive = false;
  if (how === "deregister") {
    const res = await call(session.machine, { method: "DELETE", path: "/v1/sessions/me", token: session.token });
    if (res.status !== 200) how = "exited";
  }
  if (how === "deregister") session.endedAt = world.now();
  await session.sleeper.stop();
  if (how !== "deregister") session.endedAt = world.now();
  session.endHow = how;
  world.counts.ended++;
}

/** The bound on a session's last sighting in any peers list, from its end; and whether a fault was near. */
function ghostBound(world, session) {
  const e = session.endedAt;
  const calm = REMOTE_DELETE_MS + SLACK_MS;
  const near = world.faultsBetween(e - LINK_GRACE_MS, e + calm);
  if (near.length === 0) return { boundMs: calm, fault: false };
  const recovered = Math.max(...near.map((f) => f.converged ?? world.now()));
  return {
    boundMs: Math.max(e, recovered) + LINK_GRACE_MS + STOPPED_REFRESHING_MS + REAPER_MS + 2 * SLACK_MS - e,
    fault: true,
  };
}

/** Polls every daemon's peers list: ghosts (ended sessions still listed), and who is missing. */
async function pollPeers(world) {
  const round = await Promise.all(
    world.machines.map(async (m) => {
      const at = world.now();
      const res = await call(m, { path: `/v1/peers?mesh=${MESH}` });
      if (res.status !== 200) return { m, at, ids: undefined };
      return { m, at, ids: new Set(res.json.peers.map((p) => p.session_id)) };
    }),
  );
  for (const { m, at, ids } of round) {
    if (ids === undefined) continue;
    m.lastPeers = { at, ids };
    for (const id of ids) {
      const s = world.sessions.get(id);
      if (s === undefined || s.alive || s.endedAt === undefined) continue;
      s.lastSeen.set(m.name, at);
      const { boundMs, fault } = ghostBound(world, s);
      if (at - s.endedAt > boundMs && !s.ghostReported) {
        s.ghostReported = true;
        world.violate("ghost peer", {
          session: s.id,
          holder: s.machine.name,
          listedBy: m.name,
          endHow: s.endHow,
          msAfterEnd: Math.round(at - s.endedAt),
          boundMs: Math.round(boundMs),
          nearFault: fault,
        });
      }
    }
  }
  return round;
}

/** Every live session older than 3 s on every up daemon's last peers list? The missing pairs. */
function missingPeers(world) {
  const missing = [];
  const now = world.now();
  for (const m of world.machines) {
    if (!m.up || m.lastPeers === undefined) {
      missing.push({ daemon: m.name, session: "(no peers list yet)" });
      continue;
    }
    for (const s of world.alive()) {
      if (now - s.registeredAt < 3_000 || m.lastPeers.at < s.registeredAt + 3_000) continue;
      if (!s.machine.up) continue;
      if (!m.lastPeers.ids.has(s.id)) missing.push({ daemon: m.name, session: s.id, holder: s.machine.name });
    }
  }
  return missing;
}

/** Reads one session's inbox, counts every nonce, acks what it read. */
async function readInbox(world, s) {
  const res = await call(s.machine, { path: "/v1/inbox", token: s.token });
  if (res.status !== 200) {
    if (res.status !== 0 && s.alive) world.counts.readErrors++;
    return;
  }
  const at = world.now();
  const ids = [];
  for (const m of res.json.messages) {
    const nonce = m.text;
    if (s.ackedIds.has(m.id)) {
      world.counts.duplicates++;
      world.violate("surfaced twice", {
        session: s.id,
        daemon: s.machine.name,
        message: m.id,
        nonce,
        why: "read again after its ack was answered",
      });
    }
    const before = s.nonces.get(nonce);
    if (before !== undefined && before !== m.id) {
      world.counts.duplicates++;
      world.violate("surfaced twice", {
        session: s.id,
        daemon: s.machine.name,
        message: m.id,
        first: before,
        nonce,
        why: "one nonce under two message ids",
      });
    }
    if (!s.readIds.has(m.id)) {
      s.readIds.set(m.id, nonce);
      s.nonces.set(nonce, m.id);
      const sent = world.byNonce.get(nonce);
      if (sent === undefined) world.counts.unexpectedArrivals++;
      else if (!sent.firstRead.has(s.id)) sent.firstRead.set(s.id, at);
    }
    ids.push(m.id);
  }
  if (ids.length > 0) {
    const mark = await call(s.machine, {
      method: "POST",
      path: "/v1/inbox/mark",
      token: s.token,
      body: { ids, state: "acked" },
    });
    if (mark.status === 200) for (const id of ids) s.ackedIds.add(id);
  }
}

/** One message from a session to an address; recorded with the recipients the 202 names. */
async function sendOne(world, from, to, kind) {
  const nonce = `soak ${world.seed.toString(36)} ${world.nextNonce++} ${kind}`;
  const record = {
    nonce,
    from: from.id,
    fromMachine: from.machine.name,
    to,
    kind,
    at: world.now(),
    firstRead: new Map(),
  };
  world.byNonce.set(nonce, record);
  const res = await call(from.machine, {
    method: "POST",
    path: "/v1/messages",
    token: from.token,
    body: { to, text: nonce },
  });
  if (res.status === 202) {
    record.id = res.json.message.id;
    record.recipients = res.json.message.recipients.map((r) => r.session_id);
    world.sent.push(record);
    world.counts.accepted++;
    for (const r of record.recipients) world.outstanding.add({ m: record, r });
  } else if (res.status === 0) world.counts.daemonDown++;
  else if (res.json?.error?.code === "unknown_recipient") world.counts.unknownRecipient++;
  else {
    world.counts.otherRefusal++;
    const key = `${res.status} ${res.json?.error?.code ?? res.text?.slice(0, 60)}`;
    world.otherStatuses.set(key, (world.otherStatuses.get(key) ?? 0) + 1);
  }
}

function sendRandom(world) {
  const senders = world.alive().filter((s) => s.machine.up);
  if (senders.length === 0) return undefined;
  const from = world.pick(senders);
  const roll = world.rand();
  if (roll < 0.1) return sendOne(world, from, "*", "broadcast");
  if (roll < 0.2) return sendOne(world, from, "role:worker", "role");
  const others = world.alive().filter((s) => s.machine !== from.machine);
  if (others.length === 0) return undefined;
  return sendOne(world, from, world.pick(others).id, "direct");
}

/** Samples each daemon's RSS, fds, dir; the hub's store and stream. */
async function sampleResources(world, hub) {
  const t = world.now();
  for (const m of world.machines) {
    const usage = dirUsage(m.dir);
    m.samples.files.push({ t, v: usage.files });
    m.samples.bytes.push({ t, v: usage.bytes });
    if (!m.up) continue;
    let rss = Number.NaN;
    try {
      rss = rssBytes(m.daemon.pid);
    } catch {
      // gone meanwhile
    }
    m.samples.rss.push({ t, v: rss });
    m.samples.fds.push({ t, v: fdCount(m.daemon.pid) });
    const metrics = await call(m, { path: "/v1/metrics" });
    if (metrics.status === 200) m.refusedRuns.set(m.starts, refusedCounts(metrics.text));
  }
  world.resources.hubBytes.push({ t, v: dirUsage(hub.storeDir).bytes });
  const jsz = await monitor(hub.ports.monitor, "/jsz");
  if (jsz !== undefined) {
    world.resources.streamMessages.push({ t, v: jsz.messages });
    world.resources.streamBytes.push({ t, v: jsz.bytes });
  }
}

/**
 * Checked throughout: a copy to a session still alive must be in its inbox within
 * `DELIVERY_BOUND_MS` of its send. Faults are one at a time and last at most ~25 s with their
 * recovery, so a copy caught in one is in well before that; one that is not has stalled.
 */
function checkOverdue(world) {
  const now = world.now();
  for (const item of world.outstanding) {
    const s = world.sessions.get(item.r);
    if (s === undefined || !s.alive || s.readIds.has(item.m.id)) {
      world.outstanding.delete(item);
      continue;
    }
    if (now - item.m.at > DELIVERY_BOUND_MS) {
      world.outstanding.delete(item);
      world.counts.overdue++;
      world.violate("delivery overdue", {
        message: item.m.id,
        kind: item.m.kind,
        from: `${item.m.from}@${item.m.fromMachine}`,
        to: `${s.id}@${s.machine.name}`,
        sentAtS: +(item.m.at / 1000).toFixed(1),
        msSinceSent: Math.round(now - item.m.at),
      });
    }
  }
}

/** Runs `fn` every `everyMs` until `world.stopping`; errors are counted, never thrown out of the loop. */
function every(world, everyMs, fn, label) {
  return (async () => {
    while (!world.stopping) {
      const t0 = performance.now();
      try {
        await fn();
      } catch (error) {
        world.log(`SOAK: ${label} failed: ${error.stack ?? error}`);
        world.loopErrors = (world.loopErrors ?? 0) + 1;
      }
      const left = everyMs - (performance.now() - t0);
      if (left > 0) await sleep(left);
    }
  })();
}

/** Plays one fault and waits until the mesh is whole again (every live peer listed everywhere). */
async function playFault(world, fault, env) {
  const { hub, relays, leaves } = env;
  fault.start = world.now();
  world.log(`SOAK: ${fault.kind} ${fault.target} at ${(fault.start / 1000).toFixed(1)} s`);
  if (fault.kind === "restart" || fault.kind === "kill9") {
    const m = world.machines.find((x) => x.name === fault.target);
    await stopMachine(m, fault.kind);
    fault.downMs = world.now() - fault.start;
    await startMachine(m);
  } else if (fault.kind === "hub") {
    await hub.restart();
    await waitLeafCount(hub.ports.monitor, leaves.length, 30_000);
  } else if (fault.kind === "cut") {
    const i = leaves.findIndex((l) => l.name === fault.target);
    relays[i].cut();
    await waitLeafCount(hub.ports.monitor, leaves.length - 1, 10_000);
    await sleep(fault.holdMs);
    relays[i].mend();
    await waitLeafCount(hub.ports.monitor, leaves.length, 30_000);
  } else if (fault.kind === "freeze") {
    const leaf = leaves.find((l) => l.name === fault.target);
    leaf.pause();
    try {
      await sleep(fault.holdMs);
    } finally {
      leaf.resume();
    }
    await meshConnected(world.machines.find((m) => m.on === fault.target));
  }
  fault.recovered = world.now();
  // Converged: a fresh peers round from every daemon lists every live session.
  const deadline = fault.recovered + CONVERGE_BOUND_MS;
  let missing = [];
  while (world.now() < deadline) {
    await sleep(PEERS_EVERY_MS);
    const polledFrom = world.now();
    while (world.machines.some((m) => m.up && (m.lastPeers?.at ?? 0) < polledFrom) && world.now() < deadline)
      await sleep(50);
    missing = missingPeers(world);
    if (missing.length === 0) break;
  }
  fault.converged = world.now();
  if (missing.length > 0) {
    world.violate("live peer missing after recovery", {
      fault: `${fault.kind} ${fault.target}`,
      msAfterRecovery: Math.round(fault.converged - fault.recovered),
      missing: missing.slice(0, 8),
    });
  }
  world.log(
    `SOAK: ${fault.kind} ${fault.target} recovered after ${fmtMs(fault.recovered - fault.start)}, converged ${fmtMs(fault.converged - fault.recovered)} later`,
  );
}

function makeSchedule(world, runMs) {
  const kinds = ["restart", "kill9", "hub", "cut", "freeze"];
  const rounds = world.quick ? 1 : 3;
  const list = [];
  for (let r = 0; r < rounds; r++) list.push(...shuffle([...kinds], world.rand));
  const slot = runMs / list.length;
  return list.map((kind, i) => ({
    kind,
    target:
      kind === "restart" || kind === "kill9"
        ? world.pick(["d1", "d2", "d3"])
        : kind === "cut" || kind === "freeze"
          ? world.pick(["leaf1", "leaf2"])
          : "hub",
    due: i * slot + (world.quick ? 2_000 : 5_000 + world.rand() * slot * 0.3),
    holdMs:
      kind === "cut" || kind === "freeze"
        ? world.quick
          ? 10_000
          : 10_000 + Math.round(world.rand() * 10_000)
        : undefined,
  }));
}

/** Owed: a message's recipient (as the 202 named it) whose session is alive at the end. */
function owedPairs(world) {
  const pairs = [];
  for (const m of world.sent) {
    for (const r of m.recipients) {
      const s = world.sessions.get(r);
      if (s?.alive) pairs.push({ m, s });
    }
  }
  return pairs;
}

/** Settles: reads inboxes and asks senders until every owed copy is in and seen delivered, or the deadline. */
async function settle(world, maxMs) {
  const end = performance.now() + maxMs;
  const pending = new Set(owedPairs(world));
  const viewPending = new Set([...pending].filter(({ m }) => world.sessions.get(m.from)?.alive));
  const states = new Map();
  while (performance.now() < end) {
    await Promise.all(world.alive().map((s) => readInbox(world, s)));
    for (const p of pending) if (p.s.readIds.has(p.m.id)) pending.delete(p);
    const byMessage = new Map();
    for (const p of viewPending) {
      const list = byMessage.get(p.m) ?? [];
      list.push(p);
      byMessage.set(p.m, list);
    }
    await Promise.all(
      [...byMessage].map(async ([m, list]) => {
        const sender = world.sessions.get(m.from);
        const res = await call(sender.machine, { path: `/v1/messages/${m.id}`, token: sender.token });
        if (res.status !== 200) return;
        for (const p of list) {
          const state = res.json.message.recipients.find((r) => r.session_id === p.s.id)?.state;
          states.set(p, state);
          if (state === "delivered" || state === "surfaced" || state === "acked") viewPending.delete(p);
        }
      }),
    );
    if (pending.size === 0 && viewPending.size === 0) break;
    await sleep(500);
  }
  return { pending, viewPending, states };
}

function copyEvidence(world, env) {
  const dir = join(tmpdir(), `claudemesh-soak-${world.seed}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  // Each daemon's dir as it is (logs, state, journals), but its socket and its member key.
  for (const m of world.machines) {
    cpSync(m.dir, join(dir, m.name), {
      recursive: true,
      filter: (src) => !src.endsWith("daemon.sock") && !src.endsWith("member.key"),
    });
  }
  for (const server of [env.hub, ...env.leaves]) {
    if (!server) continue;
    cpSync(join(server.dir, "server.conf"), join(dir, `${server.name}.conf`));
    writeFileSync(join(dir, `${server.name}.log`), server.log());
  }
  return dir;
}

/** Lines of a daemon's log that name `needle` (a message id, a session id), for the evidence. */
function grepLog(machine, needle, limit = 5) {
  const out = [];
  for (const f of ["daemon.log.1", "daemon.log"]) {
    const p = join(machine.dir, f);
    if (!existsSync(p)) continue;
    for (const line of readFileSync(p, "utf8").split("\n")) if (line.includes(needle)) out.push(line.slice(0, 300));
  }
  return out.slice(-limit);
}

export async function run({ quick, log }) {
  const seed = Number(process.env.CLAUDEMESH_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
  log(`SOAK: seed ${seed} (replay with CLAUDEMESH_SOAK_SEED=${seed})`);
  const runMs = quick ? 65_000 : 540_000;
  const settleMs = quick ? 45_000 : 90_000;
  const warmAt = quick ? 10_000 : 60_000;
  const ratePerSecond = 10;
  const churnEveryMs = quick ? 3_000 : 4_000;
  const world = new World({ quick, log, seed });
  const root = makeTempDir("cms-");
  const env = { hub: undefined, relays: [], leaves: [] };
  const loops = [];
  let setupMs;
  let settled;
  const finalMetrics = new Map();
  try {
    // The servers: the hub, a relay per leaf, the leaves.
    env.hub = await startHub(join(root, "hub"));
    for (const name of ["leaf1", "leaf2"]) {
      const relay = await startRelay(env.hub.ports.leaf);
      env.relays.push(relay);
      env.leaves.push(await startLeaf(join(root, name), name, relay.port));
    }
    await waitLeafCount(env.hub.ports.monitor, 2);
    const urls = { d1: env.leaves[0].url, d2: env.leaves[1].url, d3: env.hub.url };
    for (const [name, url] of Object.entries(urls)) {
      const dir = writeMeshBinding(join(root, name), MESH, url);
      world.machines.push({
        name,
        dir,
        url,
        on: name === "d3" ? "hub" : name === "d1" ? "leaf1" : "leaf2",
        up: false,
        starts: 0,
        samples: { rss: [], fds: [], files: [], bytes: [] },
        refusedRuns: new Map(),
      });
    }
    const t0 = performance.now();
    await Promise.all(world.machines.map((m) => startMachine(m)));
    // Sessions: two stable ones per machine (one with role worker), and churning ones.
    const churnSlots = quick ? 2 : 3;
    for (const m of world.machines) {
      await registerSession(world, m, { stable: true, role: "worker" });
      await registerSession(world, m, { stable: true });
      for (let i = 0; i < churnSlots; i++) await registerSession(world, m);
    }
    // Converged before anything starts: every daemon lists every session.
    const setupEnd = performance.now() + 30_000;
    for (;;) {
      await pollPeers(world);
      const missing = world.machines.flatMap((m) =>
        world
          .alive()
          .filter((s) => !m.lastPeers?.ids.has(s.id))
          .map((s) => `${m.name} lacks ${s.id}`),
      );
      if (missing.length === 0) break;
      if (performance.now() > setupEnd) throw new Error(`set-up did not converge: ${missing.slice(0, 5).join(", ")}`);
      await sleep(100);
    }
    setupMs = performance.now() - t0;
    world.t0 = performance.now();
    log(
      `SOAK: ${world.alive().length} sessions on 3 daemons (2 leaves, hub) in ${fmtMs(setupMs)}; running ${runMs / 1000} s`,
    );

    // The loops.
    const inFlight = new Set();
    loops.push(
      every(
        world,
        1000 / ratePerSecond,
        async () => {
          if (inFlight.size >= 32) return;
          const p = sendRandom(world);
          if (p === undefined) return;
          inFlight.add(p);
          p.finally(() => inFlight.delete(p));
        },
        "load",
      ),
      every(world, 1_500, () => Promise.all(world.alive().map((s) => readInbox(world, s))), "inbox"),
      every(world, PEERS_EVERY_MS, () => pollPeers(world), "peers"),
      every(world, 5_000, () => sampleResources(world, env.hub), "resources"),
      every(world, 2_000, async () => checkOverdue(world), "overdue"),
    );
    let churnAt = churnEveryMs;
    let churnCount = 0;
    const churn = async () => {
      const candidates = world.alive().filter((s) => !s.stable);
      if (candidates.length > 0) {
        const s = world.pick(candidates);
        await endSession(world, s, s.machine.up && churnCount % 2 === 0 ? "deregister" : "exited");
      }
      const up = world.machines.filter((m) => m.up);
      if (up.length > 0) await registerSession(world, world.pick(up));
      churnCount++;
    };
    const churnLoop = (async () => {
      while (world.now() < runMs) {
        if (world.now() >= churnAt) {
          churnAt += churnEveryMs;
          try {
            await churn();
          } catch (error) {
            log(`SOAK: churn failed: ${error.stack ?? error}`);
            world.loopErrors = (world.loopErrors ?? 0) + 1;
          }
        }
        await sleep(50);
      }
    })();

    // The faults, one after the other: each waits for the previous one's convergence and 3 s.
    const schedule = makeSchedule(world, runMs);
    log(`SOAK: schedule ${schedule.map((f) => `${f.kind}:${f.target}@${(f.due / 1000).toFixed(0)}s`).join(" ")}`);
    for (const fault of schedule) {
      const free = world.faults.length === 0 ? 0 : world.faults[world.faults.length - 1].converged + 3_000;
      const at = Math.max(fault.due, free);
      while (world.now() < at) await sleep(50);
      world.faults.push(fault);
      await playFault(world, fault, env);
    }
    while (world.now() < runMs) await sleep(100);
    await churnLoop;
    log(`SOAK: run over at ${(world.now() / 1000).toFixed(1)} s; settling (at most ${settleMs / 1000} s)`);
    // Load and churn stop; peers and resources keep being watched while it settles.
    world.stopping = true;
    await Promise.all(loops);
    await Promise.allSettled([...inFlight]);
    world.stopping = false;
    loops.length = 0;
    loops.push(
      every(world, PEERS_EVERY_MS, () => pollPeers(world), "peers"),
      every(world, 5_000, () => sampleResources(world, env.hub), "resources"),
      every(world, 2_000, async () => checkOverdue(world), "overdue"),
    );
    const settleStart = world.now();
    settled = await settle(world, settleMs);
    // Every ended session gone from every list, and every live one present, after the settle.
    await sleep(REMOTE_DELETE_MS + SLACK_MS);
    world.stopping = true;
    await Promise.all(loops.splice(0));
    const lastRound = await pollPeers(world);
    settled.ms = world.now() - settleStart;
    for (const { m, ids } of lastRound) {
      if (ids === undefined) {
        world.violate("daemon not answering at the end", { daemon: m.name });
        continue;
      }
      for (const s of world.alive())
        if (!ids.has(s.id))
          world.violate("live peer missing at the end", { daemon: m.name, session: s.id, holder: s.machine.name });
    }
    await sampleResources(world, env.hub);
    for (const m of world.machines) finalMetrics.set(m.name, (await call(m, { path: "/v1/metrics" })).text ?? "");

    // Messages owed and not in, or not seen delivered by their sender.
    for (const p of settled.pending) {
      const { m, s } = p;
      // What the recipient's daemon holds for it (every kept message it has had), and what the sender sees for each.
      const all = await call(s.machine, { path: "/v1/inbox?state=all", token: s.token });
      const held = all.json?.messages?.find((x) => x.id === m.id);
      const sender = world.sessions.get(m.from);
      const view = sender?.alive
        ? await call(sender.machine, { path: `/v1/messages/${m.id}`, token: sender.token })
        : undefined;
      world.violate("message lost", {
        message: m.id,
        nonce: m.nonce,
        kind: m.kind,
        from: `${m.from}@${m.fromMachine}`,
        to: `${s.id}@${s.machine.name}`,
        sentAtS: +(m.at / 1000).toFixed(1),
        senderSees: settled.states.get(p) ?? "(not asked or no answer)",
        recipientHolds: all.status === 200 ? (held?.state ?? "nothing") : `(inbox answered ${all.status})`,
        allRecipients: view?.json?.message?.recipients?.map((r) => `${r.session_id}:${r.state}`),
        logs: [...world.machines.flatMap((x) => grepLog(x, m.id).map((l) => `${x.name}: ${l}`))],
      });
    }
    for (const p of settled.viewPending) {
      if (settled.pending.has(p)) continue;
      world.violate("sender does not see delivered", {
        message: p.m.id,
        from: `${p.m.from}@${p.m.fromMachine}`,
        to: `${p.s.id}@${p.s.machine.name}`,
        state: settled.states.get(p) ?? "(no answer)",
      });
    }
  } finally {
    world.stopping = true;
    await Promise.allSettled(loops);
    if (world.violations.length > 0 && env.hub) {
      try {
        world.evidence = copyEvidence(world, env);
      } catch (error) {
        log(`SOAK: could not copy the evidence: ${error.message}`);
      }
    }
    for (const s of world.sessions.values()) await s.sleeper.stop();
    for (const m of world.machines) {
      m.up = false;
      await m.daemon?.stop();
      await m.pool?.close().catch(() => {});
    }
    for (const leaf of env.leaves) {
      leaf.resume();
      await leaf.stop();
    }
    for (const relay of env.relays) await relay.close();
    await env.hub?.stop();
    removeDir(root);
  }

  return report(world, { runMs, settleMs, warmAt, ratePerSecond, churnEveryMs, setupMs, settled, finalMetrics });
}

function report(world, { runMs, settleMs, warmAt, ratePerSecond, churnEveryMs, setupMs, settled, finalMetrics }) {
  const rows = [];
  const bounds = [];
  const check = (name, ok, measured, bound) => {
    rows.push([name, measured, bound, ok ? "held" : "BROKEN"]);
    bounds.push({ name, ok });
  };

  // Messages.
  const owed = owedPairs(world);
  const delays = [];
  for (const { m, s } of owed) {
    const at = m.firstRead.get(s.id);
    if (at !== undefined) delays.push(at - m.at);
  }
  const copies = world.sent.reduce((n, m) => n + m.recipients.length, 0);
  const delay = latencySummary(delays);
  const lost = settled.pending.size;
  check(
    "messages owed in their recipient's inbox, exactly once",
    lost === 0 && world.counts.duplicates === 0,
    `${fmtInt(owed.length - lost)} of ${fmtInt(owed.length)} in; ${world.counts.duplicates} duplicates`,
    "all, once",
  );
  const viewed = [...owed].filter(({ m }) => world.sessions.get(m.from)?.alive).length;
  check(
    "sender sees delivered (or later) for every owed copy it can still ask about",
    settled.viewPending.size === 0,
    `${fmtInt(viewed - settled.viewPending.size)} of ${fmtInt(viewed)}`,
    "all",
  );
  check(
    "checked throughout: every copy to a live session read within 60 s of its send",
    world.counts.overdue === 0,
    `${world.counts.overdue} overdue`,
    "none",
  );
  rows.push([
    "send → first read in the recipient's inbox (owed copies)",
    `p50 ${fmtMs(delay.p50)}, p99 ${fmtMs(delay.p99)}, max ${fmtMs(delay.max)}`,
    "(reads every 1.5 s)",
    "figure",
  ]);

  // Ghosts.
  const ended = [...world.sessions.values()].filter((s) => s.endedAt !== undefined);
  const ghost = { calm: [], fault: [] };
  for (const s of ended) {
    const last = Math.max(s.endedAt, ...s.lastSeen.values());
    const { fault } = ghostBound(world, s);
    (fault ? ghost.fault : ghost.calm).push(last - s.endedAt);
  }
  const g = (list) => latencySummary(list);
  const calm = g(ghost.calm);
  const faulty = g(ghost.fault);
  const ghosts = world.violations.filter((v) => v.kind === "ghost peer");
  check(
    "no ghost: an ended session off every daemon's peers list (calm)",
    !ghosts.some((v) => !v.detail.nearFault),
    `${calm.count} sessions; last sighting p50 ${fmtMs(calm.p50)}, max ${fmtMs(calm.max)} after the end`,
    `≤ ${fmtMs(REMOTE_DELETE_MS + SLACK_MS)} (reaper ${REAPER_MS / 1000} s + 1 s + polling)`,
  );
  check(
    "no ghost: an ended session off every list (a fault within 3 s of its end)",
    !ghosts.some((v) => v.detail.nearFault),
    `${faulty.count} sessions; last sighting p50 ${fmtMs(faulty.p50)}, max ${fmtMs(faulty.max)} after the end`,
    "≤ recovery + 3 s + 15 s + reaper + polling",
  );
  const missing = world.violations.filter((v) => v.kind.startsWith("live peer missing"));
  const conv = latencySummary(world.faults.map((f) => f.converged - f.recovered));
  check(
    "every live session on every daemon's peers list after each recovery",
    missing.length === 0,
    `converged p50 ${fmtMs(conv.p50)}, max ${fmtMs(conv.max)} after recovery`,
    `≤ ${fmtMs(CONVERGE_BOUND_MS)}`,
  );

  // Resources, per daemon.
  const resourceRows = [];
  for (const m of world.machines) {
    const rss = spanOf(m.samples.rss, warmAt);
    const fds = spanOf(m.samples.fds, warmAt);
    const files = spanOf(m.samples.files, warmAt);
    const bytes = spanOf(m.samples.bytes, warmAt);
    resourceRows.push(
      [m.name, "RSS", fmtBytes(rss.start), fmtBytes(rss.warm), fmtBytes(rss.peak), fmtBytes(rss.end)],
      [m.name, "open fds", fmtInt(fds.start), fmtInt(fds.warm), fmtInt(fds.peak), fmtInt(fds.end)],
      [m.name, "files in its dir", fmtInt(files.start), fmtInt(files.warm), fmtInt(files.peak), fmtInt(files.end)],
      [
        m.name,
        "bytes in its dir",
        fmtBytes(bytes.start),
        fmtBytes(bytes.warm),
        fmtBytes(bytes.peak),
        fmtBytes(bytes.end),
      ],
    );
    check(
      `${m.name}: open fds bounded`,
      fds.end <= 2 * fds.warm + 8,
      `${fds.warm} → ${fds.end}`,
      "end ≤ 2× after warm-up + 8",
    );
    check(
      `${m.name}: files bounded`,
      files.end <= 2 * files.warm + 4,
      `${files.warm} → ${files.end}`,
      "end ≤ 2× after warm-up + 4",
    );
    check(
      `${m.name}: dir size bounded`,
      bytes.end <= Math.max(2 * bytes.warm, 32 * 2 ** 20),
      `${fmtBytes(bytes.warm)} → ${fmtBytes(bytes.end)}`,
      "end ≤ max(2× after warm-up, 32 MiB)",
    );
    check(
      `${m.name}: RSS bounded`,
      rss.end <= 2 * rss.warm + 64 * 2 ** 20,
      `${fmtBytes(rss.warm)} → ${fmtBytes(rss.end)} (peak ${fmtBytes(rss.peak)})`,
      "end ≤ 2× after warm-up + 64 MiB",
    );
  }
  const hubBytes = spanOf(world.resources.hubBytes, warmAt);
  const streamMsgs = spanOf(world.resources.streamMessages, warmAt);
  const streamBytes = spanOf(world.resources.streamBytes, warmAt);
  resourceRows.push(
    [
      "hub",
      "JetStream store on disk",
      fmtBytes(hubBytes.start),
      fmtBytes(hubBytes.warm),
      fmtBytes(hubBytes.peak),
      fmtBytes(hubBytes.end),
    ],
    [
      "hub",
      "messages held (/jsz)",
      fmtInt(streamMsgs.start),
      fmtInt(streamMsgs.warm),
      fmtInt(streamMsgs.peak),
      fmtInt(streamMsgs.end),
    ],
    [
      "hub",
      "bytes held (/jsz)",
      fmtBytes(streamBytes.start),
      fmtBytes(streamBytes.warm),
      fmtBytes(streamBytes.peak),
      fmtBytes(streamBytes.end),
    ],
  );
  // The stream keeps every frame for 7 days by design (Limits retention, max age): it grows with
  // the traffic. Bounded means in proportion to it: frames held per remote copy sent.
  const remoteCopies = world.sent.reduce(
    (n, m) => n + m.recipients.filter((r) => world.sessions.get(r)?.machine.name !== m.fromMachine).length,
    0,
  );
  const perCopy = streamMsgs.end / Math.max(remoteCopies, 1);
  check(
    "JetStream messages held, per remote copy accepted",
    perCopy <= 6,
    `${fmtInt(streamMsgs.end)} for ${fmtInt(remoteCopies)} (${perCopy.toFixed(2)} each)`,
    "≤ 6 (a frame, a re-seal, receipts)",
  );

  // Counts and metrics.
  let outbox = 0;
  for (const text of finalMetrics.values()) {
    const depth = metricValue(text, "claudemesh_outbox_depth");
    if (Number.isFinite(depth)) outbox += depth;
  }
  // Refusals summed over every run of every daemon (each run's last sample: a run's counters start at 0).
  const refusedBy = new Map();
  for (const m of world.machines) {
    for (const counts of m.refusedRuns.values()) {
      for (const [key, n] of counts) refusedBy.set(key, (refusedBy.get(key) ?? 0) + n);
    }
  }
  const refused =
    refusedBy.size === 0
      ? "0"
      : [...refusedBy]
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => `${k} ×${n}`)
          .join(", ");
  const faultRows = world.faults.map((f) => [
    f.kind === "restart"
      ? "daemon restarted (SIGTERM, start)"
      : f.kind === "kill9"
        ? "daemon killed -9, started"
        : f.kind === "hub"
          ? "hub nats-server restarted (SIGTERM, same store)"
          : f.kind === "cut"
            ? `leaf cut from the hub for ${(f.holdMs / 1000).toFixed(0)} s (link reset, turned away)`
            : `leaf frozen for ${(f.holdMs / 1000).toFixed(0)} s (SIGSTOP: its links hang open)`,
    f.target,
    `${(f.start / 1000).toFixed(1)} s`,
    fmtMs(f.recovered - f.start),
    fmtMs(f.converged - f.recovered),
  ]);
  const failures = bounds.filter((b) => !b.ok).map((b) => b.name);
  const otherKinds = world.violations.filter(
    (v) =>
      !["ghost peer", "message lost", "sender does not see delivered", "surfaced twice"].includes(v.kind) &&
      !v.kind.startsWith("live peer missing"),
  );
  const tables = [
    {
      title: "Invariants and figures",
      header: ["what", "measured", "bound", "result"],
      rows,
    },
    {
      title: "Daemons and the hub: start, after warm-up, peak, end",
      header: ["process", "figure", "start", `after ${warmAt / 1000} s`, "peak", "end"],
      rows: resourceRows,
    },
    {
      title: "Faults played (one at a time; the next waits for the mesh to converge, then 3 s)",
      header: ["fault", "target", "at", "recovered after", "then every peer listed after"],
      rows: faultRows,
    },
    {
      title: "Traffic",
      header: ["figure", "value"],
      rows: [
        ["messages accepted (202)", fmtInt(world.counts.accepted)],
        ["recipient copies named by the 202s", fmtInt(copies)],
        ["copies owed (recipient alive at the end)", fmtInt(owed.length)],
        [
          "sends refused unknown_recipient (sender's daemon did not know the recipient yet / any more)",
          fmtInt(world.counts.unknownRecipient),
        ],
        ["sends not answered (the sender's daemon down)", fmtInt(world.counts.daemonDown)],
        [
          "other refusals",
          world.counts.otherRefusal === 0 ? "0" : [...world.otherStatuses].map(([k, n]) => `${k}×${n}`).join(", "),
        ],
        ["nonces read that no 202 named (a send cut off mid-answer)", fmtInt(world.counts.unexpectedArrivals)],
        ["sessions registered / ended", `${world.counts.registered} / ${world.counts.ended}`],
        ["daemon starts (incl. the first)", world.machines.map((m) => `${m.name} ${m.starts}`).join(", ")],
        ["frames or presences the daemons refused (kind/reason, every run)", refused],
        ["outbox depth over the daemons, at the end", fmtInt(outbox)],
        ["bench loop errors", fmtInt(world.loopErrors ?? 0)],
      ],
    },
  ];
  const summary = {
    seed: world.seed,
    counts: world.counts,
    owed: owed.length,
    lost,
    delay,
    ghost: { calm, fault: faulty },
    convergence: conv,
    faults: world.faults,
    violations: world.violations,
  };
  if (failures.length > 0 || otherKinds.length > 0 || world.violations.length > 0) {
    // The figures first (the runner keeps only the error), then the evidence.
    const md = tables
      .map((t) =>
        [
          `**${t.title}**`,
          "",
          `| ${t.header.join(" | ")} |`,
          `|${t.header.map(() => "---").join("|")}|`,
          ...t.rows.map((r) => `| ${r.join(" | ")} |`),
        ].join("\n"),
      )
      .join("\n\n");
    world.log(`SOAK figures (seed ${world.seed}):\n${md}`);
    const evidence = world.violations
      .slice(0, 12)
      .map(
        (v) =>
          `  [${(v.at / 1000).toFixed(1)} s] ${v.kind}: ${JSON.stringify(v.detail)}${v.more ? ` (+${v.more} more)` : ""}`,
      )
      .join("\n");
    throw new Error(
      `soak invariants broken (seed ${world.seed}): ${[...new Set([...failures, ...world.violations.map((v) => v.kind)])].join("; ")}\n${evidence}${world.evidence ? `\n  daemon and server logs copied to ${world.evidence}` : ""}`,
    );
  }
  return {
    baseline: `none to divide by: each figure is held against the contract's own bound (docs/contract.md), measured on this run; the seed was ${world.seed}`,
    sizes: { runMs, settleMs, ratePerSecond, churnEveryMs, reaperMs: REAPER_MS, daemons: 3, leaves: 2 },
    notes: [
      `Topology: a hub nats-server with JetStream, two leaf nats-servers without it (each linked to the hub's leafnode port through a TCP relay in the bench), daemon d1 on leaf1, d2 on leaf2, d3 on the hub; each daemon its own process and dir, reaper every ${REAPER_MS / 1000} s. Set-up (servers, daemons, ${world.machines.length * 2} stable and the first churning sessions, converged): ${fmtMs(setupMs)}.`,
      `Load: ${ratePerSecond} messages a second from a random live session on an up daemon: 80% direct to a session on another daemon, 10% to \`role:worker\` (one stable session per daemon has it), 10% \`*\`; each text a unique nonce. Every live session reads its inbox every 1.5 s and acks what it read. A session ends every ${churnEveryMs / 1000} s (its process killed, or every other time DELETE /v1/sessions/me first) and a new one registers on a random up daemon.`,
      "Owed: a recipient copy named in a 202 whose session is alive at the end of the run. A copy to a session that ended may arrive or not (it waits for that session id's return), but never twice while it is read.",
      "A leaf cut (a leaf loses its hub): the relay resets the leaf's link to the hub and turns it away until mended; the leaf keeps serving its daemon, which loses every other machine and the hub's JetStream. A leaf frozen: SIGSTOP on the leaf server, then SIGCONT; every link through it hangs open (its daemon's, its hub's), nothing is reset. The hub restart: SIGTERM, started again on its store and ports.",
      "The next fault waits for the mesh to converge after the last one (every live session on every daemon's peers list), then 3 s: faults never overlap.",
      `Settled in ${fmtMs(settled.ms)} (at most ${settleMs / 1000} s, then ${fmtMs(REMOTE_DELETE_MS + SLACK_MS)} for the last ghosts).`,
      "Three daemons, three nats-servers, the sleeper processes and the bench share the machine's 2 cores (with other work on it).",
    ],
    tables,
    goals: bounds.map((b) => ({ goal: b.name, measured: rows.find((r) => r[0] === b.name)?.[1] ?? "", met: b.ok })),
    data: summary,
  };
}
