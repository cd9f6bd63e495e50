import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { decodeState, encodeState } from "../src/codec.js";
import { encodeJournalPut, replayJournal } from "../src/journal-codec.js";
import { parseSessionPatch, type SessionPresence, toSession, toStoredSession } from "../src/model.js";
import { type RegistryEvent, SessionRegistry } from "../src/registry.js";
import { SecretKey } from "../src/secret.js";
import { hashToken } from "../src/token.js";
import { registration, token } from "./fixtures.js";

/** A presence with a real secret key: the registry only carries it, the mesh package mints it. */
function presence(n: number, expiresAt = 9_000_000): SessionPresence {
  return {
    session_pubkey: n.toString(16).padStart(64, "a"),
    session_secret_key: new SecretKey(randomBytes(32).toString("hex")),
    parent_attestation: {
      session_pubkey: n.toString(16).padStart(64, "a"),
      parent_member_pubkey: "b".repeat(64),
      expires_at: expiresAt,
      signature: "c".repeat(128),
    },
    member_fingerprint: "SHA256:member",
  };
}

/** The bytes of a secret key: what must never appear in anything that leaves the process. */
function secretHex(p: SessionPresence): string {
  return p.session_secret_key.reveal();
}

function recorded(registry: SessionRegistry): RegistryEvent[] {
  const events: RegistryEvent[] = [];
  registry.subscribe((e) => events.push(e));
  return events;
}

describe("presence in the registry", () => {
  it("hands the presence, secret key included, to listeners on register and deregister, and to resolve", () => {
    const registry = new SessionRegistry();
    const events = recorded(registry);
    const p = presence(1);
    registry.register({ ...registration(1), presence: p }, null);
    expect(registry.resolve(token(1))?.presence).toBe(p);
    expect(registry.get("s1")?.presence?.session_secret_key).toBe(p.session_secret_key);
    registry.deregister(token(1));
    expect(events.map((e) => [e.type, e.session.presence])).toEqual([
      ["session_registered", p],
      ["session_deregistered", p],
    ]);
  });

  it("keeps the presence when the same token re-registers the same id and mesh, drops it otherwise", () => {
    const registry = new SessionRegistry();
    const p = presence(1);
    registry.register({ ...registration(1), presence: p }, null);
    registry.register(registration(1, { pid: 5 }), null);
    expect(registry.resolve(token(1))?.presence).toBe(p);
    registry.register(registration(1, { session_id: "other" }), null);
    expect(registry.resolve(token(1))?.presence).toBeUndefined();
    const q = presence(2);
    registry.register({ ...registration(1, { session_id: "other" }), presence: q }, null);
    registry.register(registration(1, { session_id: "other", mesh: "m2" }), null);
    expect(registry.resolve(token(1))?.presence).toBeUndefined();
  });

  it("wire form: only the public key, the fingerprint and the expiry leave", () => {
    const registry = new SessionRegistry({ now: () => 5_000 });
    const p = presence(3, 123_456);
    const { session } = registry.register({ ...registration(3), presence: p }, "boot:1");
    const wire = toSession(session);
    expect(wire).toMatchObject({
      session_pubkey: p.session_pubkey,
      member_fingerprint: "SHA256:member",
      attestation_expires_at: 123_456,
      summary: null,
      status: null,
      inbound: "accept",
      origin: "local",
    });
    expect(Object.keys(wire)).not.toContain("presence");
    expect(JSON.stringify(wire)).not.toContain(secretHex(p));
    expect(JSON.stringify(wire)).not.toContain("c".repeat(128)); // not even the attestation's signature
    expect(toSession(session, { origin: "remote", host: "box" })).toMatchObject({ origin: "remote", host: "box" });
  });

  it("a session without a presence yet has null public fields", () => {
    const registry = new SessionRegistry();
    const { session } = registry.register(registration(1), null);
    expect(toSession(session)).toMatchObject({
      session_pubkey: null,
      member_fingerprint: null,
      attestation_expires_at: null,
    });
  });

  it("persists no part of the presence: state file and journal hold the stored fields only", () => {
    const registry = new SessionRegistry();
    const p = presence(4);
    registry.register({ ...registration(4), presence: p }, null);
    const [entry] = registry.entries();
    const state = encodeState(registry.entries(), 1);
    const line = encodeJournalPut(entry as never);
    for (const text of [state, line]) {
      expect(text).not.toContain(secretHex(p));
      expect(text).not.toContain(p.session_pubkey);
      expect(text).not.toContain("presence");
    }
    const decoded = decodeState(state);
    expect(decoded.ok && decoded.entries[0]?.session.presence).toBeUndefined();
  });

  it("setPresence applies to the record it was read from, never to one that changed since", () => {
    const registry = new SessionRegistry();
    const events = recorded(registry);
    const { session: before } = registry.register(registration(1), null);
    const p = presence(1);
    expect(registry.setPresence(before, p)).toBe(true);
    expect(registry.resolve(token(1))?.presence).toBe(p);
    expect(events.at(-1)).toMatchObject({ type: "session_updated", reason: "presence" });
    // The record was replaced by that change: a second mint from the old reading is refused.
    expect(registry.setPresence(before, presence(9))).toBe(false);
    registry.deregister(token(1));
    expect(registry.setPresence(before, presence(9))).toBe(false);
    expect(events.filter((e) => e.session.presence !== undefined).map((e) => e.type)).toEqual([
      "session_updated",
      "session_deregistered",
    ]);
  });
});

