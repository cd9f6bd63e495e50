// Sessions as peers against a real daemon on a real socket: presence, peers, PATCH, messages and
// their states, inboxes, scoped events, limits and refusals.
import { request } from "node:http";
import { join } from "node:path";
import { SseParser } from "@claudemesh/client";
import { attest, generateSigningKey, messageSigningText, seedOf, signText } from "@claudemesh/mesh";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RunningDaemon, startDaemon } from "../../src/daemon.js";
import { createLogger } from "../../src/logger.js";
import { authorized, cleanup, http, killAndWait, register, spawnSleeper, tempDir, token, waitFor } from "../harness.js";

const sleeper = spawnSleeper();
const pid = sleeper.pid as number;
let daemon: RunningDaemon;
let socket: string;
let dir: string;

beforeEach(async () => {
  dir = tempDir();
  daemon = await startDaemon({ dir, logger: createLogger({ file: join(dir, "daemon.log") }), reaperIntervalMs: 100 });
  socket = daemon.socketPath;
});
afterEach(async () => {
  await daemon.shutdown("test over");
});
afterAll(cleanup);

type Json = Record<string, unknown>;
const json = { "content-type": "application/json" };

async function join2(n: number, body: Json = {}): Promise<string> {
  const tok = token(n);
  const res = await register(socket, { token: tok, pid, session_id: `s${n}`, display_name: `n${n}`, ...body });
  expect(res.status, res.text).toBe(200);
  return tok;
}

function send(tok: string | undefined, body: Json) {
  return http(socket, "POST", "/v1/messages", {
    headers: { ...json, ...(tok && authorized(tok)) },
    body: JSON.stringify(body),
  });
}

async function sent(tok: string | undefined, body: Json) {
  const res = await send(tok, body);
  expect(res.status, res.text).toBe(202);
  return (res.json() as { message: { id: string; recipients: Json[] } }).message;
}

async function inbox(tok: string, query = "") {
  const res = await http(socket, "GET", `/v1/inbox${query}`, { headers: authorized(tok) });
  expect(res.status, res.text).toBe(200);
  return (res.json() as { messages: Json[] }).messages;
}

async function mark(tok: string, ids: string[], state: string) {
  const res = await http(socket, "POST", "/v1/inbox/mark", {
    headers: { ...json, ...authorized(tok) },
    body: JSON.stringify({ ids, state }),
  });
  return { status: res.status, body: res.json() as Json };
}

async function status(tok: string | undefined, id: string) {
  return http(socket, "GET", `/v1/messages/${id}`, { headers: tok ? authorized(tok) : {} });
}

const errorOf = (res: { json: () => unknown }) => (res.json() as { error: Json }).error;

/** An open /v1/events stream and every frame it got. */
function events(tok?: string) {
  const got: { event: string; data: Json }[] = [];
  const parser = new SseParser();
  const req = request({
    socketPath: socket,
    path: "/v1/events",
    headers: tok ? authorized(tok) : {},
    agent: false,
  });
  req.on("response", (res) => {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      for (const m of parser.feed(chunk)) got.push({ event: m.event, data: JSON.parse(m.data) as Json });
    });
  });
  req.on("error", () => {});
  req.end();
  return { got, close: () => req.destroy(), of: (type: string) => got.filter((e) => e.event === type) };
}

