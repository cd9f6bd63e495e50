// M3: presence across two daemons bound to one mesh on one nats-server. (a) Convergence: a
// session registered on daemon A → `session_registered` (origin remote) on B's event stream, and
// its DELETE on A → `session_deregistered` on B; baseline, interleaved: a raw KV put (and delete)
// on the same server → a watcher on another connection, values the size of a real presence.
// (b) A daemon that goes: daemon A killed -9 (or stopped with SIGTERM) → B's
// `session_deregistered` for every session A held, A restarted in between; the floor: a bare
// NATS client answering requests, killed -9 → the server's first "no responders".
import { spawn } from "node:child_process";
import { join } from "node:path";
import { PATHS, startDaemon } from "./lib/daemon.mjs";
import { waiter } from "./lib/events.mjs";
import { createClient, metricSum, registerInMesh, sendOk } from "./lib/http.mjs";
import { interleave } from "./lib/interleave.mjs";
import { isNoResponders, natsClient, startNatsServer, writeMeshBinding } from "./lib/nats.mjs";
import { openPeerEvents } from "./lib/peer-events.mjs";
import {
  makeTempDir,
  removeDir,
  signalPid,
  sleep,
  spawnSleepers,
  stopPid,
  track,
  untrack,
  waitGone,
} from "./lib/proc.mjs";
import { fmtBytes, fmtMs, fmtRatio, latencySummary, summarize } from "./lib/stats.mjs";

export const id = "M3";
export const title = "Presence across two daemons through NATS: arrivals, departures, a dead daemon's removal";

const MESH = "team";
/** Sessions daemon A holds while it is killed (each one's removal on B is timed). */
const HELD = 5;
/**
 * A daemon judges no other daemon for this long after its own link comes up (the daemon's
 * LIVENESS_TIMINGS.graceMs, apps/daemon/src/nats/liveness.ts): (b) starts after it, on B.
 */
const LIVENESS_GRACE_MS = 3_000;
const auth = (token) => ({ authorization: `ClaudeMesh-Session ${token}` });

const register = (client, pid, sessionId) => registerInMesh(client, pid, sessionId, MESH);

/** One arrival and departure through the daemons: register on A, then DELETE it on A, each seen on B. */
async function daemonPresence(world, n) {
  const sessionId = `m3-p-${n}`;
  const registered = world.events.wait("registered", sessionId);
  const t0 = performance.now();
  const token = await register(world.clientA, world.pid, sessionId);
  const arrive = (await registered) - t0;
  const deregistered = world.events.wait("deregistered", sessionId);
  const t1 = performance.now();
  await sendOk(world.clientA, { method: "DELETE", path: "/v1/sessions/me", headers: auth(token) });
  const depart = (await deregistered) - t1;
  return { arrive, depart };
}