describe("SecretKey", () => {
  it("never prints or serialises its bytes; reveal() gives them", () => {
    const seed = "ab".repeat(32);
    const key = new SecretKey(seed);
    const texts = [
      JSON.stringify({ key }),
      String(key),
      `${key}`,
      inspect({ key }),
      inspect(key, { showHidden: true }),
    ];
    for (const text of texts) expect(text).not.toContain(seed);
    expect(JSON.stringify({ key })).toBe('{"key":"[secret]"}');
    expect(key.reveal()).toBe(seed);
    expect(() => new SecretKey("short")).toThrow(TypeError);
  });
});

describe("SessionRegistry.update", () => {
  it("sets summary, status and inbound in place, with a session_updated event", () => {
    const registry = new SessionRegistry({ now: () => 7 });
    const events = recorded(registry);
    const p = presence(1);
    registry.register({ ...registration(1), presence: p }, null);
    const generation = registry.generation;
    const updated = registry.update(token(1), { summary: "fixing tests", status: "working", inbound: "hold" });
    expect(updated).toMatchObject({ summary: "fixing tests", status: "working", inbound: "hold", registered_at: 7 });
    expect(updated?.presence).toBe(p);
    expect(registry.generation).not.toBe(generation);
    expect(events.at(-1)).toMatchObject({ type: "session_updated", reason: "updated", tokenHash: hashToken(token(1)) });
    // Clearing: an empty summary and a null status.
    const cleared = registry.update(token(1), { summary: "", status: null });
    expect(toSession(cleared as never)).toMatchObject({ summary: null, status: null, inbound: "hold" });
    expect(registry.update(token(2), { status: "idle" })).toBeUndefined();
  });

  it("a patch that changes nothing is no event and keeps the very same record", () => {
    const registry = new SessionRegistry();
    const events = recorded(registry);
    registry.register(registration(1), null);
    const first = registry.update(token(1), { status: "working" });
    const count = events.length;
    const generation = registry.generation;
    // What a hook does on every prompt: say `working` again.
    expect(registry.update(token(1), { status: "working" })).toBe(first);
    // Clearing what is already clear, and the default inbound policy, are no change either.
    expect(registry.update(token(1), { summary: "", inbound: "accept" })).toBe(first);
    expect(events.length).toBe(count);
    expect(registry.generation).toBe(generation);
    expect(registry.update(token(1), { status: "idle" })?.status).toBe("idle");
    expect(events.length).toBe(count + 1);
  });

  it("a re-registration keeps what the session set unless it sets it; a replacement starts fresh", () => {
    const registry = new SessionRegistry();
    registry.register(registration(1, { summary: "first", inbound: "refuse" }), null);
    registry.update(token(1), { status: "waiting" });
    registry.register(registration(1, { pid: 9 }), null);
    expect(registry.resolve(token(1))).toMatchObject({ summary: "first", inbound: "refuse", status: "waiting" });
    registry.register(registration(1, { summary: "second" }), null);
    expect(registry.resolve(token(1))?.summary).toBe("second");
    registry.register(registration(2, { session_id: "s1" }), null);
    const replacement = registry.resolve(token(2));
    expect(replacement?.summary).toBeUndefined();
    expect(replacement?.status).toBeUndefined();
  });

  it("what a session set survives the journal and the state file", () => {
    const registry = new SessionRegistry();
    registry.register(registration(1, { summary: "s", inbound: "hold" }), null);
    registry.update(token(1), { status: "idle" });
    const [entry] = registry.entries();
    const replayed = replayJournal([], [`${encodeJournalPut(entry as never)}\n`]);
    expect(replayed.entries[0]?.session).toMatchObject({ summary: "s", inbound: "hold", status: "idle" });
    const decoded = decodeState(encodeState(registry.entries(), 1));
    expect(decoded.ok && decoded.entries[0]?.session).toMatchObject({ summary: "s", inbound: "hold", status: "idle" });
  });

  it("stores defaults as absence, so v1 state files and new ones read alike", () => {
    expect(
      toStoredSession({
        session_id: "a",
        mesh: "m",
        display_name: "d",
        pid: 1,
        start_time: null,
        registered_at: 1,
        token_prefix: "00000000",
        summary: "",
        status: null,
        inbound: "accept",
      }),
    ).toEqual({
      session_id: "a",
      mesh: "m",
      display_name: "d",
      pid: 1,
      start_time: null,
      registered_at: 1,
      token_prefix: "00000000",
    });
  });
});

describe("parseSessionPatch", () => {
  it.each([
    [{ summary: "x".repeat(281) }, "summary", "must be at most 280 characters"],
    [{ summary: "line\nbreak" }, "summary", "must contain only printable characters"],
    [{ status: "busy" }, "status", "must be one of working, idle, waiting"],
    [{ inbound: "maybe" }, "inbound", "must be one of accept, hold, refuse"],
    [{}, "body", "must set at least one of summary, status, inbound"],
    [{ other: 1 }, "body", "must set at least one of summary, status, inbound"],
    [[], "body", "must be a JSON object"],
  ])("refuses %j naming %s", (raw, field, rule) => {
    const parsed = parseSessionPatch(raw);
    expect(parsed.ok ? undefined : { field: parsed.error.field, rule: parsed.error.rule }).toEqual({ field, rule });
  });

  it("accepts each field alone, null status and an empty summary", () => {
    expect(parseSessionPatch({ summary: "" })).toEqual({ ok: true, value: { summary: "" } });
    expect(parseSessionPatch({ status: null })).toEqual({ ok: true, value: { status: null } });
    expect(parseSessionPatch({ inbound: "refuse", extra: true })).toEqual({ ok: true, value: { inbound: "refuse" } });
  });
});
