// H1: honest messages while a hostile member attacks. Two daemons A and B bound to one mesh on
// one nats-server; a third connection with a valid credential (the open server) attacks from a
// process of its own (this file, run with `--attacker`), so that its loop does not slow the
// bench's clock: a presence flood (signed presences of its own daemon over the per-daemon cap,
// garbage daemon ids, values under the wrong keys), oversized and malformed presences, junk to
// B's message and receipt subjects, and a real sealed frame A sent to B replayed under new ids.
// Honest A → B messages (POST on A → the `message` event on B, one in flight) are timed during
// each attack and with none, interleaved in the same run; with them B's refusals per second,
// B's CPU and RSS, and the attack's own rate.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PATHS, startDaemon } from "./lib/daemon.mjs";
import { openStream } from "./lib/events.mjs";
import { createClient, createPool, drainInbox, metricSum, registerInMesh, send, sendOk } from "./lib/http.mjs";
import { field, interleave } from "./lib/interleave.mjs";
import { natsClient, startNatsServer, writeMeshBinding } from "./lib/nats.mjs";
import { makeTempDir, removeDir, rssBytes, sleep, spawnSleepers, stopPid, track } from "./lib/proc.mjs";
import { fmtInt, fmtMs, fmtRatio, latencySummary, Samples, summarize } from "./lib/stats.mjs";

export const id = "H1";
export const title = "Honest messages A → B while a member with a valid credential attacks B";

const SENDERS = 16;

const MESH = "team";
const auth = (token) => ({ authorization: `ClaudeMesh-Session ${token}` });
const ATTACKS = [
  ["none", "no attack"],
  ["presence_flood", "presence flood (signed over the cap, garbage ids, wrong keys)"],
  ["presence_junk", "oversized and malformed presences"],
  ["frame_junk", "junk to B's message and receipt subjects"],
  ["replay", "a real sealed frame A → B replayed"],
];

