// M1: a message from one session to another on one daemon, POST /v1/messages → the recipient's
// `message` event on its event stream, at 1 and 16 in flight; and GET /v1/inbox holding 1,000
// unsurfaced messages. Baselines, interleaved in the same run: the bare node:http server's round
// trip (B2's baseline), answering a small body, and for the inbox the same server answering a body
// the size of the inbox. Also measured in this process: the ed25519 sign + verify every message
// costs (the contract signs each message and verifies it before it is stored), the floor that no
// HTTP work can go under.
import { generateKeyPairSync, sign, verify } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PATHS, startBareServer, startDaemon, startServer } from "./lib/daemon.mjs";
import { openStream } from "./lib/events.mjs";
import { createClient, createPool, drainInbox, newToken, send, sendOk } from "./lib/http.mjs";
import { field, interleave } from "./lib/interleave.mjs";
import { makeTempDir, removeDir, spawnSleepers } from "./lib/proc.mjs";
import { fmtInt, fmtMs, fmtRatio, latencySummary, Samples, summarize } from "./lib/stats.mjs";

export const id = "M1";
export const title = "Messages on one daemon: POST /v1/messages → the recipient's message event; GET /v1/inbox";

const IN_FLIGHT = [1, 16];
/** Senders take turns, so that none passes the contract's 20 messages a second. */
const SENDERS = 400;
/** Recipients take turns too, and are emptied between cells: an inbox holds 1,000 unsurfaced. */
const RECIPIENTS = 16;
const INBOX_SIZE = 1_000;
const auth = (token) => ({ authorization: `ClaudeMesh-Session ${token}` });

/** A closed loop of messages: each worker sends its next as soon as the last one's event arrived. */
async function messageCell(world, inFlight, durationMs) {
  const { pool, senders, recipients } = world;
  const latencies = new Samples();
  let seq = 0;
  const started = performance.now();
  const end = started + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const n = seq++;
      const sender = senders[n % senders.length];
      const recipient = recipients[n % recipients.length];
      const nonce = `m1 ${world.round} ${n}`;
      const t0 = performance.now();
      const arrived = recipient.stream.wait(nonce);
      const res = await send(pool, {
        method: "POST",
        path: "/v1/messages",
        body: JSON.stringify({ to: recipient.id, text: nonce }),
        headers: auth(sender.token),
      });
      if (res.status !== 202) throw new Error(`POST /v1/messages answered ${res.status}: ${res.text.slice(0, 200)}`);
      latencies.push((await arrived) - t0);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedMs = performance.now() - started;
  world.round++;
  // Every message of every recipient acked, so the next cell starts from empty inboxes (untimed).
  for (const r of recipients) await drainInbox(world.client, r.token);
  return { perSec: (latencies.length / elapsedMs) * 1000, ...latencySummary(latencies.values()) };
}

/** The baseline: the same client's POST round trips to the bare server. */
async function roundTripCell(pool, inFlight, durationMs, request) {
  const latencies = new Samples();
  const started = performance.now();
  const end = started + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await sendOk(pool, request);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedMs = performance.now() - started;
  return { perSec: (latencies.length / elapsedMs) * 1000, ...latencySummary(latencies.values()) };
}

/** µs per message of the crypto every message goes through: one ed25519 signature, one verification. */
function cryptoFloorUs(n) {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const bytes = Buffer.from(
    `claudemesh-message|v1|${JSON.stringify(["0190", "default", "s", "k".repeat(64), "api", "next", null, 1, "hello"])}`,
  );
  const t0 = performance.now();
  for (let i = 0; i < n; i++) verify(null, bytes, publicKey, sign(null, bytes, privateKey));
  return ((performance.now() - t0) * 1000) / n;
}

async function setUp(dir, pid) {
  const daemon = await startDaemon(dir, { program: PATHS.cliDaemon });
  const client = createClient(daemon.socket);
  const register = (token, sessionId) =>
    sendOk(client, {
      method: "POST",
      path: "/v1/sessions/register",
      body: JSON.stringify({ token, pid, session_id: sessionId, display_name: sessionId }),
    });
  const senders = [];
  for (let i = 0; i < SENDERS; i++) {
    const token = newToken();
    await register(token, `sender-${i}`);
    senders.push({ token });
  }
  const recipients = [];
  for (let i = 0; i < RECIPIENTS; i++) {
    const token = newToken();
    await register(token, `recipient-${i}`);
    const stream = openStream(daemon.socket, token);
    await stream.opened;
    recipients.push({ token, id: `recipient-${i}`, stream });
  }
  return { daemon, client, senders, recipients, round: 0 };
}

