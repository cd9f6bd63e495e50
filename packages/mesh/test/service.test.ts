import type { KeyObject } from "node:crypto";
import type { SessionRecord } from "@claudemesh/registry";
import { describe, expect, it } from "vitest";
import { messageSigningText, signEnvelope } from "../src/envelope.js";
import { generateSigningKey, signerOf, signText } from "../src/keys.js";
import { MeshError, type Sender } from "../src/service.js";
import { uuidV7Generator } from "../src/uuid.js";
import { T0, world } from "./fixtures.js";

const as = (session: SessionRecord): Sender => ({ kind: "session", session });
const member: Sender = { kind: "member", mesh: "default" };

function refusal(fn: () => unknown): MeshError {
  try {
    fn();
  } catch (error) {
    if (error instanceof MeshError) return error;
    throw error;
  }
  throw new Error("expected a MeshError");
}

describe("MessageService.send", () => {
  it("delivers to a live session by id or name, with delivered states the sender can read", () => {
    const w = world();
    const api = w.one({ id: "s-api", name: "api" });
    const web = w.one({ id: "s-web", name: "web" });
    const sent = w.service.send(as(api), { to: "web", text: "schema changed" });
    expect(sent.replayed).toBe(false);
    expect(sent.message.recipients).toEqual([
      { session_id: "s-web", display_name: "web", state: "delivered", updated_at: w.clock.t },
    ]);
    const inbox = w.store.inbox("s-web");
    expect(inbox.map((i) => [i.envelope.text, i.envelope.from.session_id, i.envelope.from.host])).toEqual([
      ["schema changed", "s-api", "testhost"],
    ]);
    expect(w.service.status("s-api", sent.message.id).recipients[0]?.state).toBe("delivered");
    expect(w.service.send(as(web), { to: "s-api", text: "ok" }).message.recipients[0]?.session_id).toBe("s-api");
  });

  it("a busy name is ambiguous, listing every candidate; nothing is stored", () => {
    const w = world();
    const sender = w.one({ id: "x" });
    w.one({ id: "a1", name: "api" });
    w.one({ id: "a2", name: "api" });
    const error = refusal(() => w.service.send(as(sender), { to: "api", text: "hi" }));
    expect(error.code).toBe("ambiguous_recipient");
    expect(error.detail.candidates).toEqual([
      { session_id: "a1", display_name: "api" },
      { session_id: "a2", display_name: "api" },
    ]);
    expect(w.store.size).toBe(0);
  });

  it("role anycast reaches exactly one; broadcast reaches everyone but the sender", () => {
    const w = world();
    const r1 = w.one({ id: "r1", role: "reviewer", registeredAt: 1 });
    const r2 = w.one({ id: "r2", role: "reviewer", registeredAt: 2 });
    const other = w.one({ id: "o" });
    const first = w.service.send(as(other), { to: "role:reviewer", text: "look?" });
    expect(first.message.recipients.map((r) => r.session_id)).toEqual(["r1"]);
    // r1 now has one unread: the next request goes to r2.
    const second = w.service.send(as(other), { to: "role:reviewer", text: "and this?" });
    expect(second.message.recipients.map((r) => r.session_id)).toEqual(["r2"]);
    const all = w.service.send(as(r1), { to: "*", text: "main is broken" });
    expect(all.message.recipients.map((r) => r.session_id)).toEqual(["r2", "o"]);
    expect(w.store.inbox("r1").map((i) => i.envelope.text)).toEqual(["look?"]);
    expect(r2).toBeDefined();
  });

  it("unknown recipients are refused; a known id that is not live gets the message queued until it returns", () => {
    const w = world();
    const sender = w.one({ id: "me" });
    const back = w.one({ id: "later", name: "later" });
    w.peers.remove("later");
    expect(refusal(() => w.service.send(as(sender), { to: "later", text: "x" })).code).toBe("unknown_recipient");
    w.store.remember({ session_id: "later", mesh: "default", display_name: "later", seen_at: w.clock.t });
    const sent = w.service.send(as(sender), { to: "later", text: "waiting for you" });
    expect(sent.message.recipients[0]?.state).toBe("accepted");
    expect(w.store.inbox("later")).toEqual([]);
    w.peers.add(back);
    expect(w.service.deliverWaiting("later", "default")).toBe(1);
    expect(w.store.inbox("later").map((i) => i.envelope.text)).toEqual(["waiting for you"]);
    expect(w.service.status("me", sent.message.id).recipients[0]?.state).toBe("delivered");
  });

  it("applies the recipient's inbound policy: refuse is refused with reason policy, hold is delivered", () => {
    const w = world();
    const sender = w.one({ id: "me" });
    w.one({ id: "no", inbound: "refuse" });
    w.one({ id: "later", inbound: "hold" });
    const sent = w.service.send(as(sender), { to: "*", text: "hi" });
    expect(sent.message.recipients.map((r) => [r.session_id, r.state, r.reason])).toEqual([
      ["no", "refused", "policy"],
      ["later", "delivered", undefined],
    ]);
  });

  it("a refusing session never has the text: refused messages are not in its inbox, even with all", () => {
    const w = world();
    const sender = w.one({ id: "me" });
    w.one({ id: "no", inbound: "refuse" });
    const sent = w.service.send(as(sender), { to: "no", text: "not for you" });
    expect(sent.message.recipients[0]?.state).toBe("refused");
    expect(w.store.inbox("no", "all")).toEqual([]);
    expect(w.store.mark("no", [sent.message.id], "acked", w.clock.t)).toBe(0);
  });

  it("says so when a name matches only the sender", () => {
    const w = world();
    const web = w.one({ id: "s-web", name: "web" });
    const error = refusal(() => w.service.send(as(web), { to: "web", text: "x" }));
    expect([error.code, error.message]).toEqual([
      "unknown_recipient",
      'the only live session named "web" in mesh default is the sender; address it by its session id to send to itself',
    ]);
  });

  it("the member sends from a plain shell, signed by the member key, and only it reads the states", () => {
    const w = world();
    const api = w.one({ id: "s-api", name: "api" });
    const sent = w.service.send(member, { to: "api", text: "from the shell" });
    const [item] = w.store.inbox("s-api");
    expect(item?.envelope.from).toMatchObject({
      session_id: null,
      display_name: "alice",
      signing_key: w.owner.key.publicKey,
      member_fingerprint: w.owner.fingerprint,
    });
    expect(w.service.status(null, sent.message.id).id).toBe(sent.message.id);
    expect(refusal(() => w.service.status("s-api", sent.message.id)).code).toBe("not_found");
    const mine = w.service.send(as(api), { to: "s-api", text: "note to self" });
    expect(refusal(() => w.service.status(null, mine.message.id)).code).toBe("not_found");
  });

  it("a session sends only in its own mesh; the member in the mesh it names", () => {
    const w = world();
    const a = w.one({ id: "a" });
    w.one({ id: "b", mesh: "team" });
    expect(refusal(() => w.service.send(as(a), { to: "b", text: "x", mesh: "team" })).detail.field).toBe("mesh");
    expect(w.service.send(member, { to: "b", text: "x", mesh: "team" }).message.recipients[0]?.session_id).toBe("b");
    expect(refusal(() => w.service.send(member, { to: "b", text: "x" })).code).toBe("unknown_recipient");
  });

  it("the same idempotency key from the same sender gives the same message, never a second one", () => {
    const w = world();
    const a = w.one({ id: "a" });
    w.one({ id: "b" });
    const first = w.service.send(as(a), { to: "b", text: "once", idempotency_key: "retry-1" });
    const again = w.service.send(as(a), { to: "b", text: "once", idempotency_key: "retry-1" });
    expect(again).toEqual({ message: first.message, replayed: true });
    expect(w.store.inbox("b")).toHaveLength(1);
    w.clock.advance(10 * 60_000 + 1);
    expect(w.service.send(as(a), { to: "b", text: "once", idempotency_key: "retry-1" }).replayed).toBe(false);
  });

  it("limits a sender to bursts of 100 then 20 a second, saying when to retry", () => {
    const w = world();
    const a = w.one({ id: "a" });
    const b = w.one({ id: "b" });
    for (let i = 0; i < 100; i++) w.service.send(as(a), { to: "b", text: `m${i}` });
    const limited = refusal(() => w.service.send(as(a), { to: "b", text: "one too many" }));
    expect(limited.code).toBe("rate_limited");
    expect(limited.detail.retryAfterMs).toBe(50);
    // Another sender is not affected; after 50 ms one more goes.
    expect(w.service.send(as(b), { to: "a", text: "fine" }).replayed).toBe(false);
    w.clock.advance(50);
    expect(w.service.send(as(a), { to: "b", text: "now" }).replayed).toBe(false);
    expect(w.rejected.filter((r) => r.reason === "rate_limited")).toHaveLength(1);
  });
});