/** CPU time of a process so far, in ms (utime + stime, 100 ticks a second). */
function cpuMs(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

// ---- the attacker (a process of its own) ----

async function attacker([url, kind, durationText, bId, frameFile, rateText]) {
  const { nats, jetstream } = natsClient();
  const mesh = await import(join(PATHS.root, "packages/mesh/dist/index.js"));
  const nc = await nats.connect({ servers: url, name: "mallory" });
  const kv = (key) => `$KV.${mesh.PRESENCE_BUCKET}.${key}`;
  const to = (tail) => `cm.${MESH}.to.${bId}.${tail}`;
  const items = [];
  if (kind === "presence_flood") {
    const member = mesh.generateSigningKey();
    const own = mesh.daemonIdOf(member.publicKey);
    const now = Date.now();
    for (let i = 0; i < mesh.REMOTE_DIRECTORY_DEFAULTS.maxPerDaemon + 200; i++) {
      const sessionId = `m${i}`;
      const p = mesh.mintPresence(member, { mesh: MESH, sessionId }, now);
      const signed = mesh.signRemotePresence(
        {
          v: 1,
          mesh: MESH,
          session_id: sessionId,
          daemon: own,
          host: "mallory-box",
          display_name: `m-${i}`,
          role: null,
          groups: [],
          status: null,
          summary: null,
          inbound: "accept",
          registered_at: now,
          published_at: now,
          session_pubkey: p.session_pubkey,
          sealing_pubkey: mesh.generateSealingKeyPair().publicKey,
          parent_attestation: p.parent_attestation,
        },
        mesh.signingKeyFromSeed(p.session_secret_key.reveal()),
      );
      const value = JSON.stringify(signed);
      items.push([kv(`${MESH}.${own}.${sessionId}`), value], [kv(`${MESH}.${own}.x${i}`), value]);
      items.push([kv(`${MESH}.${i.toString(16).padStart(16, "0")}.g${i}`), JSON.stringify({ v: 1, junk: i })]);
    }
  } else if (kind === "presence_junk") {
    const big = new Uint8Array(900_000).fill(0x41);
    items.push([kv(`${MESH}.0123456789abcdef.big`), big]);
    for (let i = 0; i < 100; i++) {
      items.push(
        [kv(`${MESH}.0123456789abcdef.t${i}`), "not json"],
        [kv(`${MESH}.0123456789abcdef.d${i}`), `${"[".repeat(4000)}${"]".repeat(4000)}`],
        [kv(`${MESH}.0123456789abcdef.w${i}`), JSON.stringify({ v: 1, mesh: 7, session_id: {} })],
        [kv(`${MESH}.0123456789abcdef.s${i}`), JSON.stringify({ v: 1, display_name: "x".repeat(15_000) })],
      );
    }
  } else if (kind === "frame_junk") {
    items.push([to("s.h1-recipient"), new Uint8Array(900_000).fill(0x7b)]);
    for (let i = 0; i < 100; i++) {
      items.push(
        [to("s.h1-recipient"), "not json"],
        [to("s.h1-recipient"), Uint8Array.from({ length: 512 }, (_, j) => (i * 7 + j * 13) % 256)],
        [to("s.h1-recipient"), JSON.stringify({ v: 1, id: "00000000-0000-4000-8000-000000000000", box: {} })],
        [to("r"), JSON.stringify({ v: 1, mesh: MESH, message_id: "nope", state: "acked" })],
      );
    }
  } else if (kind === "replay") {
    const frame = JSON.parse(readFileSync(frameFile, "utf8"));
    items.push([frame.subject, Buffer.from(frame.data, "base64")]);
  }
  process.stdout.write("ready\n");
  const js = jetstream.jetstream(nc);
  const end = performance.now() + Number(durationText);
  const started = performance.now();
  let sent = 0;
  // Paced at `rate` items a second: an attacker spinning a core of this 2-core machine would
  // measure the CPU it takes from the daemons (a real one is on another machine), not their work.
  const rate = Number(rateText);
  const pace = async () => {
    const due = started + (sent / rate) * 1000;
    if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
  };
  // Core publishes to the bucket (no ack awaited), flushed every 200; frames as JetStream
  // publishes, 100 in flight (each a new Nats-Msg-Id: nothing for the stream to dedupe).
  while (performance.now() < end) {
    if (kind === "frame_junk" || kind === "replay") {
      const batch = [];
      for (let i = 0; i < 100; i++) {
        const [subject, data] = items[sent % items.length];
        batch.push(js.publish(subject, data, { msgID: `h1-${process.pid}-${sent++}`, timeout: 10_000 }));
      }
      await Promise.allSettled(batch);
      await pace();
    } else {
      for (let i = 0; i < 200; i++) {
        const [subject, data] = items[sent++ % items.length];
        nc.publish(subject, data);
      }
      await nc.flush();
      await pace();
    }
  }
  const seconds = (performance.now() - started) / 1000;
  await nc.close();
  process.stdout.write(`${JSON.stringify({ sent, perSec: sent / seconds })}\n`);
}

/** Spawns the attacker; resolves with `{ done }` once it is ready (its material made). */
async function startAttack(world, kind, durationMs) {
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(import.meta.url),
      "--attacker",
      world.nats.url,
      kind,
      String(durationMs),
      world.bId,
      world.frameFile,
      String(world.attackRate),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  track(child.pid);
  let out = "";
  child.stdout.setEncoding("utf8");
  let onReady;
  const ready = new Promise((resolve) => (onReady = resolve));
  const done = new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("ready\n")) onReady();
    });
    child.once("exit", (code) => {
      onReady();
      const last = out.trim().split("\n").pop();
      if (code === 0 && last?.startsWith("{")) resolve(JSON.parse(last));
      else reject(new Error(`attacker ${kind} exited ${code}: ${out.slice(-300)}`));
    });
  });
  await ready;
  return { done, stop: () => stopPid(child.pid) };
}

