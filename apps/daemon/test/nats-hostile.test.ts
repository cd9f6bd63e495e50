// A hostile peer on the same server: a raw nats.js client with a valid credential (the open
// server the other NATS tests use), next to two honest daemons A and B run as real processes.
// It floods the presence bucket under the mesh's keys, puts oversized and malformed presences,
// sends junk to B's message and receipt subjects, and replays a real sealed frame A sent to B,
// many times and across B's restart. Throughout, both daemons answer their health route, B counts
// every refusal by reason without logging each one, its directory of remote peers stays bounded
// (and is rid of the garbage once the attack stops), nothing already stored is lost, and an
// honest message A→B sent during each attack arrives. Signature and key forgeries are
// nats-forgery.test.ts's; the timing figures are bench H1's.
import { readFileSync } from "node:fs";
import {
  daemonIdOf,
  daemonIdOfFingerprint,
  generateSealingKeyPair,
  generateSigningKey,
  MAX_PRESENCE_BYTES,
  mintPresence,
  PRESENCE_BUCKET,
  presenceKey,
  REMOTE_DIRECTORY_DEFAULTS,
  type RemotePresence,
  type SigningKey,
  signingKeyFromSeed,
  signRemotePresence,
} from "@claudemesh/mesh";
import { type Daemon, type NatsServer, startNatsServer } from "@claudemesh/testkit";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, http, spawnSleeper, startDaemonProcess, stopDaemon, tempDir, waitFor } from "./harness.js";
import { boundDir, inboxOf, joinAs, markAs, metricOf, peersOf, sendAs, statesOf } from "./nats-harness.js";

const MESH = "team";
const sleeper = spawnSleeper();
const pid = sleeper.pid as number;
const ARRIVAL_MS = 20_000;
let nats: NatsServer;
let mallory: NatsConnection;
let a: Daemon;
let b: Daemon;
let dirB: string;
let bId: string;
let api: string;
let web: string;
const kept: string[] = []; // honest messages B holds: none may be lost

async function daemonIdOfDaemon(d: Daemon): Promise<string> {
  const res = await http(d.socket, "GET", "/v1/member");
  const fp = (res.json() as { member: { fingerprint: string } }).member.fingerprint;
  return daemonIdOfFingerprint(fp) as string;
}

beforeAll(async () => {
  nats = await startNatsServer({ dir: tempDir() });
  a = await startDaemonProcess(boundDir([{ name: MESH, servers: [nats.url] }]));
  dirB = boundDir([{ name: MESH, servers: [nats.url] }]);
  b = await startDaemonProcess(dirB);
  bId = await daemonIdOfDaemon(b);
  api = await joinAs(a.socket, 1, MESH, pid, { display_name: "api" });
  web = await joinAs(b.socket, 2, MESH, pid, { display_name: "web" });
  await waitFor(async () => (await peersOf(b.socket, web)).some((p) => p.session_id === "s1"), "B to see api");
  await waitFor(async () => (await peersOf(a.socket, api)).some((p) => p.session_id === "s2"), "A to see web");
  mallory = await connect({ servers: nats.url });
}, 30_000);

afterAll(async () => {
  await mallory?.close();
  for (const d of [a, b]) if (d !== undefined) await stopDaemon(d);
  await nats?.stop();
  await cleanup();
});

const refused = (kind: string, reason?: string) =>
  metricOf(b.socket, "claudemesh_remote_refused_total", reason === undefined ? { kind } : { kind, reason });

async function healthy(): Promise<void> {
  for (const d of [a, b]) expect((await http(d.socket, "GET", "/v1/health")).status).toBe(200);
}

/** An honest message A→B, sent while an attack runs: it must reach web's inbox. */
async function honest(text: string): Promise<string> {
  const sent = await sendAs(a.socket, api, { to: "web", text });
  await waitFor(
    async () => (await inboxOf(b.socket, web, "all")).some((m) => m.id === sent.id),
    `"${text}" to reach B`,
    ARRIVAL_MS,
  );
  kept.push(sent.id);
  return sent.id;
}