describe("client-signed messages and intake", () => {
  /** A body signed by `key` as the session with this id would sign it. */
  function signed(
    sessionId: string,
    keyHex: { publicKey: string; secretKey: KeyObject },
    over: Record<string, unknown> = {},
  ) {
    const body = {
      id: "0190d3a2-7b1c-7000-8000-00000000abcd",
      to: "b",
      text: "signed by me",
      priority: "next",
      reply_to: null,
      sent_at: 1_800_000_000_000,
      ...over,
    };
    const text = messageSigningText({
      id: body.id as string,
      mesh: "default",
      from: {
        session_id: sessionId,
        display_name: "",
        member_fingerprint: "",
        host: "",
        signing_key: keyHex.publicKey,
      },
      to: body.to as string,
      text: body.text as string,
      priority: body.priority as "next",
      reply_to: null,
      sent_at: body.sent_at as number,
    });
    return { ...body, signature: signText(keyHex, text) };
  }

  /** The session key a client holding its own presence signs with. */
  function keyOf(s: SessionRecord) {
    if (s.presence === undefined) throw new Error("no presence");
    return signerOf({ publicKey: s.presence.session_pubkey, secret: s.presence.session_secret_key });
  }

  it("stores a message signed by the session's own key", () => {
    const w = world();
    const a = w.one({ id: "a" });
    w.one({ id: "b" });
    const key = keyOf(a);
    const sent = w.service.send(as(a), signed("a", key));
    expect(sent.message.id).toBe("0190d3a2-7b1c-7000-8000-00000000abcd");
    expect(w.store.inbox("b")[0]?.envelope.signature).toBe(signed("a", key).signature);
  });

  it("refuses, counts and never stores a forged or tampered message", () => {
    const w = world();
    const a = w.one({ id: "a" });
    w.one({ id: "b" });
    const key = keyOf(a);
    const forged = signed("a", generateSigningKey());
    const tampered = { ...signed("a", key), text: "not what was signed" };
    // Refusing a bad signature costs the sender none of its rate: 150 of them, then a good one.
    for (let i = 0; i < 148; i++) refusal(() => w.service.send(as(a), forged));
    for (const body of [forged, tampered]) {
      const error = refusal(() => w.service.send(as(a), body));
      expect([error.code, error.detail.field]).toEqual(["invalid_field", "signature"]);
    }
    expect(w.store.size).toBe(0);
    expect(w.rejected.filter((r) => r.reason !== "bad_signature")).toEqual([]);
    expect(w.rejected).toHaveLength(150);
    expect(w.service.send(as(a), signed("a", key)).replayed).toBe(false);
  });

  it("refuses a client clock more than 5 minutes off, and another sender's message id", () => {
    const w = world();
    const a = w.one({ id: "a" });
    const b = w.one({ id: "b" });
    expect(
      refusal(() => w.service.send(as(a), signed("a", keyOf(a), { sent_at: 1_800_000_000_000 + 5 * 60_000 + 1 })))
        .detail.field,
    ).toBe("sent_at");
    w.service.send(as(a), signed("a", keyOf(a)));
    expect(w.service.send(as(a), signed("a", keyOf(a))).replayed).toBe(true); // a retry: the same message
    const stolen = signed("b", keyOf(b), { to: "a" });
    expect(refusal(() => w.service.send(as(b), stolen)).detail.field).toBe("id");
  });
});