export async function run({ quick, log }) {
  const rounds = quick ? 1 : 5;
  const durationMs = quick ? 300 : 2_000;
  const sleepers = await spawnSleepers(1);
  const pid = sleepers.pids[0];
  const dir = makeTempDir();
  const bareDir = makeTempDir();
  let world;
  let bare;
  let bareBig;
  let pools = [];
  const cells = [];
  let inbox;
  try {
    world = await setUp(join(dir, "d"), pid);
    bare = await startBareServer(bareDir);
    const bareRequest = {
      method: "POST",
      path: "/v1/messages",
      body: JSON.stringify({ to: "recipient-0", text: "m1 0 0" }),
    };
    for (const inFlight of IN_FLIGHT) {
      log(`M1: messages, ${inFlight} in flight`);
      world.pool = createPool(world.daemon.socket, inFlight);
      const barePool = createPool(bare.socket, inFlight);
      pools = [world.pool, barePool];
      const samples = await interleave(
        [
          { name: "message", run: () => messageCell(world, inFlight, durationMs) },
          { name: "bare", run: () => roundTripCell(barePool, inFlight, durationMs, bareRequest) },
        ],
        { rounds, warmup: 1 },
      );
      await Promise.all(pools.map((p) => p.close()));
      pools = [];
      const stat = (variant, name) => summarize(field(samples[variant], name));
      const cell = {
        inFlight,
        message: { perSec: stat("message", "perSec"), p50: stat("message", "p50"), p99: stat("message", "p99") },
        bare: { perSec: stat("bare", "perSec"), p50: stat("bare", "p50"), p99: stat("bare", "p99") },
      };
      cell.latencyRatio = cell.message.p50.median / cell.bare.p50.median;
      cell.throughputRatio = cell.message.perSec.median / cell.bare.perSec.median;
      cells.push(cell);
    }

    // GET /v1/inbox with 1,000 unsurfaced messages, against the bare server answering as many bytes.
    log("M1: GET /v1/inbox with 1,000 unsurfaced messages");
    const reader = world.recipients[0];
    for (let i = 0; i < INBOX_SIZE; i++) {
      await sendOk(world.client, {
        method: "POST",
        path: "/v1/messages",
        body: JSON.stringify({ to: reader.id, text: `queued ${i}: ${"lorem ipsum ".repeat(8)}` }),
        headers: auth(world.senders[i % world.senders.length].token),
      });
    }
    const inboxRequest = { path: "/v1/inbox", headers: auth(reader.token) };
    const first = await sendOk(world.client, inboxRequest);
    const held = JSON.parse(first.text).messages.length;
    if (held !== INBOX_SIZE) throw new Error(`the inbox holds ${held} messages, not ${INBOX_SIZE}`);
    const bodyFile = join(bareDir, "inbox.json");
    writeFileSync(bodyFile, first.text);
    const bigSocket = join(bareDir, "big.sock");
    bareBig = await startServer(PATHS.bareServer, [bigSocket, bodyFile], bigSocket);
    const inboxPool = createPool(world.daemon.socket, 1);
    const barePool = createPool(bare.socket, 1);
    const bigPool = createPool(bareBig.socket, 1);
    pools = [inboxPool, barePool, bigPool];
    const inboxMs = quick ? 300 : 2_000;
    const inboxSamples = await interleave(
      [
        { name: "inbox", run: () => roundTripCell(inboxPool, 1, inboxMs, inboxRequest) },
        { name: "bare", run: () => roundTripCell(barePool, 1, inboxMs, { path: "/v1/inbox" }) },
        { name: "bareSameBody", run: () => roundTripCell(bigPool, 1, inboxMs, { path: "/v1/inbox" }) },
      ],
      { rounds, warmup: 1 },
    );
    // The reads changed nothing: every message is still unsurfaced.
    const after = JSON.parse((await sendOk(world.client, inboxRequest)).text).messages.length;
    if (after !== INBOX_SIZE) throw new Error(`GET /v1/inbox changed the inbox: ${after} unsurfaced left`);
    const p50 = (name) => summarize(field(inboxSamples[name], "p50"));
    inbox = {
      bytes: Buffer.byteLength(first.text),
      inbox: p50("inbox"),
      bare: p50("bare"),
      bareSameBody: p50("bareSameBody"),
    };
  } finally {
    await Promise.all(pools.map((p) => p.close().catch(() => {})));
    for (const r of world?.recipients ?? []) r.stream.close();
    await world?.client.close();
    await world?.daemon.stop();
    await bare?.stop();
    await bareBig?.stop();
    await sleepers.stop();
    removeDir(dir);
    removeDir(bareDir);
  }

  const cryptoUs = cryptoFloorUs(quick ? 200 : 2_000);
  const one = cells.find((c) => c.inFlight === 1);
  const sixteen = cells.find((c) => c.inFlight === 16);
  return {
    baseline:
      "the bare `node:http` server of B2 (its own process, same undici client) answering the same POST with a small fixed JSON; for the inbox, also the same server answering a body as large as the inbox",
    sizes: {
      senders: SENDERS,
      recipients: RECIPIENTS,
      inFlight: IN_FLIGHT,
      inboxMessages: INBOX_SIZE,
      cellDurationMs: durationMs,
    },
    repetitions: { rounds, warmupRounds: 1 },
    notes: [
      `A message's latency runs from the POST leaving the client to the \`message\` event reaching the recipient's stream; its 202 is awaited too before the worker sends again. ${SENDERS} sender sessions take turns (none reaches the 20 msg/s limit) and ${RECIPIENTS} recipients, each with its event stream open, whose inboxes are acked between cells, outside the timing.`,
      `Every message is signed by its sender's session key and verified before it is stored, then journaled before its 202. In this process, one ed25519 sign + verify with node:crypto costs ${cryptoUs.toFixed(0)} µs: at 1 in flight that alone is ${fmtRatio(cryptoUs / 1000 / (one?.bare.p50.median ?? Number.NaN))} of the bare round trip.`,
      `GET /v1/inbox answers ${fmtInt(inbox.bytes)} bytes for ${INBOX_SIZE} messages; it was read ${INBOX_SIZE} messages before and after the runs: reading changes nothing.`,
      "Client, daemon and bare server share the machine's 2 cores.",
    ],
    tables: [
      {
        title:
          "Messages: POST → the recipient's message event, against the bare POST round trip (medians of repetitions)",
        header: [
          "in flight",
          "messages/s",
          "bare req/s",
          "ratio",
          "message p50",
          "message p99",
          "bare p50",
          "bare p99",
          "p50 ratio",
        ],
        rows: cells.map((c) => [
          String(c.inFlight),
          fmtInt(c.message.perSec.median),
          fmtInt(c.bare.perSec.median),
          fmtRatio(c.throughputRatio),
          fmtMs(c.message.p50.median),
          fmtMs(c.message.p99.median),
          fmtMs(c.bare.p50.median),
          fmtMs(c.bare.p99.median),
          fmtRatio(c.latencyRatio),
        ]),
      },
      {
        title: `GET /v1/inbox with ${INBOX_SIZE} unsurfaced messages (p50, 1 in flight)`,
        header: ["inbox p50", "bare (small body) p50", "bare (same body) p50", "vs small", "vs same body"],
        rows: [
          [
            fmtMs(inbox.inbox.median),
            fmtMs(inbox.bare.median),
            fmtMs(inbox.bareSameBody.median),
            fmtRatio(inbox.inbox.median / inbox.bare.median),
            fmtRatio(inbox.inbox.median / inbox.bareSameBody.median),
          ],
        ],
      },
    ],
    goals: [
      {
        goal: "message p50 ≤ 2× the bare round trip (1 and 16 in flight)",
        measured: cells.map((c) => `${c.inFlight}: ${fmtRatio(c.latencyRatio)}`).join(", "),
        met: cells.every((c) => c.latencyRatio <= 2),
      },
      {
        goal: "messages/s ≥ 0.5× the bare server's req/s (16 in flight)",
        measured: fmtRatio(sixteen?.throughputRatio ?? Number.NaN),
        met: (sixteen?.throughputRatio ?? 0) >= 0.5,
      },
    ],
    data: { cells, inbox, cryptoFloorUs: cryptoUs },
  };
}
