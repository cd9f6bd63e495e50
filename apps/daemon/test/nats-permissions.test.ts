// docs/teams.md held to real nats-servers (Debian's 2.9.10) and the nats.js 3.4.0 the daemon
// uses: nkey users, TLS under the team's own CA, and the per-daemon allowlist. The list is read
// from the page and must be the one built here from the layout (nats-layout.ts); it must let a
// daemon do all it does on the server (the runtime's own calls, then two real daemons) and refuse
// it everything that is another daemon's. A refusal is asserted as the client sees it: a request
// (every JetStream and KV call is one) rejects at once with a RequestError whose cause is a
// PermissionViolationError naming the subject; a subscription is closed with one; the connection
// stays up. What the page says the list does not stop is asserted too, so that it claims no more
// than the server does. Every server is a process of this file, on a free loopback port, in a temp
// dir, stopped by pid in afterAll.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { daemonPaths } from "@claudemesh/client";
import {
  consumerName,
  daemonAllowlist,
  daemonIdOf,
  daemonIdOfFingerprint,
  encodeMemberKey,
  fingerprint,
  generateSigningKey,
  inboundFilter,
  inboxPrefix,
  MESSAGE_STREAM,
  MESSAGE_STREAM_SUBJECTS,
  memberKeyOf,
  messageSubject,
  PRESENCE_BUCKET,
  parseMeshBinding,
  pingSubject,
  presenceFilter,
  presenceKey,
  receiptSubject,
  type SigningKey,
} from "@claudemesh/mesh";
import { Children, findExecutable, type NatsServer, startNatsServer, TempDirs } from "@claudemesh/testkit";
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import {
  AuthorizationError,
  connect,
  type NatsConnection,
  nanos,
  nkeyAuthenticator,
  nkeys,
  PermissionViolationError,
  RequestError,
} from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDaemon } from "../src/daemon.js";
import { checkServer } from "../src/nats/check.js";
import { ensureStream, STREAM_LIMITS } from "../src/nats/inbound.js";
import { loadJetStream } from "../src/nats/load.js";
import { PRESENCE_TIMINGS } from "../src/nats/presence-sync.js";
import { cleanup, spawnSleeper, waitFor } from "./harness.js";
import { boundDir, inboxOf, joinAs, markAs, peersOf, sendAs, statesOf } from "./nats-harness.js";
import { RecordingLogger } from "./unit/helpers.js";

const MESH = "m1";
const OTHER_MESH = "m2";
const KV_STREAM = `KV_${PRESENCE_BUCKET}`;
const KV_SUBJECTS = `$KV.${PRESENCE_BUCKET}`;

const children = new Children();
const temps = new TempDirs("cmd-natsperm-");
const connections: NatsConnection[] = [];

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  await children.stopAll();
  temps.removeAll();
  await cleanup();
});

// ---------------------------------------------------------------------------------------------
// The allowlist, built from the layout, and the config around it, as docs/teams.md writes them.

interface Permissions {
  readonly publish: { readonly allow: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[] };
  readonly allow_responses: true;
}

/** One daemon's allowlist in one mesh (the one `mesh host` signs into credentials); `create` keeps the two lines that make the stream and the bucket. */
function allowlist(mesh: string, daemon: string, create: boolean): Permissions {
  const { publish, subscribe } = daemonAllowlist(mesh, daemon, create);
  return { publish: { allow: publish }, subscribe: { allow: subscribe }, allow_responses: true };
}

interface User {
  readonly nkey: string;
  readonly permissions?: Permissions;
}

/**
 * A server config in the shape of docs/teams.md: its JetStream and account limits (the server's
 * file store grown to hold every account's), one account per entry, its users. Listen address
 * and store dir are the kit's (`-a`, `-p`, `-sd`).
 */