/** What B still holds: every honest message, once. */
async function nothingLost(): Promise<void> {
  const all = (await inboxOf(b.socket, web, "all")).map((m) => m.id);
  for (const id of kept) expect(all.filter((x) => x === id)).toHaveLength(1);
}

const rssMiB = (p: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1]) / 1024;
const logLines = (d: Daemon, msg: string) =>
  d
    .stderr()
    .split("\n")
    .filter((l) => l.includes(`"msg":"${msg}"`)).length;

/** A signed presence of a member key Mallory holds, for its own daemon id. */
function signedPresence(member: SigningKey, sessionId: string, now = Date.now()): RemotePresence {
  const presence = mintPresence(member, { mesh: MESH, sessionId }, now);
  return signRemotePresence(
    {
      v: 1,
      mesh: MESH,
      session_id: sessionId,
      daemon: daemonIdOf(member.publicKey),
      host: "mallory-box",
      display_name: `m-${sessionId}`,
      role: null,
      groups: [],
      status: null,
      summary: null,
      inbound: "accept",
      registered_at: now,
      published_at: now,
      session_pubkey: presence.session_pubkey,
      sealing_pubkey: generateSealingKeyPair().publicKey,
      parent_attestation: presence.parent_attestation,
    },
    signingKeyFromSeed(presence.session_secret_key.reveal()),
  );
}

const kvSubject = (key: string) => `$KV.${PRESENCE_BUCKET}.${key}`;

/** Core publishes (no ack awaited), flushed every `batch`: as fast as the connection takes them. */
async function flood(items: Iterable<{ subject: string; data: Uint8Array | string }>, batch = 500): Promise<number> {
  let n = 0;
  for (const { subject, data } of items) {
    mallory.publish(subject, data);
    if (++n % batch === 0) await mallory.flush();
  }
  await mallory.flush();
  return n;
}

