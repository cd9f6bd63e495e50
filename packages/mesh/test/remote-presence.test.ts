import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateSigningKey, signingKeyFromSeed, signText, verifyText } from "../src/keys.js";
import { daemonIdOf } from "../src/nats-layout.js";
import { ATTESTATION, mintPresence } from "../src/presence.js";
import {
  believeRemotePresence,
  MAX_CLOCK_SKEW_MS,
  MAX_PRESENCE_BYTES,
  presenceText,
  type RemotePresence,
  readPresenceValue,
  signRemotePresence,
  type Unsigned,
  x25519BindingText,
} from "../src/remote-presence.js";
import { generateSealingKeyPair } from "../src/seal.js";
import { T0 } from "./fixtures.js";

const alice = generateSigningKey(); // the member key of the publishing daemon
const mallory = generateSigningKey(); // another member, on the same server
const trustAlice = {
  memberPublicKey: generateSigningKey().publicKey,
  isTrusted: (_m: string, k: string) => k === alice.publicKey,
};

function published(more: Partial<Unsigned> = {}, owner = alice, sessionId = "s-1"): RemotePresence {
  const presence = mintPresence(owner, { mesh: "team.a", sessionId }, T0);
  const unsigned: Unsigned = {
    v: 1,
    mesh: "team.a",
    session_id: sessionId,
    daemon: daemonIdOf(owner.publicKey),
    host: "laptop-a",
    display_name: "api",
    role: "backend",
    groups: ["core"],
    status: "working",
    summary: "migrating orders",
    inbound: "accept",
    registered_at: T0 - 1000,
    published_at: T0,
    session_pubkey: presence.session_pubkey,
    sealing_pubkey: generateSealingKeyPair().publicKey,
    parent_attestation: presence.parent_attestation,
    ...more,
  };
  return signRemotePresence(unsigned, signingKeyFromSeed(presence.session_secret_key.reveal()));
}

const at = (p: RemotePresence) => ({ mesh: p.mesh, daemon: p.daemon, session: p.session_id });

describe("remote presence", () => {
  it("an honest presence is believed, and carries no pid and no cwd", () => {
    const p = published();
    expect(believeRemotePresence(JSON.parse(JSON.stringify(p)), at(p), T0 + 5000, trustAlice)).toEqual({
      ok: true,
      presence: p,
    });
    expect(Object.keys(p)).not.toContain("pid");
    expect(Object.keys(p)).not.toContain("cwd");
  });

  it("any field changed after signing breaks the session key's signature", () => {
    const p = published();
    for (const change of [
      { summary: "rm -rf" },
      { sealing_pubkey: randomBytes(32).toString("base64url") },
      { host: "evil" },
      { inbound: "refuse" as const },
      { published_at: T0 + 1 },
      { x25519_signature: "0".repeat(128) },
    ]) {
      const forged = { ...p, ...change };
      expect(believeRemotePresence(forged, at(p), T0, trustAlice), JSON.stringify(change)).toMatchObject({
        ok: false,
        reason: "bad_signature",
      });
    }
  });

  it("binds its X25519 key to the session key as the contract writes it", () => {
    const p = published();
    const hex = Buffer.from(p.sealing_pubkey, "base64url").toString("hex");
    expect(verifyText(p.session_pubkey, `claudemesh-session-x25519|v1|${hex}`, p.x25519_signature)).toBe(true);
    // The whole document signed by the session key, but the binding made by another key: refused.
    const presence = mintPresence(alice, { mesh: "team.a", sessionId: "s-1" }, T0);
    const sessionKey = signingKeyFromSeed(presence.session_secret_key.reveal());
    const honest = signRemotePresence(
      { ...p, session_pubkey: presence.session_pubkey, parent_attestation: presence.parent_attestation },
      sessionKey,
    );
    expect(believeRemotePresence(honest, at(honest), T0, trustAlice).ok).toBe(true);
    const { signature: _s, ...rest } = honest;
    const rebound = { ...rest, x25519_signature: signText(generateSigningKey(), x25519BindingText(p.sealing_pubkey)) };
    const forged = { ...rebound, signature: signText(sessionKey, presenceText(rebound)) };
    expect(believeRemotePresence(forged, at(forged), T0, trustAlice)).toMatchObject({
      reason: "bad_signature",
      detail: expect.stringContaining("x25519_signature"),
    });
  });

  it("a presence replayed under another session id, mesh or daemon key is refused", () => {
    const p = published();
    expect(believeRemotePresence(p, { ...at(p), session: "s-2" }, T0, trustAlice)).toMatchObject({
      reason: "key_mismatch",
    });
    // Re-signed by its own session key for another id: the attestation's scope still names s-1.
    const presence = mintPresence(alice, { mesh: "team.a", sessionId: "s-1" }, T0);
    const replay = signRemotePresence(
      {
        ...published(),
        session_id: "s-2",
        session_pubkey: presence.session_pubkey,
        parent_attestation: presence.parent_attestation,
      },
      signingKeyFromSeed(presence.session_secret_key.reveal()),
    );
    expect(believeRemotePresence(replay, at(replay), T0, trustAlice)).toMatchObject({ reason: "bad_attestation" });
  });

  it("a member cannot speak for another member's daemon, and untrusted members are refused", () => {
    const spoof = published({ daemon: daemonIdOf(alice.publicKey) }, mallory);
    expect(believeRemotePresence(spoof, at(spoof), T0, trustAlice)).toMatchObject({ reason: "daemon_mismatch" });
    const own = published({ daemon: daemonIdOf(mallory.publicKey) }, mallory);
    expect(believeRemotePresence(own, at(own), T0, trustAlice)).toMatchObject({ reason: "untrusted_member" });
  });

  it("expired, too far ahead, or malformed is refused, never thrown", () => {
    const p = published();
    expect(believeRemotePresence(p, at(p), T0 + ATTESTATION.lifetimeMs + 1, trustAlice)).toMatchObject({
      reason: "expired",
    });
    const ahead = published({ published_at: T0 + MAX_CLOCK_SKEW_MS + 1 });
    expect(believeRemotePresence(ahead, at(ahead), T0, trustAlice)).toMatchObject({ reason: "from_the_future" });
    for (const raw of [
      null,
      "x",
      [],
      { v: 2 },
      { ...p, sealing_pubkey: "short" },
      { ...p, display_name: "" },
      { ...p, status: "sleeping" },
      { ...p, parent_attestation: null },
    ]) {
      expect(believeRemotePresence(raw, at(p), T0, trustAlice)).toMatchObject({ ok: false, reason: "malformed" });
    }
  });
});