function serverConfig(accounts: Record<string, readonly User[]>, tls?: { cert: string; key: string }): string {
  const lines: string[] = [];
  if (tls)
    lines.push(`tls { cert_file: ${JSON.stringify(tls.cert)}, key_file: ${JSON.stringify(tls.key)}, timeout: 2 }`);
  // The accounts' limits are reserved from the server's: together they must fit (or it will not start).
  const files = Math.max(10, 5 * Object.keys(accounts).length);
  lines.push("max_payload: 1MB", `jetstream { max_memory_store: 256MB, max_file_store: ${files}GB }`, "accounts {");
  for (const [name, users] of Object.entries(accounts)) {
    lines.push(`  ${name} {`, "    jetstream { max_memory: 64MB, max_file: 5GB, max_streams: 2, max_consumers: 64 }");
    lines.push("    users: [", ...users.map((u) => `      ${JSON.stringify(u)}`), "    ]", "  }");
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

async function natsWith(config: string): Promise<NatsServer> {
  const dir = temps.make();
  const file = join(dir, "nats.conf");
  writeFileSync(file, config, { mode: 0o600 });
  return startNatsServer({ dir, children, args: ["-c", file] });
}

/** A member of the mesh: a member key (its daemon id) and an nkey user whose seed is in a 0600 file. */
interface Member {
  readonly key: SigningKey;
  readonly id: string;
  readonly user: nkeys.KeyPair;
  readonly seedFile: string;
}

function newMember(): Member {
  const key = generateSigningKey();
  const user = nkeys.createUser();
  const seedFile = join(temps.make(), "member.nk");
  writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
  return { key, id: daemonIdOf(key.publicKey), user, seedFile };
}

const userOf = (member: Member, permissions?: Permissions): User => ({
  nkey: member.user.getPublicKey(),
  ...(permissions && { permissions }),
});

// ---------------------------------------------------------------------------------------------
// A daemon's connection, as the link makes it, and how refusals show on it.

interface Daemon {
  readonly id: string;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Every permissions violation the server reported on this connection, as they came. */
  readonly violations: PermissionViolationError[];
}

async function connectAs(server: NatsServer, member: Member): Promise<Daemon> {
  const nc = await connect({
    servers: server.url,
    authenticator: nkeyAuthenticator(member.user.getSeed()),
    name: `claudemesh ${MESH}`,
    inboxPrefix: inboxPrefix(member.id),
    maxReconnectAttempts: 0,
  });
  connections.push(nc);
  const violations: PermissionViolationError[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && s.error instanceof PermissionViolationError) violations.push(s.error);
    }
  })();
  return { id: member.id, nc, js: jetstream(nc), jsm: await jetstreamManager(nc), violations };
}

/** What a request refused by the server comes back as: a RequestError caused by a violation for `subject`. */
async function expectRefused(call: () => Promise<unknown>, subject: string | RegExp): Promise<void> {
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "a refusal").toBeInstanceOf(RequestError);
  const cause = (error as Error).cause;
  expect(cause).toBeInstanceOf(PermissionViolationError);
  expect(cause).toMatchObject({
    operation: "publish",
    subject: typeof subject === "string" ? subject : expect.stringMatching(subject),
  });
}

/** `promise`, or a failure naming what did not happen within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** One iterator per consumer's messages, read one at a time. */
function reader(messages: ConsumerMessages): () => Promise<JsMsg> {
  const it = messages[Symbol.asyncIterator]();
  return async () => {
    const next = await within(it.next(), 10_000, "a message from the consumer");
    if (next.done) throw new Error("the consumer's messages ended");
    return next.value;
  };
}

/** Keys as the presence watch reports them: `PUT <key>` / `DEL <key>`. */
async function watchOf(kv: KV, key: string): Promise<{ seen: string[]; stop(): void }> {
  const watch = await kv.watch({ key });
  const seen: string[] = [];
  void (async () => {
    for await (const entry of watch) seen.push(`${entry.operation} ${entry.key}`);
  })();
  return { seen, stop: () => watch.stop() };
}

async function keysOf(kv: KV, filter: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys(filter)) keys.push(key);
  return keys;
}

const openBucket = (d: Daemon) =>
  new Kvm(d.nc).create(PRESENCE_BUCKET, { history: 1, ttl: PRESENCE_TIMINGS.bucketTtlMs });

/** Inbound.attach's consumer: made when missing, the same config each time. */
async function ensureConsumer(d: Daemon): Promise<void> {
  await d.jsm.consumers.add(MESSAGE_STREAM, {
    durable_name: consumerName(MESH, d.id),
    filter_subject: inboundFilter(MESH, d.id),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(STREAM_LIMITS.ackWaitMs),
    max_ack_pending: STREAM_LIMITS.maxAckPending,
  });
}

async function consume(d: Daemon): Promise<{ next: () => Promise<JsMsg>; stop(): void }> {
  const messages = await (await d.js.consumers.get(MESSAGE_STREAM, consumerName(MESH, d.id))).consume({
    max_messages: 256,
  });
  return { next: reader(messages), stop: () => messages.stop() };
}