// ---- the bench ----

const metricsOf = async (client) => (await sendOk(client, { path: "/v1/metrics" })).text;

/** Polls B's refusal counter until it stops moving (a backlog of junk worked through), at most `maxMs`. */
async function settle(world, maxMs = 20_000) {
  const end = performance.now() + maxMs;
  let last = Number.NaN;
  while (performance.now() < end) {
    const now = metricSum(await metricsOf(world.clientB), "claudemesh_remote_refused_total");
    if (now === last) return;
    last = now;
    await sleep(250);
  }
}

async function cell(world, kind, durationMs) {
  await settle(world);
  const round = world.round++;
  const refusedBefore = metricSum(await metricsOf(world.clientB), "claudemesh_remote_refused_total");
  const attack = kind === "none" ? undefined : await startAttack(world, kind, durationMs);
  const cpu0 = { b: cpuMs(world.b.pid), a: cpuMs(world.a.pid), nats: cpuMs(world.nats.pid) };
  const started = performance.now();
  const latencies = new Samples();
  let n = 0;
  try {
    while (performance.now() - started < durationMs) {
      const nonce = `h1 ${kind} ${round} ${n}`;
      const sender = world.senders[n++ % world.senders.length];
      const t0 = performance.now();
      const arrived = world.recipient.stream.wait(nonce);
      const res = await send(world.pool, {
        method: "POST",
        path: "/v1/messages",
        body: JSON.stringify({ to: world.recipient.id, text: nonce }),
        headers: auth(sender.token),
      });
      if (res.status !== 202) throw new Error(`POST /v1/messages answered ${res.status}: ${res.text.slice(0, 200)}`);
      latencies.push((await arrived) - t0);
      // The recipient's inbox holds at most 1,000 unsurfaced: read it now and then (in the
      // cell's time, outside every message's latency).
      if (n % 500 === 0) await drainInbox(world.clientB, world.recipient.token);
    }
  } finally {
    // It ends on its own at the same deadline; its last line is its rate.
    if (attack !== undefined) await Promise.race([attack.done.catch(() => {}), sleep(5_000)]);
    await attack?.stop();
  }
  const elapsedMs = performance.now() - started;
  const cpu = {
    b: cpuMs(world.b.pid) - cpu0.b,
    a: cpuMs(world.a.pid) - cpu0.a,
    nats: cpuMs(world.nats.pid) - cpu0.nats,
  };
  const attackRate = attack === undefined ? 0 : (await attack.done.catch(() => ({ perSec: Number.NaN }))).perSec;
  const refused = metricSum(await metricsOf(world.clientB), "claudemesh_remote_refused_total") - refusedBefore;
  const health = await send(world.clientB, { path: "/v1/health" });
  if (health.status !== 200) throw new Error(`B's health answered ${health.status} during ${kind}`);
  await drainInbox(world.clientB, world.recipient.token);
  return {
    perSec: (latencies.length / elapsedMs) * 1000,
    ...latencySummary(latencies.values()),
    refusedPerSec: (refused / elapsedMs) * 1000,
    attackPerSec: attackRate,
    cpuPercent: (cpu.b / elapsedMs) * 100,
    cpuPercentA: (cpu.a / elapsedMs) * 100,
    cpuPercentNats: (cpu.nats / elapsedMs) * 100,
    rssMiB: rssBytes(world.b.pid) / 2 ** 20,
  };
}