/** The raw clients for the KV baseline: one puts and deletes, another watches (as A and B). */
async function rawKv(url, valueBytes) {
  const { nats, kv } = natsClient();
  const writer = await nats.connect({ servers: url, name: "bench-kv-writer" });
  const reader = await nats.connect({ servers: url, name: "bench-kv-watcher" });
  // The bucket made as the daemon makes its presence bucket (history 1, 15 s TTL).
  const bucket = await new kv.Kvm(writer).create("bench_presence", { history: 1, ttl: 15_000 });
  const watched = await new kv.Kvm(reader).open("bench_presence");
  const waiting = new Map();
  const watch = await watched.watch({ key: "bench.>" });
  const reading = (async () => {
    for await (const entry of watch) {
      const at = performance.now();
      const key = `${entry.operation} ${entry.key}`;
      waiting.get(key)?.(at);
      waiting.delete(key);
    }
  })();
  const wait = waiter(waiting, "KV watcher");
  const value = new Uint8Array(valueBytes).fill(0x61);
  return {
    async presence(n) {
      const key = `bench.${n}`;
      const put = wait(`PUT ${key}`);
      const t0 = performance.now();
      await bucket.put(key, value);
      const arrive = (await put) - t0;
      const del = wait(`DEL ${key}`);
      const t1 = performance.now();
      await bucket.delete(key);
      const depart = (await del) - t1;
      return { arrive, depart };
    },
    /** The floor of (b): how soon the server answers "no responders" for a client killed -9. */
    async deadResponder() {
      const subject = "bench.ping.responder";
      const child = spawn(process.execPath, [join(PATHS.root, "bench/lib/nats-responder.mjs"), url, subject], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      track(child.pid);
      try {
        await new Promise((resolve, reject) => {
          child.once("exit", (code) => reject(new Error(`nats-responder exited (${code})`)));
          child.stdout.setEncoding("utf8");
          child.stdout.on("data", (chunk) => chunk.includes("ready") && resolve());
        });
        child.removeAllListeners("exit");
        await writer.request(subject, undefined, { timeout: 2_000 }); // it answers
        const t0 = performance.now();
        signalPid(child.pid, "SIGKILL");
        for (;;) {
          try {
            // Short: a request routed to it before the server saw its socket close waits this long.
            await writer.request(subject, undefined, { timeout: 5 });
          } catch (error) {
            if (isNoResponders(error)) return performance.now() - t0;
          }
          if (performance.now() - t0 > 10_000) throw new Error("no 'no responders' within 10 s of the kill");
        }
      } finally {
        await stopPid(child.pid);
      }
    },
    async close() {
      watch.stop();
      await reading.catch(() => {});
      await writer.close();
      await reader.close();
    },
  };
}

/** The size of one real presence document in the daemons' bucket. */
async function presenceBytes(url) {
  const { nats, kv } = natsClient();
  const nc = await nats.connect({ servers: url, name: "bench-kv-reader" });
  try {
    const bucket = await new kv.Kvm(nc).open("claudemesh_presence");
    for await (const key of await bucket.keys(`${MESH}.>`)) {
      const entry = await bucket.get(key);
      if (entry?.value?.length > 0) return entry.value.length;
    }
    throw new Error("no presence in the daemons' bucket");
  } finally {
    await nc.close();
  }
}

/**
 * Daemon A goes (`how`: kill9 or sigterm): times until B shows every held session deregistered,
 * then starts A again on the same dir and times until B shows them all registered again.
 */
async function daemonGoes(world, how) {
  const { held } = world;
  const before = metricSum(
    (await sendOk(world.clientB, { path: "/v1/metrics" })).text,
    "claudemesh_remote_peer_changes_total",
    {
      change: how === "kill9" ? "dead_daemon" : "deleted",
    },
  );
  const gone = held.map((s) => world.events.wait("deregistered", s));
  await world.clientA.close();
  const pid = world.a.pid;
  const t0 = performance.now();
  if (how === "kill9") {
    signalPid(pid, "SIGKILL");
    await waitGone(pid);
    untrack(pid);
  } else {
    await world.a.stop();
  }
  const removed = (await Promise.all(gone)).map((at) => at - t0);
  const after = metricSum(
    (await sendOk(world.clientB, { path: "/v1/metrics" })).text,
    "claudemesh_remote_peer_changes_total",
    {
      change: how === "kill9" ? "dead_daemon" : "deleted",
    },
  );
  if (after - before !== held.length) {
    throw new Error(
      `B counted ${after - before} removals of cause ${how === "kill9" ? "dead_daemon" : "deleted"}, not ${held.length}`,
    );
  }
  // Back: A restores its sessions (their processes live on) and publishes them again.
  const back = held.map((s) => world.events.wait("registered", s));
  const t1 = performance.now();
  world.a = await startDaemon(world.dirA, { program: PATHS.cliDaemon });
  world.clientA = createClient(world.a.socket);
  const returned = Math.max(...(await Promise.all(back))) - t1;
  return { first: Math.min(...removed), last: Math.max(...removed), returned };
}

export async function run({ quick, log }) {
  const presenceRounds = quick ? 5 : 100;
  const goneRounds = quick ? 1 : 5;
  const sleepers = await spawnSleepers(1);
  const root = makeTempDir();
  const world = { pid: sleepers.pids[0], held: [] };
  let raw;
  let valueBytes;
  let presence;
  let gone;
  try {
    log("M3: nats-server, daemons A and B");
    world.nats = await startNatsServer(join(root, "nats"));
    world.dirA = writeMeshBinding(join(root, "a"), MESH, world.nats.url);
    const dirB = writeMeshBinding(join(root, "b"), MESH, world.nats.url);
    world.a = await startDaemon(world.dirA, { program: PATHS.cliDaemon });
    world.b = await startDaemon(dirB, { program: PATHS.cliDaemon });
    const bReadyAt = performance.now();
    world.clientA = createClient(world.a.socket);
    world.clientB = createClient(world.b.socket);
    world.events = openPeerEvents(world.b.socket);
    await world.events.opened;
    // A session on B, so that B's daemon is in the mesh as a user would have it.
    await register(world.clientB, world.pid, "m3-b-0");
    // The sessions A holds through (b), registered once: each restart of A restores them.
    const arrived = [];
    for (let i = 0; i < HELD; i++) {
      const sessionId = `m3-held-${i}`;
      arrived.push(world.events.wait("registered", sessionId));
      await register(world.clientA, world.pid, sessionId);
      world.held.push(sessionId);
    }
    await Promise.all(arrived);
    valueBytes = await presenceBytes(world.nats.url);
    raw = await rawKv(world.nats.url, valueBytes);

    log(`M3: presence, ${presenceRounds} arrivals and departures each`);
    const samples = await interleave(
      [
        { name: "daemons", run: (round) => daemonPresence(world, round + 2) },
        { name: "kv", run: (round) => raw.presence(round + 2) },
      ],
      { rounds: presenceRounds, warmup: 2 },
    );
    const lat = (name, which) => latencySummary(samples[name].map((s) => s[which]));
    presence = {
      arrive: { daemons: lat("daemons", "arrive"), kv: lat("kv", "arrive") },
      depart: { daemons: lat("daemons", "depart"), kv: lat("kv", "depart") },
    };

    log(`M3: daemon A killed -9 and stopped, ${goneRounds} times each`);
    // B's own start-up grace over (it only lasts so long in a quick run): steady state is measured.
    const graceLeft = bReadyAt + LIVENESS_GRACE_MS + 500 - performance.now();
    if (graceLeft > 0) await sleep(graceLeft);
    const goneSamples = await interleave(
      [
        { name: "raw", run: () => raw.deadResponder() },
        { name: "kill9", run: () => daemonGoes(world, "kill9") },
        { name: "sigterm", run: () => daemonGoes(world, "sigterm") },
      ],
      { rounds: goneRounds, warmup: 0 },
    );
    const pick = (name, key) => summarize(goneSamples[name].map((s) => s[key]));
    gone = {
      raw: summarize(goneSamples.raw),
      kill9: { first: pick("kill9", "first"), last: pick("kill9", "last"), returned: pick("kill9", "returned") },
      sigterm: {
        first: pick("sigterm", "first"),
        last: pick("sigterm", "last"),
        returned: pick("sigterm", "returned"),
      },
    };
    if (world.events.counts.unexpectedReason > 0) {
      throw new Error(`${world.events.counts.unexpectedReason} remote session events without reason "remote"`);
    }
  } finally {
    await raw?.close().catch(() => {});
    world.events?.close();
    await world.clientA?.close();
    await world.clientB?.close();
    await Promise.all([world.a?.stop(), world.b?.stop()]);
    await world.nats?.stop();
    await sleepers.stop();
    removeDir(root);
  }

  const a = presence.arrive;
  const d = presence.depart;
  return {
    baseline: `on the same nats-server in the same run, interleaved: a raw KV put of a ${fmtBytes(valueBytes)} value (the size of a real presence) in a bucket made like the daemons' (history 1, 15 s TTL) → a watcher on another connection, and its delete → the watcher; for a daemon that goes, a bare NATS client answering requests, killed -9 → the server's first "no responders"`,
    sizes: { presenceRounds, goneRounds, heldSessions: HELD, presenceBytes: valueBytes },
    repetitions: { presenceRounds, presenceWarmup: 2, goneRounds },
    notes: [
      `Arrival: from the registration's POST on A leaving the client (its answer awaited) to \`session_registered\` with origin "remote" on B's member event stream (GET /v1/events, no token); departure: from the DELETE /v1/sessions/me on A to \`session_deregistered\` on B. A new session id every time. Each daemon signs every presence it puts and verifies every one it watches.`,
      `A daemon that goes: A holds ${HELD} sessions (their processes live on); from the signal to B's \`session_deregistered\` for each. Killed -9, nothing of A says goodbye: B finds it by its liveness pings, every 300 ms to each daemon holding sessions, a first "no responders" confirmed twice 275 ms apart (the design: ~0.6–0.9 s). Stopped with SIGTERM, A deletes its presence keys and B's watcher sees them go. B's claudemesh_remote_peer_changes_total is checked to count each removal under the cause dead_daemon (kill -9) or deleted (SIGTERM).`,
      `B's own link had been up for more than its liveness grace (3 s after a daemon's own connect, it judges nobody) before the first. Between repetitions A is started again on the same dir (same member key, same daemon id) and restores its sessions; "back" is from that start to B showing all ${HELD} again: a daemon's start-up, its NATS attach and a fresh key for each restored session.`,
      "The raw floor polls with 5 ms requests after the kill: a request the server routed to the client before it saw the socket close waits out those 5 ms, so the server itself knows in well under that.",
      "The nats-server, both daemons and the bench client share the machine's 2 cores.",
    ],
    tables: [
      {
        title: `Presence convergence, ${presenceRounds} arrivals and departures (A → B against a raw KV put/delete → watch)`,
        header: [
          "change",
          "daemons p50",
          "daemons p99",
          "daemons max",
          "raw KV p50",
          "raw KV p99",
          "p50 ratio",
          "p99 ratio",
        ],
        rows: [
          ["arrival (register on A → B)", a],
          ["departure (DELETE on A → B)", d],
        ].map(([label, x]) => [
          label,
          fmtMs(x.daemons.p50),
          fmtMs(x.daemons.p99),
          fmtMs(x.daemons.max),
          fmtMs(x.kv.p50),
          fmtMs(x.kv.p99),
          fmtRatio(x.daemons.p50 / x.kv.p50),
          fmtRatio(x.daemons.p99 / x.kv.p99),
        ]),
      },
      {
        title: `A daemon that goes: from the signal to B removing its ${HELD} sessions (${goneRounds} times each, median and max)`,
        header: [
          "how A went",
          "first removed (median)",
          "all removed (median)",
          "all removed (max)",
          "A back, all seen on B (median)",
        ],
        rows: [
          [
            "killed -9",
            fmtMs(gone.kill9.first.median),
            fmtMs(gone.kill9.last.median),
            fmtMs(gone.kill9.last.max),
            fmtMs(gone.kill9.returned.median),
          ],
          [
            "SIGTERM",
            fmtMs(gone.sigterm.first.median),
            fmtMs(gone.sigterm.last.median),
            fmtMs(gone.sigterm.last.max),
            fmtMs(gone.sigterm.returned.median),
          ],
          [
            'raw client killed -9 → first "no responders"',
            fmtMs(gone.raw.median),
            fmtMs(gone.raw.median),
            fmtMs(gone.raw.max),
            "—",
          ],
        ],
      },
    ],
    goals: [
      {
        goal: "presence arrival on the other daemon p99 ≤ 250 ms",
        measured: `${fmtMs(a.daemons.p99)} (p50 ${fmtMs(a.daemons.p50)}; raw KV p99 ${fmtMs(a.kv.p99)})`,
        met: a.daemons.p99 <= 250,
      },
      {
        goal: "a daemon killed -9: its sessions gone from the other daemon < 1 s (every time)",
        measured: `max ${fmtMs(gone.kill9.last.max)}, median ${fmtMs(gone.kill9.last.median)} (SIGTERM: median ${fmtMs(gone.sigterm.last.median)})`,
        met: gone.kill9.last.max < 1_000,
      },
    ],
    data: { presence, gone, events: world.events?.counts },
  };
}