/**
 * Everything a daemon does on the server, by two of them, in the runtime's order: on attach the
 * stream, its consumer, the bucket (each made when missing), the list of its own keys; then its
 * presence put, watched by the other and deleted, a key confirmed with a get, a message to a
 * session of the other and a receipt back, each pulled and acked, and pings both ways.
 */
async function exercise(a: Daemon, b: Daemon): Promise<void> {
  const mod = await loadJetStream();
  for (const d of [a, b]) {
    await ensureStream(d.jsm, mod);
    await ensureConsumer(d);
  }
  const kvA = await openBucket(a);
  const kvB = await openBucket(b);
  for (const [d, kv] of [
    [a, kvA],
    [b, kvB],
  ] as const) {
    expect(await keysOf(kv, `${presenceKey(MESH, d.id, "x").slice(0, -1)}>`)).toEqual([]);
  }

  // A session id with a dot and a colon: the subject token and key segment are escaped.
  const sessionA = "api.1:a";
  const sessionB = "web.2:b";
  const keyA = presenceKey(MESH, a.id, sessionA);
  const watch = await watchOf(kvB, presenceFilter(MESH));
  await kvA.put(keyA, JSON.stringify({ signed: "by the session key" }));
  await waitFor(() => watch.seen.includes(`PUT ${keyA}`), "B's watch to see A's presence", 10_000);
  expect((await kvB.get(keyA))?.operation).toBe("PUT");
  await kvA.delete(keyA);
  await waitFor(() => watch.seen.includes(`DEL ${keyA}`), "B's watch to see it deleted", 10_000);
  watch.stop();

  const inboxA = await consume(a);
  const inboxB = await consume(b);
  const stored = await a.js.publish(messageSubject(MESH, b.id, sessionB), "sealed frame", {
    msgID: `m-${a.id}:${sessionB}:kid`,
  });
  expect(stored).toMatchObject({ stream: MESSAGE_STREAM, duplicate: false });
  const message = await inboxB.next();
  expect(message.subject).toBe(messageSubject(MESH, b.id, sessionB));
  expect(await message.ackAck()).toBe(true);
  await b.js.publish(receiptSubject(MESH, a.id), "signed receipt", { msgID: `r:m-${a.id}:${sessionB}:delivered` });
  const receipt = await inboxA.next();
  expect(receipt.subject).toBe(receiptSubject(MESH, a.id));
  expect(await receipt.ackAck()).toBe(true);
  inboxA.stop();
  inboxB.stop();

  for (const [asker, asked] of [
    [a, b],
    [b, a],
  ] as const) {
    const ping = asked.nc.subscribe(pingSubject(MESH, asked.id), {
      callback: (error, msg) => {
        if (error === null) msg.respond();
      },
    });
    await asked.nc.flush();
    await asker.nc.request(pingSubject(MESH, asked.id), undefined, { timeout: 5_000 });
    ping.unsubscribe();
    await asked.nc.flush();
    // Nobody on the subject any more: "no responders" at once, as the liveness check relies on.
    const gone = await asker.nc.request(pingSubject(MESH, asked.id), undefined, { timeout: 5_000 }).catch((e) => e);
    expect(gone).toBeInstanceOf(RequestError);
    expect((gone as RequestError).isNoResponders()).toBe(true);
  }
}

// ---------------------------------------------------------------------------------------------
// One server for the allowlist: account OPEN (daemons may make the stream and the bucket), CLOSED
// (made by an admin; the lists without the create lines) and E2E (two real daemons, CLOSED's way).

const open = { a: newMember(), b: newMember() };
const closed = { admin: newMember(), a: newMember(), b: newMember() };
const e2e = { admin: newMember(), a: newMember(), b: newMember() };
let team: NatsServer;

beforeAll(async () => {
  team = await natsWith(
    serverConfig({
      OPEN: [userOf(open.a, allowlist(MESH, open.a.id, true)), userOf(open.b, allowlist(MESH, open.b.id, true))],
      CLOSED: [
        userOf(closed.admin),
        userOf(closed.a, allowlist(MESH, closed.a.id, false)),
        userOf(closed.b, allowlist(MESH, closed.b.id, false)),
      ],
      E2E: [
        userOf(e2e.admin),
        userOf(e2e.a, allowlist(MESH, e2e.a.id, false)),
        userOf(e2e.b, allowlist(MESH, e2e.b.id, false)),
      ],
    }),
  );
}, 30_000);

