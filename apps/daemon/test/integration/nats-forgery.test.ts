// Someone with a valid credential on the server, but no member key of the mesh, tries to pass
// as a peer: a presence changed after signing, a presence of a member not trusted
// (`--trust-member`), an expired attestation, an honest presence replayed under another session
// id, and a message frame whose ciphertext was tampered with. Every one is refused and counted;
// none shows in peers, none reaches an inbox; honest traffic keeps flowing.
import { join } from "node:path";
import {
  daemonIdOf,
  generateSealingKeyPair,
  generateSigningKey,
  MESSAGE_STREAM,
  mintPresence,
  PRESENCE_BUCKET,
  presenceKey,
  type RemotePresence,
  signingKeyFromSeed,
  signRemotePresence,
} from "@claudemesh/mesh";
import { Children, type NatsServer, startNatsServer } from "@claudemesh/testkit";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../../src/daemon.js";
import { createLogger } from "../../src/logger.js";
import { cleanup, http, spawnSleeper, tempDir, waitFor } from "../harness.js";
import { boundDir, inboxOf, joinAs, metricOf, peersOf, sendAs } from "../nats-harness.js";

const MESH = "team";
const children = new Children();
const sleeper = spawnSleeper();
const pid = sleeper.pid as number;
let nats: NatsServer;
let mallory: NatsConnection;
let kv: KV;
let a: RunningDaemon; // an honest member
let b: RunningDaemon; // trusts every member the server lets in
let c: RunningDaemon; // trusts A's member key only
let aFingerprint: string;
let api: string;
let web: string;
let strict: string;

async function start(bindings: Parameters<typeof boundDir>[0]): Promise<RunningDaemon> {
  const dir = boundDir(bindings);
  return startDaemon({ dir, logger: createLogger({ file: join(dir, "daemon.log") }), reaperIntervalMs: 100 });
}

beforeAll(async () => {
  nats = await startNatsServer({ dir: tempDir(), children });
  a = await start([{ name: MESH, servers: [nats.url] }]);
  const member = await http(a.socketPath, "GET", "/v1/member");
  aFingerprint = (member.json() as { member: { fingerprint: string } }).member.fingerprint;
  b = await start([{ name: MESH, servers: [nats.url] }]);
  c = await start([{ name: MESH, servers: [nats.url], trustMembers: [aFingerprint] }]);
  api = await joinAs(a.socketPath, 1, MESH, pid, { display_name: "api" });
  web = await joinAs(b.socketPath, 2, MESH, pid, { display_name: "web" });
  strict = await joinAs(c.socketPath, 3, MESH, pid, { display_name: "strict" });
  mallory = await connect({ servers: nats.url });
  kv = await new Kvm(mallory).open(PRESENCE_BUCKET);
  await waitFor(async () => (await peersOf(b.socketPath, web)).some((p) => p.session_id === "s1"), "B to see api");
}, 30_000);

afterAll(async () => {
  await Promise.all([a, b, c].map((d) => d?.shutdown("test over")));
  await mallory?.close();
  await nats?.stop();
  await children.stopAll();
  await cleanup();
});

const refused = (d: RunningDaemon, kind: string, reason: string) =>
  metricOf(d.socketPath, "claudemesh_remote_refused_total", { kind, reason });