describe("presence values as read from the bucket", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  it("the largest honest presence fits well under the size limit, and reads back whole", () => {
    const wide = "\u4e2d".repeat(64); // 3 bytes each in UTF-8: the most a 64-unit string weighs
    const p = published({
      display_name: "\u4e2d".repeat(128),
      role: wide,
      groups: Array.from({ length: 32 }, (_, i) => `${i}${wide}`.slice(0, 64)),
      summary: "\u4e2d".repeat(280),
      host: "h".repeat(253),
    });
    const value = bytes(JSON.stringify(p));
    expect(value.length).toBeLessThan(MAX_PRESENCE_BYTES * 0.6);
    const read = readPresenceValue(value);
    expect(read.ok && believeRemotePresence(read.raw, at(p), T0, trustAlice).ok).toBe(true);
  });

  it("refuses one past the limit unparsed, and bytes that are not UTF-8 JSON as malformed", () => {
    expect(readPresenceValue(new Uint8Array(MAX_PRESENCE_BYTES + 1).fill(0x20))).toMatchObject({
      ok: false,
      reason: "oversized",
    });
    for (const value of [bytes("not json"), Uint8Array.of(0x7b, 0xff, 0x7d), bytes('{"v":1')]) {
      expect(readPresenceValue(value)).toMatchObject({ ok: false, reason: "malformed" });
    }
  });

  it("deep nesting and wrong shapes under the limit parse, and are refused as malformed, never thrown", () => {
    const p = published();
    const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    for (const text of [
      deep(MAX_PRESENCE_BYTES / 2 - 1),
      `{"v":1,"groups":${deep(5000)}}`,
      `{"v":1,"display_name":{"a":${deep(5000)}}}`,
      JSON.stringify({ ...p, parent_attestation: JSON.parse(deep(3000)) }),
      "null",
      "[]",
      "7",
    ]) {
      const read = readPresenceValue(bytes(text));
      expect(read.ok).toBe(true);
      if (read.ok)
        expect(believeRemotePresence(read.raw, at(p), T0, trustAlice)).toMatchObject({ reason: "malformed" });
    }
  });
});