/** The stream and the bucket made by an admin of the account, with the daemon's own settings. */
async function precreate(server: NatsServer, admin: Member): Promise<void> {
  const d = await connectAs(server, admin);
  await ensureStream(d.jsm, await loadJetStream());
  await openBucket(d);
  await d.nc.close();
}

// ---------------------------------------------------------------------------------------------

describe("docs/teams.md", () => {
  const doc = readFileSync(new URL("../../../docs/teams.md", import.meta.url), "utf8");

  /** A member's permissions as the page's config writes them: `NAME = {` up to its closing `}`. */
  function documented(name: string): { publish: string[]; subscribe: string[]; rest: string } {
    const start = doc.indexOf(`\n${name} = {\n`);
    expect(start, `${name} = { in docs/teams.md`).toBeGreaterThan(0);
    const block = doc.slice(start, doc.indexOf("\n}\n", start));
    const at = block.indexOf("\n  subscribe: {");
    const strings = (part: string) => [...part.matchAll(/"([^"]*)"/g)].map((m) => m[1] as string);
    const end = block.indexOf("\n  }", at + 1);
    return { publish: strings(block.slice(0, at)), subscribe: strings(block.slice(at, end)), rest: block.slice(end) };
  }

  it("lists exactly the allowlist proven here, for alice and bob in mesh team", () => {
    for (const [name, id] of [
      ["ALICE", "5650e27f01f41db8"],
      ["BOB", "2597a9f1fd6ee02c"],
    ] as const) {
      const list = allowlist("team", id, true);
      const page = documented(name);
      expect(page.publish).toEqual(list.publish.allow);
      expect(page.subscribe).toEqual(list.subscribe.allow);
      expect(page.rest).toContain("\n  allow_responses: true");
    }
    // Its example keys are user nkeys, and the fingerprint it trusts is bob's daemon's.
    for (const [, key] of doc.matchAll(/nkey: "(U[A-Z2-7]{55})"/g))
      expect(() => nkeys.fromPublic(key as string)).not.toThrow();
    const trusted = /--trust-member (SHA256:[A-Za-z0-9+/]{43})/.exec(doc)?.[1];
    expect(trusted !== undefined && daemonIdOfFingerprint(trusted)).toBe("2597a9f1fd6ee02c");
  });

  it("turns a fingerprint into the daemon id with the shell line it gives", () => {
    const line = doc.split("\n").find((l) => l.startsWith("printf '%s=' ") && l.includes("base64 -d"));
    expect(line, "the fingerprint → daemon id line").toBeDefined();
    const key = generateSigningKey();
    const fp = fingerprint(key.publicKey);
    const out = execFileSync("sh", ["-c", `fp='${fp}'\n${line}`], { encoding: "utf8" });
    expect(out.trim()).toBe(daemonIdOf(key.publicKey));
  });
});