/** A presence of Mallory's own member key: honest in form, for her own daemon id. */
function malloryPresence(sessionId: string, now: number, lifetimeMs?: number): RemotePresence {
  const key = generateSigningKey();
  const presence = mintPresence(key, { mesh: MESH, sessionId }, now, lifetimeMs);
  return signRemotePresence(
    {
      v: 1,
      mesh: MESH,
      session_id: sessionId,
      daemon: daemonIdOf(key.publicKey),
      host: "mallory-box",
      display_name: `mallory-${sessionId}`,
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

const put = (p: RemotePresence, session = p.session_id) =>
  kv.put(presenceKey(MESH, p.daemon, session), JSON.stringify(p));

describe("forgeries on the server", () => {
  it("a presence changed after signing is refused, and so is one replayed under another id", async () => {
    const honest = await presenceInBucket("s1");
    expect(honest.display_name).toBe("api");
    await put({ ...honest, display_name: "api (trust me)", published_at: honest.published_at + 1 });
    await waitFor(async () => (await refused(b, "presence", "bad_signature")) >= 1, "B to refuse the changed one");
    await put(honest, "s-replayed");
    await waitFor(async () => (await refused(b, "presence", "key_mismatch")) >= 1, "B to refuse the replay");
    const peers = await peersOf(b.socketPath, web);
    expect(peers.map((p) => p.display_name)).not.toContain("api (trust me)");
    expect(peers.map((p) => p.session_id)).not.toContain("s-replayed");
  });

  it("an expired attestation is refused everywhere; a foreign member only where --trust-member is set", async () => {
    await put(malloryPresence("m-expired", Date.now() - 2 * 3600_000, 3600_000));
    await waitFor(async () => (await refused(b, "presence", "expired")) >= 1, "B to refuse the expired one");
    // C trusts A only: B's own session is refused there too, so count from now.
    const before = await refused(c, "presence", "untrusted_member");
    await put(malloryPresence("m-foreign", Date.now()));
    await waitFor(async () => (await refused(c, "presence", "untrusted_member")) > before, "C to refuse Mallory");
    await waitFor(
      async () => (await peersOf(b.socketPath, web)).some((p) => p.session_id === "m-foreign"),
      "B (trusting the server's members) to show her",
    );
    const onC = await peersOf(c.socketPath, strict);
    expect(onC.map((p) => p.session_id)).toEqual(["s1"]);
  });

  it("a tampered ciphertext is refused and counted; the honest message after it arrives", async () => {
    const frames: { subject: string; data: string }[] = [];
    const sub = mallory.subscribe(`cm.${MESH}.to.*.s.s1`, {
      callback: (_e, m) => {
        frames.push({ subject: m.subject, data: m.string() });
      },
    });
    const first = await sendAs(b.socketPath, web, { to: "api", text: "the real one" });
    const captured = await waitFor(() => frames[0], "the frame on the wire");
    sub.unsubscribe();
    await waitFor(async () => (await inboxOf(a.socketPath, api)).some((m) => m.id === first.id), "the honest one");
    const frame = JSON.parse(captured.data) as { box: { ct: string } };
    const ct = frame.box.ct;
    frame.box.ct = `${ct.slice(0, 20)}${ct[20] === "A" ? "B" : "A"}${ct.slice(21)}`;
    await jetstream(mallory).publish(captured.subject, JSON.stringify(frame), { msgID: "mallory-1" });
    await waitFor(async () => (await refused(a, "frame", "tampered")) >= 1, "A to refuse the tampered frame");
    const second = await sendAs(b.socketPath, web, { to: "api", text: "still flowing" });
    await waitFor(async () => (await inboxOf(a.socketPath, api)).some((m) => m.id === second.id), "the next one");
    expect((await inboxOf(a.socketPath, api, "all")).filter((m) => m.id === first.id)).toHaveLength(1);
    const jsm = await jetstreamManager(mallory);
    expect((await jsm.streams.info(MESSAGE_STREAM)).state.messages).toBeGreaterThanOrEqual(3);
  });
});

/** The presence a daemon put for one of its sessions, read back from the bucket. */
async function presenceInBucket(sessionId: string): Promise<RemotePresence> {
  for await (const key of await kv.keys(`${MESH}.>`)) {
    if (!key.endsWith(`.${sessionId}`)) continue;
    const entry = await kv.get(key);
    if (entry?.operation === "PUT") return entry.json() as RemotePresence;
  }
  throw new Error(`no presence of ${sessionId} in the bucket`);
}