async function setUp(world, root, pid) {
  world.nats = await startNatsServer(join(root, "nats"));
  world.a = await startDaemon(writeMeshBinding(join(root, "a"), MESH, world.nats.url), { program: PATHS.cliDaemon });
  world.b = await startDaemon(writeMeshBinding(join(root, "b"), MESH, world.nats.url), { program: PATHS.cliDaemon });
  world.clientA = createClient(world.a.socket);
  world.clientB = createClient(world.b.socket);
  world.pool = createPool(world.a.socket, 1);
  const token = await registerInMesh(world.clientB, pid, "h1-recipient", MESH);
  world.recipient = { id: "h1-recipient", token, stream: openStream(world.b.socket, token) };
  await world.recipient.stream.opened;
  // Taking turns, so that none passes its 20 messages a second (bursts of 100) at ~150 msg/s.
  for (let i = 0; i < SENDERS; i++) {
    world.senders.push({ token: await registerInMesh(world.clientA, pid, `h1-sender-${i}`, MESH) });
  }
  const { member } = JSON.parse((await sendOk(world.clientB, { path: "/v1/member" })).text);
  const mesh = await import(join(PATHS.root, "packages/mesh/dist/index.js"));
  world.bId = mesh.daemonIdOfFingerprint(member.fingerprint);
  // Presence converged, and one real frame captured off the wire for the replays.
  const { nats } = natsClient();
  const spy = await nats.connect({ servers: world.nats.url, name: "h1-spy" });
  let frame;
  spy.subscribe(`cm.${MESH}.to.${world.bId}.s.h1-recipient`, {
    callback: (error, m) => {
      if (error === null) frame ??= { subject: m.subject, data: Buffer.from(m.data).toString("base64") };
    },
  });
  await spy.flush();
  const end = performance.now() + 20_000;
  while (frame === undefined && performance.now() < end) {
    const nonce = `h1 probe ${performance.now()}`;
    const res = await send(world.clientA, {
      method: "POST",
      path: "/v1/messages",
      body: JSON.stringify({ to: world.recipient.id, text: nonce }),
      headers: auth(world.senders[0].token),
    });
    if (res.status === 202) await world.recipient.stream.wait(nonce).catch(() => {});
    else await sleep(100);
    world.lastProbe = `${res.status} ${res.text.slice(0, 200)}`;
  }
  await spy.close();
  if (frame === undefined) throw new Error(`no frame A → B seen within 20 s (last POST: ${world.lastProbe})`);
  await drainInbox(world.clientB, token);
  world.frameFile = join(root, "frame.json");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(world.frameFile, JSON.stringify(frame));
}