describe("nkey users", () => {
  const bindingFor = (seedFile?: string) => {
    const parsed = parseMeshBinding(
      { name: MESH, servers: [team.url], ...(seedFile !== undefined && { nkeySeedFile: seedFile }) },
      Date.now(),
    );
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  };

  it("let a member in with its seed file (mesh add's check passes, JetStream and all)", async () => {
    expect(await checkServer(bindingFor(open.a.seedFile), { inboxPrefix: inboxPrefix(open.a.id) })).toMatchObject({
      ok: true,
      jetstream: true,
    });
  });

  it("refuse a seed the server does not know, and no credentials at all, as auth", async () => {
    const stranger = newMember();
    const refused = await checkServer(bindingFor(stranger.seedFile), { inboxPrefix: inboxPrefix(stranger.id) });
    expect(refused).toMatchObject({ ok: false, reason: "auth" });
    expect(!refused.ok && refused.message).toContain(stranger.seedFile);
    expect(!refused.ok && refused.message).not.toContain(new TextDecoder().decode(stranger.user.getSeed()));
    expect(await checkServer(bindingFor())).toMatchObject({ ok: false, reason: "auth" });
    const error = await connect({
      servers: team.url,
      authenticator: nkeyAuthenticator(stranger.user.getSeed()),
      maxReconnectAttempts: 0,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthorizationError);
  });
});

describe.skipIf(findExecutable("openssl") === undefined)("TLS under the team's own CA", () => {
  const member = newMember();
  let dir: string;
  /** A TLS server whose certificate, signed by the team CA, names `san` (docs/teams.md's commands). */
  let serverFor: (san: string) => Promise<NatsServer>;

  beforeAll(() => {
    dir = temps.make();
    const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(
      ["req", "-x509", ...ec, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA"].concat([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ]),
    );
    let n = 0;
    serverFor = (san: string) => {
      n += 1;
      run(["req", ...ec, "-keyout", `server${n}-key.pem`, "-out", `server${n}.csr`, "-subj", "/CN=claudemesh test"]);
      writeFileSync(join(dir, `server${n}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
      run(
        ["x509", "-req", "-in", `server${n}.csr`, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial"].concat([
          "-out",
          `server${n}-cert.pem`,
          "-days",
          "2",
          "-extfile",
          `server${n}.ext`,
        ]),
      );
      const tls = { cert: join(dir, `server${n}-cert.pem`), key: join(dir, `server${n}-key.pem`) };
      return natsWith(serverConfig({ TEAM: [userOf(member, allowlist(MESH, member.id, true))] }, tls));
    };
  });

  const asMember = {
    get inboxPrefix() {
      return inboxPrefix(member.id);
    },
  };
  const bindingFor = (server: string, tlsCa?: string) => {
    const parsed = parseMeshBinding(
      { name: MESH, servers: [server], nkeySeedFile: member.seedFile, ...(tlsCa !== undefined && { tlsCa }) },
      Date.now(),
    );
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  };

  it("lets a member with --tls-ca in over tls:// by the name on the certificate; without the CA the check says tls", async () => {
    const server = await serverFor("DNS:localhost");
    const url = `tls://localhost:${server.port}`;
    expect(await checkServer(bindingFor(url, join(dir, "ca.pem")), asMember)).toMatchObject({
      ok: true,
      jetstream: true,
    });
    const refused = await checkServer(bindingFor(url), asMember);
    expect(refused).toMatchObject({ ok: false, reason: "tls" });
    expect(!refused.ok && refused.message).toContain("--tls-ca");
  });

  it("takes a certificate for an IP address reached by that address (nats.js alone would check it as localhost)", async () => {
    const server = await serverFor("IP:127.0.0.1");
    const url = `tls://127.0.0.1:${server.port}`;
    expect(await checkServer(bindingFor(url, join(dir, "ca.pem")), asMember)).toMatchObject({ ok: true });
    // What the daemon works around: left to itself, nats.js checks the address as "localhost".
    await expect(
      connect({
        servers: url,
        authenticator: nkeyAuthenticator(member.user.getSeed()),
        tls: { caFile: join(dir, "ca.pem") },
        maxReconnectAttempts: 0,
      }),
    ).rejects.toThrow(/localhost/);
  });
});

describe("the allowlist, when daemons make the stream and the bucket", () => {
  let a: Daemon;
  let b: Daemon;
  let kvA: KV;

  beforeAll(async () => {
    a = await connectAs(team, open.a);
    b = await connectAs(team, open.b);
  });

  it("lets each daemon do all it does, and nothing it does is refused", async () => {
    await exercise(a, b);
    kvA = await openBucket(a);
    expect(a.violations).toEqual([]);
    expect(b.violations).toEqual([]);
  });

  it("refuses a daemon every request on another daemon's keys, consumer or mesh, and on the stream itself", async () => {
    const theirKey = presenceKey(MESH, b.id, "web");
    const elsewhere = presenceKey(OTHER_MESH, a.id, "api");
    const mine = consumerName(MESH, a.id);
    const theirs = consumerName(MESH, b.id);
    const durableBody = JSON.stringify({
      stream_name: MESSAGE_STREAM,
      config: { durable_name: mine, filter_subject: inboundFilter(MESH, b.id), ack_policy: "explicit" },
    });
    const cases: [string, () => Promise<unknown>, string | RegExp][] = [
      ["a put of another daemon's presence", () => kvA.put(theirKey, "{}"), `${KV_SUBJECTS}.${theirKey}`],
      ["a delete of another daemon's presence", () => kvA.delete(theirKey), `${KV_SUBJECTS}.${theirKey}`],
      ["a put under another mesh", () => kvA.put(elsewhere, "{}"), `${KV_SUBJECTS}.${elsewhere}`],
      [
        "a watch of another mesh",
        () => kvA.watch({ key: presenceFilter(OTHER_MESH) }),
        /^\$JS\.API\.CONSUMER\.CREATE\.KV_claudemesh_presence\.[^.]+\.\$KV\.claudemesh_presence\.m2\.>$/,
      ],
      [
        "a watch of every mesh",
        () => kvA.watch(),
        /^\$JS\.API\.CONSUMER\.CREATE\.KV_claudemesh_presence\.[^.]+\.\$KV\.claudemesh_presence\.>$/,
      ],
      [
        "a get in another mesh",
        () => kvA.get(elsewhere),
        `$JS.API.DIRECT.GET.${KV_STREAM}.${KV_SUBJECTS}.${elsewhere}`,
      ],
      [
        "its own consumer on another daemon's subjects",
        () => a.jsm.consumers.add(MESSAGE_STREAM, { durable_name: mine, filter_subject: inboundFilter(MESH, b.id) }),
        `$JS.API.CONSUMER.CREATE.${MESSAGE_STREAM}.${mine}.${inboundFilter(MESH, b.id)}`,
      ],
      [
        "another daemon's consumer",
        () => a.jsm.consumers.add(MESSAGE_STREAM, { durable_name: theirs, filter_subject: inboundFilter(MESH, b.id) }),
        `$JS.API.CONSUMER.CREATE.${MESSAGE_STREAM}.${theirs}.${inboundFilter(MESH, b.id)}`,
      ],
      [
        "an unnamed consumer",
        () => a.jsm.consumers.add(MESSAGE_STREAM, { filter_subject: inboundFilter(MESH, b.id) }),
        `$JS.API.CONSUMER.CREATE.${MESSAGE_STREAM}`,
      ],
      [
        "the durable create that has no filter in its subject",
        () => a.nc.request(`$JS.API.CONSUMER.DURABLE.CREATE.${MESSAGE_STREAM}.${mine}`, durableBody),
        `$JS.API.CONSUMER.DURABLE.CREATE.${MESSAGE_STREAM}.${mine}`,
      ],
      [
        "another daemon's consumer info, the first step of reading it",
        () => a.js.consumers.get(MESSAGE_STREAM, theirs),
        `$JS.API.CONSUMER.INFO.${MESSAGE_STREAM}.${theirs}`,
      ],
      [
        "a pull from another daemon's consumer",
        () => a.nc.request(`$JS.API.CONSUMER.MSG.NEXT.${MESSAGE_STREAM}.${theirs}`, JSON.stringify({ batch: 1 })),
        `$JS.API.CONSUMER.MSG.NEXT.${MESSAGE_STREAM}.${theirs}`,
      ],
      [
        "a message into another mesh",
        () => a.js.publish(messageSubject(OTHER_MESH, b.id, "web"), "x"),
        messageSubject(OTHER_MESH, b.id, "web"),
      ],
      ["a stream delete", () => a.jsm.streams.delete(MESSAGE_STREAM), `$JS.API.STREAM.DELETE.${MESSAGE_STREAM}`],
      ["a stream purge", () => a.jsm.streams.purge(MESSAGE_STREAM), `$JS.API.STREAM.PURGE.${MESSAGE_STREAM}`],
      [
        "a stream update",
        () => a.jsm.streams.update(MESSAGE_STREAM, { max_age: nanos(1_000) }),
        `$JS.API.STREAM.UPDATE.${MESSAGE_STREAM}`,
      ],
      [
        "a message read by sequence",
        () => a.jsm.streams.getMessage(MESSAGE_STREAM, { seq: 1 }),
        `$JS.API.STREAM.MSG.GET.${MESSAGE_STREAM}`,
      ],
      [
        "a consumer delete",
        () => a.jsm.consumers.delete(MESSAGE_STREAM, theirs),
        `$JS.API.CONSUMER.DELETE.${MESSAGE_STREAM}.${theirs}`,
      ],
    ];
    for (const [what, call, subject] of cases) {
      await within(expectRefused(call, subject), 5_000, what);
    }
    // Still connected, and still allowed what is its own.
    expect(a.nc.isClosed()).toBe(false);
    expect(await kvA.put(presenceKey(MESH, a.id, "api"), "{}")).toBeGreaterThan(0);
  });

  it("has the server refuse a consumer whose subject names its own filter and whose body asks for another's", async () => {
    const mine = consumerName(MESH, a.id);
    const reply = await a.nc.request(
      `$JS.API.CONSUMER.CREATE.${MESSAGE_STREAM}.${mine}.${inboundFilter(MESH, a.id)}`,
      JSON.stringify({
        stream_name: MESSAGE_STREAM,
        config: { name: mine, durable_name: mine, filter_subject: inboundFilter(MESH, b.id), ack_policy: "explicit" },
      }),
      { timeout: 5_000 },
    );
    expect(reply.json()).toMatchObject({ error: { err_code: 10131 } });
  });

  it("closes a subscription outside the list with a violation, and the connection stays up", async () => {
    const refused = [
      pingSubject(MESH, b.id),
      "cm.>",
      inboundFilter(MESH, a.id),
      `${KV_SUBJECTS}.>`,
      // Replies are per daemon: not every connection's, not another daemon's (pulled messages,
      // publish acks and API answers go there).
      "_INBOX.>",
      `${inboxPrefix(b.id)}.>`,
    ];
    for (const subject of refused) {
      const why = await within(a.nc.subscribe(subject).closed, 5_000, `the subscription to ${subject} to close`);
      expect(why).toBeInstanceOf(PermissionViolationError);
      expect(why).toMatchObject({ operation: "subscription", subject });
    }
    // A publish that is no reply to anything it received: refused too, reported on the connection.
    a.nc.publish("_INBOX.forged.reply", "x");
    await waitFor(
      () => a.violations.some((v) => v.operation === "publish" && v.subject === "_INBOX.forged.reply"),
      "the forged reply to be refused",
      5_000,
    );
    expect(a.nc.isClosed()).toBe(false);
    await a.nc.flush();
  });

  it("does not stop what docs/teams.md says it does not stop", async () => {
    const subject = messageSubject(MESH, b.id, "leak");
    await a.js.publish(subject, "ciphertext", { msgID: `leak-${b.id}` });

    // 1. Stream info lists the subjects that hold messages, and the bucket's keys, of everyone.
    const kvB = await openBucket(b);
    const theirKey = presenceKey(MESH, b.id, "web");
    await kvB.put(theirKey, "{}");
    const streamed = await a.jsm.streams.info(MESSAGE_STREAM, { subjects_filter: ">" });
    expect(Object.keys(streamed.state.subjects ?? {})).toContain(subject);
    const keyed = await a.jsm.streams.info(KV_STREAM, { subjects_filter: ">" });
    expect(Object.keys(keyed.state.subjects ?? {})).toContain(`${KV_SUBJECTS}.${theirKey}`);

    // 2. A watch consumer delivers where its creator says: B's ping subject, though not the bucket.
    const atPing: string[] = [];
    const ping = b.nc.subscribe(pingSubject(MESH, b.id), {
      callback: (error, msg) => {
        if (error === null) atPing.push(msg.subject);
      },
    });
    await b.nc.flush();
    const pushTo = async (name: string, deliverSubject: string) => {
      const reply = await a.nc.request(
        `$JS.API.CONSUMER.CREATE.${KV_STREAM}.${name}.${KV_SUBJECTS}.${presenceFilter(MESH)}`,
        JSON.stringify({
          stream_name: KV_STREAM,
          config: {
            name,
            deliver_subject: deliverSubject,
            filter_subject: `${KV_SUBJECTS}.${presenceFilter(MESH)}`,
            ack_policy: "none",
            deliver_policy: "last_per_subject",
            inactive_threshold: nanos(5_000),
          },
        }),
        { timeout: 5_000 },
      );
      return reply.json<{ error?: { err_code: number } }>();
    };
    expect((await pushTo("pushed_at_ping", pingSubject(MESH, b.id))).error).toBeUndefined();
    await waitFor(() => atPing.includes(`${KV_SUBJECTS}.${theirKey}`), "the bucket's entries on B's ping subject");
    expect(await pushTo("pushed_at_bucket", `${KV_SUBJECTS}.${presenceKey(MESH, b.id, "forged")}`)).toMatchObject({
      error: { err_code: 10081 },
    });
    ping.unsubscribe();
  });
});

describe("the allowlist without the create lines, the stream and the bucket made by an admin", () => {
  let a: Daemon;
  let b: Daemon;

  beforeAll(async () => {
    await precreate(team, closed.admin);
    a = await connectAs(team, closed.a);
    b = await connectAs(team, closed.b);
  });

  it("is enough for all a daemon does, and the create lines are what it lacks", async () => {
    await exercise(a, b);
    expect(a.violations).toEqual([]);
    expect(b.violations).toEqual([]);
    await expectRefused(
      () => a.jsm.streams.add({ name: MESSAGE_STREAM, subjects: [MESSAGE_STREAM_SUBJECTS] }),
      `$JS.API.STREAM.CREATE.${MESSAGE_STREAM}`,
    );
    await expectRefused(
      () => a.jsm.streams.add({ name: KV_STREAM, subjects: [`${KV_SUBJECTS}.>`] }),
      `$JS.API.STREAM.CREATE.${KV_STREAM}`,
    );
  });

  it("answers the flow control of a watch with megabytes to deliver (allow_responses)", async () => {
    // 400 entries of 16 KiB: the server asks the watcher for flow control several times over
    // (without allow_responses the replies are refused and this watch stalls part way).
    const kvA = await openBucket(a);
    const value = "p".repeat(16 * 1024);
    const keys = Array.from({ length: 400 }, (_, i) => presenceKey(MESH, a.id, `big-${i}`));
    await Promise.all(keys.map((key) => kvA.put(key, value)));
    // B, under its own reply prefix, sees the server ask its watch for flow control.
    let asked = 0;
    const sniffer = b.nc.subscribe(`${inboxPrefix(b.id)}.>`, {
      callback: (error, msg) => {
        if (error === null && msg.reply?.startsWith(`$JS.FC.${KV_STREAM}.`)) asked += 1;
      },
    });
    await a.nc.flush();
    const watch = await watchOf(await openBucket(b), presenceFilter(MESH));
    await waitFor(() => keys.every((key) => watch.seen.includes(`PUT ${key}`)), "B's watch to get every entry", 20_000);
    watch.stop();
    sniffer.unsubscribe();
    expect(asked).toBeGreaterThan(0);
    expect(b.violations).toEqual([]);
  });
});

describe("two real daemons under the allowlist, the stream and the bucket made by an admin", () => {
  const sleeper = spawnSleeper();
  const pid = sleeper.pid as number;

  /** A daemon whose member key is `member`'s, with the mesh bound by its nkey seed file. */
  async function daemonOf(member: Member) {
    const dir = boundDir([{ name: MESH, servers: [team.url], nkeySeedFile: member.seedFile }]);
    writeFileSync(daemonPaths(dir).memberKey, encodeMemberKey(memberKeyOf(member.key, Date.now())), { mode: 0o600 });
    const logger = new RecordingLogger();
    const daemon = await startDaemon({ dir, logger, reaperIntervalMs: 100 });
    return { daemon, logger, socket: daemon.socketPath };
  }

  it("see each other's sessions and carry a message to acked, with nothing refused", async () => {
    await precreate(team, e2e.admin);
    const a = await daemonOf(e2e.a);
    const b = await daemonOf(e2e.b);
    try {
      const api = await joinAs(a.socket, 1, MESH, pid, { display_name: "api" });
      const web = await joinAs(b.socket, 2, MESH, pid, { display_name: "web" });
      await waitFor(
        async () => (await peersOf(b.socket, web)).some((p) => p.session_id === "s1" && p.origin === "remote"),
        "B to see A's session",
      );
      await waitFor(
        async () => (await peersOf(a.socket, api)).some((p) => p.session_id === "s2" && p.origin === "remote"),
        "A to see B's session",
      );
      const sent = await sendAs(b.socket, web, { to: "api", text: "through the allowlist" });
      await waitFor(async () => (await inboxOf(a.socket, api)).some((m) => m.id === sent.id), "the message on A");
      await waitFor(async () => (await statesOf(b.socket, web, sent.id)).s1 === "delivered", "B to see delivered");
      await markAs(a.socket, api, [sent.id], "acked");
      await waitFor(async () => (await statesOf(b.socket, web, sent.id)).s1 === "acked", "B to see acked");
      for (const { logger } of [a, b]) {
        expect(JSON.stringify(logger.records)).not.toMatch(/permissions violation/i);
      }
    } finally {
      await Promise.all([a.daemon.shutdown("test over"), b.daemon.shutdown("test over")]);
    }
  });
});