describe("MessageService.maintain", () => {
  it("expires messages not surfaced within 7 days and compacts settled ones", () => {
    const w = world({ finalRetentionMs: 1000 });
    const a = w.one({ id: "a" });
    w.one({ id: "b" });
    const old = w.service.send(as(a), { to: "b", text: "old" });
    const acked = w.service.send(as(a), { to: "b", text: "acked" });
    w.store.mark("b", [acked.message.id], "acked", w.clock.t);
    w.clock.advance(7 * 24 * 3_600_000);
    expect(w.service.maintain()).toEqual({ expired: 1, dropped: 1 });
    expect(w.service.status("a", old.message.id).recipients[0]?.state).toBe("expired");
  });
});

describe("MessageService.receive (a message from another machine)", () => {
  function remoteEnvelope(text = "from afar") {
    const key = generateSigningKey();
    return signEnvelope(
      {
        id: uuidV7Generator({ now: () => T0 })(),
        mesh: "default",
        from: {
          session_id: "far",
          display_name: "far",
          member_fingerprint: "SHA256:x",
          host: "b",
          signing_key: key.publicKey,
        },
        to: "*",
        text,
        priority: "next",
        reply_to: null,
        sent_at: T0,
      },
      key,
    );
  }

  it("stores a broadcast once, adds each local recipient as its frame comes, and ignores copies", () => {
    const w = world();
    w.add({ id: "b" }, { id: "c", inbound: "refuse" });
    const m = remoteEnvelope();
    expect(w.service.receive(m, { session_id: "b", display_name: "b" })).toBe("delivered");
    expect(w.service.receive(m, { session_id: "b", display_name: "b" })).toBe("delivered"); // a redelivery
    expect(w.service.receive(m, { session_id: "c", display_name: "c" })).toBe("refused");
    expect(w.store.size).toBe(1);
    expect(w.store.inbox("b").map((i) => i.envelope.text)).toEqual(["from afar"]);
    expect(w.store.get(m.id)?.recipients.map((r) => [r.session_id, r.state])).toEqual([
      ["b", "delivered"],
      ["c", "refused"],
    ]);
  });

  it("leaves it waiting for a session that is not live, and refuses another message under the same id", () => {
    const w = world();
    const m = remoteEnvelope();
    expect(w.service.receive(m, { session_id: "gone", display_name: "gone" })).toBe("accepted");
    const other = { ...remoteEnvelope("another"), id: m.id };
    expect(() => w.service.receive(other, { session_id: "x", display_name: "x" })).toThrow(/another message/);
    expect(w.rejected.map((r) => r.reason)).toEqual(["duplicate_id"]);
    // A forged signature never reaches the store.
    const forged = { ...remoteEnvelope(), text: "changed" };
    expect(() => w.service.receive(forged, { session_id: "x", display_name: "x" })).toThrow(/does not verify/);
    expect(w.store.size).toBe(1);
  });
});