export async function run({ quick, log }) {
  const rounds = quick ? 1 : 3;
  const durationMs = quick ? 500 : 3_000;
  const sleepers = await spawnSleepers(1);
  const root = makeTempDir();
  const world = { round: 0, senders: [], attackRate: quick ? 1_000 : 2_000 };
  let samples;
  let after;
  const rssStart = { b: Number.NaN };
  try {
    log("H1: nats-server, daemons A and B, sessions, a frame to replay");
    await setUp(world, root, sleepers.pids[0]);
    rssStart.b = rssBytes(world.b.pid) / 2 ** 20;
    samples = await interleave(
      ATTACKS.map(([kind]) => ({ name: kind, run: () => cell(world, kind, durationMs) })),
      {
        rounds,
        warmup: quick ? 0 : 1,
        onRound: (r) => log(`H1: round ${r + 1} of ${rounds}`),
      },
    );
    await settle(world);
    const text = await metricsOf(world.clientB);
    after = {
      remotePeersB: metricSum(text, "claudemesh_remote_peers"),
      byReason: Object.fromEntries(
        [...text.matchAll(/^claudemesh_remote_refused_total\{kind="(\w+)",reason="(\w+)"\} (\d+)/gm)].map((m) => [
          `${m[1]}/${m[2]}`,
          Number(m[3]),
        ]),
      ),
      bAlive: (await send(world.clientB, { path: "/v1/health" })).status === 200,
    };
  } finally {
    world.recipient?.stream.close();
    await world.pool?.close();
    await world.clientA?.close();
    await world.clientB?.close();
    await Promise.all([world.a?.stop(), world.b?.stop()]);
    await world.nats?.stop();
    await sleepers.stop();
    removeDir(root);
  }
  const stat = (kind, name) => summarize(field(samples[kind], name)).median;
  const base = { p50: stat("none", "p50"), p99: stat("none", "p99"), perSec: stat("none", "perSec") };
  const rows = ATTACKS.map(([kind, label]) => [
    label,
    kind === "none" ? "—" : fmtInt(stat(kind, "attackPerSec")),
    fmtInt(stat(kind, "perSec")),
    fmtMs(stat(kind, "p50")),
    fmtMs(stat(kind, "p99")),
    fmtRatio(stat(kind, "p50") / base.p50),
    fmtRatio(stat(kind, "p99") / base.p99),
    fmtInt(stat(kind, "refusedPerSec")),
    `${Math.round(stat(kind, "cpuPercent"))} %`,
    `${stat(kind, "rssMiB").toFixed(0)} MiB`,
    `${Math.round(stat(kind, "cpuPercentA"))} %`,
    `${Math.round(stat(kind, "cpuPercentNats"))} %`,
  ]);
  const worstP99 = Math.max(...ATTACKS.slice(1).map(([kind]) => stat(kind, "p99") / base.p99));
  return {
    baseline: "honest A → B messages with no attack, interleaved in the same run, on the same server and daemons",
    sizes: { durationMs, rounds, senders: world.senders.length, inFlight: 1, attackRate: world.attackRate },
    repetitions: { rounds, warmupRounds: quick ? 0 : 1 },
    notes: [
      `Each cell runs ${durationMs} ms: the attacker, paced at ${fmtInt(world.attackRate)} items a second (what it reached is in the table), (its own process, a plain nats.js connection the open server lets in) starts once its material is made, and honest messages go one in flight from ${SENDERS} sessions on A (taking turns) to one on B, timed from the POST leaving the client to the \`message\` event on B's stream. Before each cell, untimed, B works through what a previous attack left in its consumer (until its refusal counter stops moving).`,
      `Presence flood: core publishes to the bucket, 200 per flush: ${"1,200"} presences of the attacker's own daemon signed with its own member key (200 over the ${"1,000"}-session cap), each also under a wrong session key, and a garbage value under a new daemon id for each. Presence junk: a 900 KB value, non-JSON, deep nesting, wrong shapes, a 15 KB name. Frame junk and replay: JetStream publishes (100 in flight) of a 900 KB frame, non-JSON, random bytes, wrong fields, bad receipts; or of one real sealed frame A sent to B, each under a new Nats-Msg-Id (so the stream keeps every copy and B must refuse each).`,
      `CPU is each process's utime + stime over the cell (100 % is one core); RSS at the cell's end (${rssStart.b.toFixed(0)} MiB after set-up). After the run: B healthy ${after?.bAlive}, remote peers on B ${after?.remotePeersB}, refusals by reason ${JSON.stringify(after?.byReason ?? {})}.`,
      "The nats-server, both daemons, the attacker and the bench client share the machine's 2 cores (and, on the development machine, other jobs): the attacker's own CPU is taken from the daemons' too.",
    ],
    tables: [
      {
        title: `Honest A → B messages during each attack against none (medians of ${rounds} rounds)`,
        header: [
          "attack",
          "attack items/s",
          "honest msg/s",
          "p50",
          "p99",
          "p50 / none",
          "p99 / none",
          "B refusals/s",
          "B CPU",
          "B RSS",
          "A CPU",
          "nats-server CPU",
        ],
        rows,
      },
    ],
    goals: [
      {
        goal: "every honest message during every attack is delivered, B answers its health route after each",
        measured: `all delivered; worst p99 ${fmtRatio(worstP99)} of no attack`,
        met: true,
      },
    ],
    data: { samples, after, rssStart },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "--attacker") {
  attacker(process.argv.slice(3)).catch((error) => {
    process.stderr.write(`attacker: ${error.stack ?? error}\n`);
    process.exit(1);
  });
}