describe("presence and peers", () => {
  it("mints a presence whose public part is on the wire, and hands the secret key only to registry listeners", async () => {
    const seen: unknown[] = [];
    daemon.registry.subscribe((e) => seen.push(e.session.presence));
    const tok = await join2(1);
    const me = (await http(socket, "GET", "/v1/sessions/me", { headers: authorized(tok) })).json() as { session: Json };
    expect(me.session).toMatchObject({
      session_pubkey: expect.stringMatching(/^[0-9a-f]{64}$/),
      member_fingerprint: expect.stringMatching(/^SHA256:/),
      attestation_expires_at: expect.any(Number),
      origin: "local",
    });
    const health = (await http(socket, "GET", "/v1/health")).json() as Json;
    expect(me.session.member_fingerprint).toBe(health.member_fingerprint);
    expect(daemon.registry.resolve(tok)?.presence?.session_secret_key.reveal()).toMatch(/^[0-9a-f]{64}$/);
    await http(socket, "DELETE", "/v1/sessions/me", { headers: authorized(tok) });
    expect(seen).toHaveLength(2);
    expect(seen.every((p) => p !== undefined)).toBe(true);
  });

  it("accepts a presence the registration brings, and refuses a bad one naming the field", async () => {
    const memberFile = JSON.parse((await import("node:fs")).readFileSync(join(dir, "member.key"), "utf8")) as {
      secret_key: string;
    };
    const { signingKeyFromSeed } = await import("@claudemesh/mesh");
    const member = signingKeyFromSeed(memberFile.secret_key);
    const session = generateSigningKey();
    const presence = {
      session_pubkey: session.publicKey,
      session_secret_key: seedOf(session) + session.publicKey,
      parent_attestation: attest(
        member,
        { mesh: "default", sessionId: "own" },
        session.publicKey,
        Date.now() + 3_600_000,
      ),
    };
    const ok = await register(socket, { token: token(5), pid, session_id: "own", presence });
    expect(ok.status, ok.text).toBe(200);
    const me = (await http(socket, "GET", "/v1/sessions/me", { headers: authorized(token(5)) })).json() as {
      session: Json;
    };
    expect(me.session.session_pubkey).toBe(session.publicKey);

    const foreign = generateSigningKey();
    const cases: [Json, string][] = [
      [{ ...presence, session_secret_key: seedOf(foreign) }, "presence.session_secret_key"],
      [
        {
          ...presence,
          parent_attestation: attest(
            foreign,
            { mesh: "default", sessionId: "own2" },
            session.publicKey,
            Date.now() + 60_000,
          ),
        },
        "presence.parent_attestation.parent_member_pubkey",
      ],
      [
        {
          ...presence,
          parent_attestation: attest(member, { mesh: "default", sessionId: "own2" }, session.publicKey, Date.now() - 1),
        },
        "presence.parent_attestation.expires_at",
      ],
      [
        {
          ...presence,
          parent_attestation: attest(
            member,
            { mesh: "default", sessionId: "own2" },
            session.publicKey,
            Date.now() + 25 * 3_600_000,
          ),
        },
        "presence.parent_attestation.expires_at",
      ],
      // An attestation made for another session id: replayed, refused.
      [presence, "presence.parent_attestation.signature"],
    ];
    for (const [bad, field] of cases) {
      const res = await register(socket, { token: token(6), pid, session_id: "own2", presence: bad });
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({
        code: "invalid_field",
        message: expect.stringMatching(new RegExp(`^${field.replaceAll(".", "\\.")}: `)),
      });
    }
    expect((await http(socket, "GET", "/v1/sessions/me", { headers: authorized(token(6)) })).status).toBe(401);
  });

  it("peers: with a token, the others of its mesh; without, all or one mesh", async () => {
    const a = await join2(1);
    await join2(2);
    await join2(3, { mesh: "other" });
    const ids = (res: { json: () => unknown }) => (res.json() as { peers: Json[] }).peers.map((p) => p.session_id);
    expect(ids(await http(socket, "GET", "/v1/peers", { headers: authorized(a) }))).toEqual(["s2"]);
    expect(ids(await http(socket, "GET", "/v1/peers"))).toEqual(["s1", "s2", "s3"]);
    expect(ids(await http(socket, "GET", "/v1/peers?mesh=other"))).toEqual(["s3"]);
    expect((await http(socket, "GET", "/v1/peers?mesh=other", { headers: authorized(a) })).status).toBe(400);
    expect((await http(socket, "GET", "/v1/peers", { headers: authorized(token(99)) })).status).toBe(401);
  });

  it("PATCH /v1/sessions/me sets summary, status and inbound, with a session_updated event for all", async () => {
    const a = await join2(1);
    const stream = events();
    await waitFor(() => daemon.registry.size === 1, "ready");
    const res = await http(socket, "PATCH", "/v1/sessions/me", {
      headers: { ...json, ...authorized(a) },
      body: JSON.stringify({ summary: "refactoring the parser", status: "working", inbound: "hold" }),
    });
    expect(res.status, res.text).toBe(200);
    expect((res.json() as { session: Json }).session).toMatchObject({
      summary: "refactoring the parser",
      status: "working",
      inbound: "hold",
    });
    await waitFor(() => stream.of("session_updated").length === 1, "session_updated");
    expect(stream.of("session_updated")[0]?.data).toMatchObject({ reason: "updated", session: { status: "working" } });
    stream.close();
    for (const [body, message] of [
      [{ status: "busy" }, "status: must be one of working, idle, waiting"],
      [{}, "body: must set at least one of summary, status, inbound"],
      [{ summary: "x".repeat(281) }, "summary: must be at most 280 characters"],
    ] as const) {
      const bad = await http(socket, "PATCH", "/v1/sessions/me", {
        headers: { ...json, ...authorized(a) },
        body: JSON.stringify(body),
      });
      expect([bad.status, errorOf(bad).message]).toEqual([400, message]);
    }
    expect((await http(socket, "PATCH", "/v1/sessions/me", { headers: json, body: "{}" })).status).toBe(401);
  });
});