describe("a hostile member on the same server", () => {
  it("floods the presence bucket: B stays up, refuses and counts, caps the sessions of one daemon", async () => {
    const rssBefore = rssMiB(b.pid);
    const logsBefore = logLines(b, "remote presence refused");
    const member = generateSigningKey();
    const own = daemonIdOf(member.publicKey);
    const cap = REMOTE_DIRECTORY_DEFAULTS.maxPerDaemon;
    const believable = Array.from({ length: cap + 200 }, (_, i) => signedPresence(member, `m${i}`));
    const garbageIds = Array.from({ length: 2_000 }, (_, i) => ({
      subject: kvSubject(`${MESH}.${i.toString(16).padStart(16, "0")}.g${i}`),
      data: JSON.stringify({ v: 1, junk: i }),
    }));
    const wrongKey = Array.from({ length: 2_000 }, (_, i) => ({
      subject: kvSubject(`${MESH}.${own}.x${i}`), // a believable value under another session's key
      data: JSON.stringify(believable[i % believable.length]),
    }));
    const attack = (async () => {
      const started = performance.now();
      let n = await flood(
        believable.map((p) => ({ subject: kvSubject(presenceKey(MESH, own, p.session_id)), data: JSON.stringify(p) })),
      );
      n += await flood([...garbageIds, ...wrongKey]);
      return n / ((performance.now() - started) / 1000);
    })();
    const id = await honest("during the presence flood");
    const putsPerSecond = await attack;
    expect(putsPerSecond).toBeGreaterThan(1_000);
    await waitFor(
      async () => (await refused("presence", "malformed")) >= garbageIds.length,
      "B to refuse the garbage",
      ARRIVAL_MS,
    );
    await waitFor(
      async () => (await refused("presence", "key_mismatch")) >= wrongKey.length,
      "B to refuse the mismatched",
      ARRIVAL_MS,
    );
    await waitFor(
      async () => (await refused("presence", "too_many_sessions")) >= 200,
      "B to cap Mallory's daemon",
      ARRIVAL_MS,
    );
    const peers = await metricOf(b.socket, "claudemesh_remote_peers");
    expect(peers).toBeLessThanOrEqual(cap + 1);
    expect(peers).toBeGreaterThan(1);
    await healthy();
    // A flood is counted, not written out line by line.
    expect(logLines(b, "remote presence refused") - logsBefore).toBeLessThan(100);
    expect(rssMiB(b.pid) - rssBefore).toBeLessThan(150);
    expect((await inboxOf(b.socket, web, "all")).map((m) => m.id)).toContain(id);
  });

  it("puts oversized and malformed presences: refused as such, the honest peer stays", async () => {
    const before = {
      oversized: await refused("presence", "oversized"),
      malformed: await refused("presence", "malformed"),
    };
    const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    const junk: { subject: string; data: Uint8Array | string }[] = [
      { subject: kvSubject(`${MESH}.0123456789abcdef.big`), data: new Uint8Array(1_000_000).fill(0x41) },
      {
        subject: kvSubject(`${MESH}.0123456789abcdef.bigjson`),
        data: JSON.stringify({ v: 1, display_name: "x".repeat(900_000) }),
      },
      { subject: kvSubject(`${MESH}.0123456789abcdef.deep`), data: deep(400_000) },
      {
        subject: kvSubject(`${MESH}.0123456789abcdef.deepish`),
        data: `{"v":1,"groups":${deep(MAX_PRESENCE_BYTES / 4)}}`,
      },
      { subject: kvSubject(`${MESH}.0123456789abcdef.text`), data: "not json at all" },
      { subject: kvSubject(`${MESH}.0123456789abcdef.array`), data: "[1,2,3]" },
      { subject: kvSubject(`${MESH}.0123456789abcdef.null`), data: "null" },
      { subject: kvSubject(`${MESH}.0123456789abcdef.shape`), data: JSON.stringify({ v: 1, mesh: 7, session_id: {} }) },
      {
        subject: kvSubject(`${MESH}.0123456789abcdef.bytes`),
        data: Uint8Array.from({ length: 4096 }, (_, i) => (i * 131) % 256),
      },
    ];
    const attack = flood(junk, 1);
    const id = await honest("during the malformed presences");
    await attack;
    await waitFor(
      async () => (await refused("presence", "oversized")) >= before.oversized + 3,
      "B to refuse the big ones",
      ARRIVAL_MS,
    );
    await waitFor(
      async () => (await refused("presence", "malformed")) >= before.malformed + 6,
      "B to refuse the malformed",
      ARRIVAL_MS,
    );
    await healthy();
    expect((await peersOf(b.socket, web)).some((p) => p.session_id === "s1")).toBe(true);
    expect((await inboxOf(b.socket, web, "all")).map((m) => m.id)).toContain(id);
  });

  it("is rid of the garbage peers once the attack stops", async () => {
    await waitFor(
      async () => (await metricOf(b.socket, "claudemesh_remote_peers")) === 1,
      "B's remote peers to be api alone again",
      30_000,
    );
  }, 40_000);

  it("sends junk to B's message and receipt subjects: refused, counted, and the honest frames still arrive", async () => {
    const js = jetstream(mallory);
    const to = (tail: string) => `cm.${MESH}.to.${bId}.${tail}`;
    const before = await refused("frame");
    const frame = (i: number) => ({
      v: 1,
      id: "00000000-0000-4000-8000-000000000000".replace(/0{4}$/, String(i).padStart(4, "0")),
    });
    const junk: { subject: string; data: Uint8Array | string }[] = [];
    for (let i = 0; i < 50; i++) {
      junk.push(
        { subject: to("s.s2"), data: "not json" },
        { subject: to("s.s2"), data: Uint8Array.from({ length: 512 }, (_, j) => (i * 7 + j * 13) % 256) },
        { subject: to("s.s2"), data: JSON.stringify({ ...frame(i), from_session: "s1", box: { v: 1, kid: "x" } }) },
        { subject: to("s.s2"), data: JSON.stringify({ wrong: "fields", id: 42 }) },
        { subject: to("s.nobody"), data: JSON.stringify(frame(i)) },
        { subject: to("r"), data: JSON.stringify({ v: 1, mesh: MESH, message_id: "nope", state: "acked" }) },
        { subject: to("r"), data: "[]" },
      );
    }
    junk.push(
      { subject: to("s.s2"), data: new Uint8Array(1_000_000).fill(0x7b) },
      {
        subject: to("s.s2"),
        data: JSON.stringify({ ...frame(9999), from_session: "s1", box: { ct: "A".repeat(900_000) } }),
      },
      { subject: to("r"), data: JSON.stringify({ v: 1, pad: "r".repeat(900_000) }) },
      { subject: to("s.s2"), data: `${"[".repeat(300_000)}${"]".repeat(300_000)}` },
    );
    // Stored by the stream like any frame (a JetStream publish each, as a daemon sends).
    const attack = (async () => {
      for (let i = 0; i < junk.length; i += 50) {
        await Promise.all(
          junk.slice(i, i + 50).map((j, k) => js.publish(j.subject, j.data, { msgID: `junk-${i + k}` })),
        );
      }
    })();
    const id = await honest("during the frame junk");
    await attack;
    await waitFor(
      async () => (await refused("frame")) >= before + junk.length,
      "B to refuse every junk frame",
      ARRIVAL_MS,
    );
    expect(await refused("frame", "oversized")).toBeGreaterThanOrEqual(3);
    expect(await refused("frame", "malformed")).toBeGreaterThanOrEqual(200);
    expect(await refused("frame", "bad_receipt")).toBeGreaterThanOrEqual(100);
    expect(logLines(b, "inbound frame refused")).toBeLessThan(100);
    await healthy();
    expect((await inboxOf(b.socket, web, "all")).map((m) => m.id)).toContain(id);
    await nothingLost();
  });

  it("replays a real sealed frame, many times and after B restarts: the inbox holds it once", async () => {
    const captured: { subject: string; data: Uint8Array }[] = [];
    const sub = mallory.subscribe(`cm.${MESH}.to.>`, {
      callback: (_e, m) => {
        captured.push({ subject: m.subject, data: m.data });
      },
    });
    const id = await honest("say it once");
    await waitFor(() => captured.some((c) => c.subject.endsWith(".s.s2")), "the frame on the wire");
    const frame = captured.find((c) => c.subject.endsWith(".s.s2")) as { subject: string; data: Uint8Array };
    await markAs(b.socket, web, [id], "acked");
    await waitFor(async () => (await statesOf(a.socket, api, id)).s2 === "acked", "A to read acked");
    const receipt = await waitFor(() => captured.find((c) => c.subject.endsWith(".r")), "a receipt on the wire");
    sub.unsubscribe();

    const js = jetstream(mallory);
    const replay = async (n: number, tag: string) => {
      for (let i = 0; i < n; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, n - i) }, (_, k) => {
            return js.publish(frame.subject, frame.data, { msgID: `${tag}-${i + k}` });
          }),
        );
      }
      // A receipt replayed: an older state than the one A holds changes nothing.
      await js.publish(receipt.subject, receipt.data, { msgID: `${tag}-receipt` });
    };
    const dupBefore = await refused("frame", "duplicate");
    await replay(200, "again");
    await waitFor(
      async () => (await refused("frame", "duplicate")) >= dupBefore + 200,
      "B to take the replays as duplicates",
      ARRIVAL_MS,
    );
    const once = async () => {
      expect((await inboxOf(b.socket, web)).map((m) => m.id)).not.toContain(id);
      expect((await inboxOf(b.socket, web, "all")).filter((m) => m.id === id)).toHaveLength(1);
      expect((await statesOf(a.socket, api, id)).s2).toBe("acked");
    };
    await once();
    await healthy();

    // B restarts (a clean stop, the same dir): the replays after it find the message held still.
    await stopDaemon(b);
    b = await startDaemonProcess(dirB);
    await waitFor(
      async () => (await peersOf(b.socket, web)).some((p) => p.session_id === "s1"),
      "B to see api again",
      ARRIVAL_MS,
    );
    const refusedAfter = await refused("frame");
    await replay(100, "later");
    await waitFor(
      async () => (await refused("frame")) >= refusedAfter + 100,
      "B (restarted) to refuse the replays",
      ARRIVAL_MS,
    );
    await once();
    await honest("after the replays");
    await healthy();
    await nothingLost();
  });
});