describe("messages", () => {
  it("delivers by name; the sender sees delivered → surfaced → acked, each as a message_status event", async () => {
    const a = await join2(1);
    const b = await join2(2);
    const senderStream = events(a);
    const recipientStream = events(b);
    const bystander = events();
    await new Promise((r) => setTimeout(r, 50));
    const m = await sent(a, { to: "n2", text: "the API schema changed", priority: "now" });
    expect(m.recipients).toEqual([
      { session_id: "s2", display_name: "n2", state: "delivered", updated_at: expect.any(Number) },
    ]);
    await waitFor(() => recipientStream.of("message").length === 1, "the message event");
    expect(recipientStream.of("message")[0]?.data.message).toMatchObject({
      id: m.id,
      from: { session_id: "s1", display_name: "n1", member_fingerprint: expect.stringMatching(/^SHA256:/) },
      recipient: { session_id: "s2", display_name: "n2" },
      text: "the API schema changed",
      priority: "now",
      state: "delivered",
    });
    const [item] = await inbox(b);
    expect(item?.id).toBe(m.id);
    expect((await mark(b, [m.id], "surfaced")).body).toEqual({ updated: 1 });
    expect((await mark(b, [m.id], "acked")).body).toEqual({ updated: 1 });
    const states = (await status(a, m.id)).json() as { message: { recipients: Json[] } };
    expect(states.message.recipients[0]?.state).toBe("acked");
    await waitFor(() => senderStream.of("message_status").length === 3, "three state events");
    expect(senderStream.of("message_status").map((e) => (e.data.recipient as Json).state)).toEqual([
      "delivered",
      "surfaced",
      "acked",
    ]);
    // Nobody else saw the text or the states.
    expect(senderStream.of("message")).toEqual([]);
    expect(recipientStream.of("message_status")).toEqual([]);
    expect(bystander.of("message").concat(bystander.of("message_status"))).toEqual([]);
    for (const s of [senderStream, recipientStream, bystander]) s.close();
  });

  it("a busy name is 409 with its candidates; unknown is 404; anycast reaches exactly one; * skips the sender", async () => {
    const a = await join2(1);
    await join2(2, { display_name: "api", role: "reviewer" });
    await join2(3, { display_name: "api", role: "reviewer" });
    const busy = await send(a, { to: "api", text: "x" });
    expect(busy.status).toBe(409);
    expect(errorOf(busy)).toMatchObject({
      code: "ambiguous_recipient",
      candidates: [
        { session_id: "s2", display_name: "api" },
        { session_id: "s3", display_name: "api" },
      ],
    });
    const unknown = await send(a, { to: "nobody", text: "x" });
    expect([unknown.status, errorOf(unknown).code]).toEqual([404, "unknown_recipient"]);
    const any = await sent(a, { to: "role:reviewer", text: "review?" });
    expect(any.recipients).toHaveLength(1);
    const next = await sent(a, { to: "role:reviewer", text: "and this?" });
    expect(next.recipients.map((r) => r.session_id)).not.toEqual(any.recipients.map((r) => r.session_id));
    const all = await sent(a, { to: "*", text: "main is broken" });
    expect(all.recipients.map((r) => r.session_id)).toEqual(["s2", "s3"]);
    const group = await send(a, { to: "@nobody", text: "x" });
    expect(group.status).toBe(404);
  });

  it("queues a message for a known session id that is not live; it is delivered when the id registers again", async () => {
    const a = await join2(1);
    const b = await join2(2);
    await http(socket, "DELETE", "/v1/sessions/me", { headers: authorized(b) });
    const m = await sent(a, { to: "s2", text: "for when you are back" });
    expect(m.recipients[0]?.state).toBe("accepted");
    // Back under the same session id (launch --session-id, claude --resume), with a new token.
    const back = await join2(7, { session_id: "s2", display_name: "n2" });
    const [item] = await inbox(back);
    expect(item).toMatchObject({ id: m.id, text: "for when you are back", state: "delivered" });
    expect(((await status(a, m.id)).json() as { message: { recipients: Json[] } }).message.recipients[0]?.state).toBe(
      "delivered",
    );
  });

  it("a session that ended while the daemon was down is a known id: messages to it wait", async () => {
    await join2(1);
    const doomed = spawnSleeper();
    const res = await register(socket, { token: token(2), pid: doomed.pid, session_id: "s2", display_name: "n2" });
    expect(res.status).toBe(200);
    await daemon.shutdown("restart");
    await killAndWait(doomed);
    daemon = await startDaemon({ dir, logger: createLogger({ file: join(dir, "daemon.log") }), reaperIntervalMs: 100 });
    socket = daemon.socketPath;
    expect(daemon.registry.get("s2")).toBeUndefined(); // dropped at restore
    const m = await sent(token(1), { to: "s2", text: "when you are back" });
    expect(m.recipients[0]?.state).toBe("accepted");
  });

  it("the member sends from a plain shell; only the member reads its states", async () => {
    const a = await join2(1);
    const memberStream = events();
    await new Promise((r) => setTimeout(r, 50));
    const m = await sent(undefined, { to: "s1", text: "from the shell" });
    const [item] = await inbox(a);
    expect(item?.from).toMatchObject({ session_id: null, member_fingerprint: expect.stringMatching(/^SHA256:/) });
    expect((await status(undefined, m.id)).status).toBe(200);
    expect((await status(a, m.id)).status).toBe(404);
    await mark(a, [m.id], "surfaced");
    await waitFor(() => memberStream.of("message_status").length === 2, "the member's state events");
    memberStream.close();
  });

  it("another session's token cannot read or mark an inbox, and no GET changes any state", async () => {
    const a = await join2(1);
    const b = await join2(2);
    const c = await join2(3);
    const m = await sent(a, { to: "s2", text: "only for b" });
    expect(await inbox(c)).toEqual([]);
    expect(await inbox(c, "?state=all")).toEqual([]);
    expect((await mark(c, [m.id], "acked")).body).toEqual({ updated: 0 });
    expect((await mark(a, [m.id], "acked")).body).toEqual({ updated: 0 }); // not even the sender
    expect((await status(c, m.id)).status).toBe(404);
    for (let i = 0; i < 3; i++) {
      expect((await inbox(b)).map((x) => x.state)).toEqual(["delivered"]);
      await status(a, m.id);
      await http(socket, "GET", "/v1/peers", { headers: authorized(b) });
    }
    expect(((await status(a, m.id)).json() as { message: { recipients: Json[] } }).message.recipients[0]?.state).toBe(
      "delivered",
    );
    expect((await http(socket, "GET", "/v1/inbox")).status).toBe(401);
  });

  it("a session's stream ends with it: a later session under its id does not find it listening", async () => {
    await join2(1);
    const old = await join2(2);
    const stream = events(old);
    await waitFor(() => stream.got.length >= 0 && daemon.registry.size === 2, "ready");
    await new Promise((r) => setTimeout(r, 50));
    // Another token takes the session id over (a re-launch): the old token's stream is closed.
    const replacement = await join2(3, { session_id: "s2", display_name: "n2" });
    const replacementStream = events(replacement);
    await new Promise((r) => setTimeout(r, 50));
    await sent(token(1), { to: "s2", text: "for the new holder only" });
    await waitFor(() => replacementStream.of("message").length === 1, "the new holder's message event");
    expect(stream.of("message")).toEqual([]);
    stream.close();
    replacementStream.close();
  });

  it("states only move forward", async () => {
    const a = await join2(1);
    const b = await join2(2);
    const m = await sent(a, { to: "s2", text: "x" });
    expect((await mark(b, [m.id], "acked")).body).toEqual({ updated: 1 });
    expect((await mark(b, [m.id], "surfaced")).body).toEqual({ updated: 0 });
    expect((await mark(b, [m.id], "acked")).body).toEqual({ updated: 0 });
    expect((await inbox(b, "?state=all")).map((x) => x.state)).toEqual(["acked"]);
    expect(await inbox(b)).toEqual([]);
  });

  it("long-polls the inbox until a message arrives, and refuses bad parameters", async () => {
    const a = await join2(1);
    const b = await join2(2);
    const started = Date.now();
    const waiting = http(socket, "GET", "/v1/inbox?wait_ms=20000", { headers: authorized(b) });
    await new Promise((r) => setTimeout(r, 100));
    await sent(a, { to: "s2", text: "wake up" });
    const res = await waiting;
    expect((res.json() as { messages: Json[] }).messages.map((x) => x.text)).toEqual(["wake up"]);
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const q of ["?wait_ms=30001", "?wait_ms=-1", "?state=read"]) {
      const bad = await http(socket, "GET", `/v1/inbox${q}`, { headers: authorized(b) });
      expect(bad.status, q).toBe(400);
    }
  });

  it("answers an idempotency key with the same message, and limits a sender's rate with Retry-After", async () => {
    const a = await join2(1);
    await join2(2);
    const first = await sent(a, { to: "s2", text: "once", idempotency_key: "k-1" });
    const again = await sent(a, { to: "s2", text: "once", idempotency_key: "k-1" });
    expect(again.id).toBe(first.id);
    let limited: Awaited<ReturnType<typeof send>> | undefined;
    for (let i = 0; i < 150 && limited === undefined; i++) {
      const res = await send(a, { to: "s2", text: `m${i}` });
      if (res.status === 429) limited = res;
    }
    expect(limited).toBeDefined();
    expect(errorOf(limited as never).code).toBe("rate_limited");
    expect(Number(limited?.headers["retry-after"])).toBeGreaterThanOrEqual(1);
  });

  it("refuses a recipient whose inbox holds 1,000 unsurfaced messages, telling the sender", async () => {
    await join2(1);
    const senders = await Promise.all(Array.from({ length: 11 }, (_, i) => join2(10 + i)));
    const states: string[] = [];
    for (const [i, tok] of senders.entries()) {
      for (let j = 0; j < 95; j++) {
        const m = await sent(tok, { to: "s1", text: `${i}/${j}` });
        states.push(m.recipients[0]?.state as string);
      }
    }
    expect(states.filter((s) => s === "delivered")).toHaveLength(1_000);
    expect(states.slice(1_000).every((s) => s === "refused")).toBe(true);
    const last = senders.at(-1) as string;
    const refused = await sent(last, { to: "s1", text: "one more" });
    expect(refused.recipients[0]).toMatchObject({ state: "refused", reason: "inbox_full" });
  });

  it("refuses a forged or tampered client-signed message, stores nothing and counts it", async () => {
    const member = JSON.parse((await import("node:fs")).readFileSync(join(dir, "member.key"), "utf8")) as {
      secret_key: string;
    };
    const { signingKeyFromSeed } = await import("@claudemesh/mesh");
    const session = generateSigningKey();
    const presence = {
      session_pubkey: session.publicKey,
      session_secret_key: seedOf(session),
      parent_attestation: attest(
        signingKeyFromSeed(member.secret_key),
        { mesh: "default", sessionId: "s1" },
        session.publicKey,
        Date.now() + 3_600_000,
      ),
    };
    await join2(1, { presence });
    const b = await join2(2);
    const body = (key: typeof session, text: string) => {
      const id = "0190d3a2-7b1c-7000-8000-0000000000aa";
      const sentAt = Date.now();
      const signature = signText(
        key,
        messageSigningText({
          id,
          mesh: "default",
          from: { session_id: "s1", display_name: "", member_fingerprint: "", host: "", signing_key: key.publicKey },
          to: "s2",
          text,
          priority: "next",
          reply_to: null,
          sent_at: sentAt,
        }),
      );
      return { to: "s2", text, id, sent_at: sentAt, signature };
    };
    const forged = await send(token(1), body(generateSigningKey(), "forged"));
    const tampered = await send(token(1), { ...body(session, "signed"), text: "tampered" });
    for (const res of [forged, tampered]) {
      expect(res.status).toBe(400);
      expect(errorOf(res).message).toMatch(/^signature: does not verify/);
    }
    expect(await inbox(b)).toEqual([]);
    const metrics = (await http(socket, "GET", "/v1/metrics")).text;
    expect(metrics).toMatch(/claudemesh_messages_rejected_total\{reason="bad_signature"\} 2/);
    const good = await send(token(1), body(session, "signed"));
    expect(good.status, good.text).toBe(202);
    expect((await inbox(b)).map((x) => x.text)).toEqual(["signed"]);
  });

  it("refuses bad message input with the contract's errors", async () => {
    const a = await join2(1);
    await join2(2);
    const cases: [string, number, string][] = [
      ["{", 400, "invalid_json"],
      [JSON.stringify({ to: "s2" }), 400, "invalid_field"],
      [JSON.stringify({ to: "s2", text: "" }), 400, "invalid_field"],
      [JSON.stringify({ to: "s2", text: "x".repeat(16_385) }), 400, "invalid_field"],
      [JSON.stringify({ to: "s2", text: "bell\u0007" }), 400, "invalid_field"],
      [JSON.stringify({ to: "s2", text: "x", priority: "asap" }), 400, "invalid_field"],
      [JSON.stringify({ to: "s2", text: "x", mesh: "other" }), 400, "invalid_field"],
      [JSON.stringify({ to: "", text: "x" }), 400, "invalid_field"],
    ];
    for (const [body, code, errorCode] of cases) {
      const res = await http(socket, "POST", "/v1/messages", { headers: { ...json, ...authorized(a) }, body });
      expect([res.status, errorOf(res).code], body.slice(0, 40)).toEqual([code, errorCode]);
    }
    expect((await send(token(42), { to: "s2", text: "x" })).status).toBe(401);
    expect((await status(a, "not-a-uuid")).status).toBe(404);
    expect((await mark(a, ["nope"], "acked")).status).toBe(400);
    expect((await mark(a, [], "acked")).status).toBe(400);
  });

  it("keeps messages and their states across a daemon restart", async () => {
    const a = await join2(1);
    const b = await join2(2);
    const m1 = await sent(a, { to: "s2", text: "first" });
    const m2 = await sent(a, { to: "s2", text: "second" });
    await mark(b, [m1.id], "acked");
    await daemon.shutdown("restart");
    daemon = await startDaemon({ dir, logger: createLogger({ file: join(dir, "daemon.log") }), reaperIntervalMs: 100 });
    socket = daemon.socketPath;
    expect((await inbox(b, "?state=all")).map((x) => [x.text, x.state])).toEqual([
      ["first", "acked"],
      ["second", "delivered"],
    ]);
    expect(((await status(a, m2.id)).json() as { message: { recipients: Json[] } }).message.recipients[0]?.state).toBe(
      "delivered",
    );
  });
});
