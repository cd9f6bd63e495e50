import { describe, expect, it } from "vitest";
import { type Envelope, signEnvelope } from "../src/envelope.js";
import { fingerprint, generateSigningKey, type SigningKey, signingKeyFromSeed } from "../src/keys.js";
import { daemonIdOf } from "../src/nats-layout.js";
import { mintPresence, type PresenceTrust } from "../src/presence.js";
import {
  daemonIdOfFingerprint,
  openMessageFrame,
  readReceipt,
  readWireJson,
  type SenderProof,
  sealMessageFrame,
  signReceipt,
  WIRE_LIMITS,
} from "../src/remote-wire.js";
import { generateSealingKeyPair } from "../src/seal.js";
import { uuidV7Generator } from "../src/uuid.js";
import { T0 } from "./fixtures.js";

const alice = generateSigningKey(); // the sending daemon's member key
const bob = generateSigningKey(); // the receiving daemon's member key
const mallory = generateSigningKey();
const newId = uuidV7Generator({ now: () => T0 });
const trust: PresenceTrust = { memberPublicKey: bob.publicKey, isTrusted: (_m, k) => k === alice.publicKey };
const recipientKeys = generateSealingKeyPair();
const to = { session_id: "s-bob", sealing_pubkey: recipientKeys.publicKey };
const at = { mesh: "team", recipient: "s-bob" };

function fromSession(owner: SigningKey = alice, sessionId = "s-alice"): { envelope: Envelope; proof: SenderProof } {
  const presence = mintPresence(owner, { mesh: "team", sessionId }, T0);
  const key = signingKeyFromSeed(presence.session_secret_key.reveal());
  const envelope = signEnvelope(
    {
      id: newId(),
      mesh: "team",
      from: {
        session_id: sessionId,
        display_name: "api",
        member_fingerprint: fingerprint(owner.publicKey),
        host: "laptop-a",
        signing_key: key.publicKey,
      },
      to: "web",
      text: "the secret plan",
      priority: "next",
      reply_to: null,
      sent_at: T0,
    },
    key,
  );
  return { envelope, proof: { kind: "session", attestation: presence.parent_attestation } };
}

describe("message frames", () => {
  it("a session's message opens for its recipient, with the sender's daemon, and hides the text", () => {
    const { envelope, proof } = fromSession();
    const frame = sealMessageFrame(envelope, proof, to);
    expect(JSON.stringify(frame)).not.toContain("secret plan");
    const opened = openMessageFrame(JSON.parse(JSON.stringify(frame)), at, [recipientKeys], T0 + 1, trust);
    expect(opened).toEqual({
      ok: true,
      envelope,
      fromDaemon: daemonIdOf(alice.publicKey),
      memberPubkey: alice.publicKey,
    });
    expect(daemonIdOfFingerprint(envelope.from.member_fingerprint)).toBe(daemonIdOf(alice.publicKey));
  });

  it("a member's message from a plain shell is proven by the member key itself", () => {
    const envelope = signEnvelope(
      {
        ...fromSession().envelope,
        id: newId(),
        from: {
          session_id: null,
          display_name: "alice",
          member_fingerprint: fingerprint(alice.publicKey),
          host: "laptop-a",
          signing_key: alice.publicKey,
        },
      },
      alice,
    );
    const frame = sealMessageFrame(envelope, { kind: "member" }, to);
    expect(openMessageFrame(frame, at, [recipientKeys], T0, trust)).toMatchObject({ ok: true });
    const strict = { memberPublicKey: bob.publicKey };
    expect(openMessageFrame(frame, at, [recipientKeys], T0, strict)).toMatchObject({ reason: "untrusted_member" });
  });

  it("a tampered box, another recipient, or an old key are each told apart", () => {
    const { envelope, proof } = fromSession();
    const frame = sealMessageFrame(envelope, proof, to);
    const ct = frame.box.ct;
    const flipped = `${ct.slice(0, 10)}${ct[10] === "A" ? "B" : "A"}${ct.slice(11)}`;
    const tampered = { ...frame, box: { ...frame.box, ct: flipped } };
    expect(openMessageFrame(tampered, at, [recipientKeys], T0, trust)).toMatchObject({ reason: "tampered" });
    // Handed to another session of the same daemon: the box's context names s-bob.
    expect(openMessageFrame(frame, { ...at, recipient: "s-carol" }, [recipientKeys], T0, trust)).toMatchObject({
      reason: "tampered",
    });
    // The recipient restarted and holds a fresh key only: the sender re-seals.
    expect(openMessageFrame(frame, at, [generateSealingKeyPair()], T0, trust)).toMatchObject({ reason: "stale_key" });
    // ...unless it kept the previous one.
    expect(openMessageFrame(frame, at, [generateSealingKeyPair(), recipientKeys], T0, trust).ok).toBe(true);
  });

  it("a sender that is not what its frame claims is refused", () => {
    // Untrusted member.
    const m = fromSession(mallory);
    expect(openMessageFrame(sealMessageFrame(m.envelope, m.proof, to), at, [recipientKeys], T0, trust)).toMatchObject({
      reason: "untrusted_member",
    });
    // Alice's attestation of another session, used for a message claiming s-alice.
    const other = fromSession(alice, "s-other");
    const honest = fromSession();
    const swapped = sealMessageFrame(honest.envelope, other.proof, to);
    expect(openMessageFrame(swapped, at, [recipientKeys], T0, trust)).toMatchObject({ reason: "bad_sender" });
    // Text changed after signing, resealed by whoever holds the recipient's public key.
    const changed = sealMessageFrame({ ...honest.envelope, text: "changed" }, honest.proof, to);
    expect(openMessageFrame(changed, at, [recipientKeys], T0, trust)).toMatchObject({ reason: "bad_signature" });
    // The envelope claims to be from another member than the attestation's.
    const claimed = sealMessageFrame(
      { ...honest.envelope, from: { ...honest.envelope.from, member_fingerprint: fingerprint(bob.publicKey) } },
      honest.proof,
      to,
    );
    expect(openMessageFrame(claimed, at, [recipientKeys], T0, trust)).toMatchObject({ reason: "bad_sender" });
    // An expired attestation.
    expect(
      openMessageFrame(
        sealMessageFrame(honest.envelope, honest.proof, to),
        at,
        [recipientKeys],
        T0 + 25 * 3600_000,
        trust,
      ),
    ).toMatchObject({ reason: "bad_sender" });
  });

  it("garbage is malformed, never thrown", () => {
    for (const raw of [null, "x", {}, { v: 1, id: "nope" }, { v: 1, id: newId(), from_session: 3, box: {} }]) {
      expect(openMessageFrame(raw, at, [recipientKeys], T0, trust)).toMatchObject({ ok: false, reason: "malformed" });
    }
  });
});

describe("receipts", () => {
  const fields = {
    mesh: "team",
    message_id: newId(),
    session_id: "s-bob",
    state: "surfaced" as const,
    updated_at: T0,
    reason: null,
  };

  it("are signed by the recipient daemon's member key and read back whole", () => {
    const receipt = signReceipt(fields, bob);
    expect(readReceipt(JSON.parse(JSON.stringify(receipt)), "team")).toEqual({ ok: true, receipt });
    expect(receipt.member_pubkey).toBe(bob.publicKey);
  });

  it("refuse a changed state, another mesh, or a state no recipient daemon sets", () => {
    const receipt = signReceipt(fields, bob);
    expect(readReceipt({ ...receipt, state: "acked" }, "team")).toMatchObject({ reason: "bad_signature" });
    expect(readReceipt(receipt, "other")).toMatchObject({ reason: "malformed" });
    expect(readReceipt(signReceipt({ ...fields, state: "accepted" }, bob), "team")).toMatchObject({
      reason: "malformed",
    });
  });
});

describe("what is read off the wire", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  it("a message frame at the largest sealed size fits the frame limit; one byte over is oversized, unparsed", () => {
    // The largest plaintext a box may hold, as base64url, in a frame's JSON.
    const ct = "A".repeat(Math.ceil((256 * 1024 * 4) / 3));
    const frame = bytes(
      JSON.stringify({ v: 1, id: newId(), from_session: "s-1", box: { v: 1, kid: "k", epk: "e", nonce: "n", ct } }),
    );
    expect(frame.length).toBeLessThanOrEqual(WIRE_LIMITS.maxFrameBytes);
    expect(readWireJson(frame, WIRE_LIMITS.maxFrameBytes).ok).toBe(true);
    const over = new Uint8Array(WIRE_LIMITS.maxFrameBytes + 1).fill(0x20);
    expect(readWireJson(over, WIRE_LIMITS.maxFrameBytes)).toMatchObject({ ok: false, reason: "oversized" });
  });

  it("a receipt fits its limit; random bytes, cut JSON and invalid UTF-8 are malformed", () => {
    const member = generateSigningKey();
    const r = signReceipt(
      {
        mesh: "team",
        message_id: newId(),
        session_id: "s".repeat(128),
        state: "refused",
        updated_at: T0,
        reason: "inbox_full",
      },
      member,
    );
    expect(bytes(JSON.stringify(r)).length).toBeLessThan(WIRE_LIMITS.maxReceiptBytes / 2);
    const random = Uint8Array.from({ length: 64 }, (_, i) => (i * 151 + 7) % 256);
    for (const value of [random, bytes('{"v":1,'), Uint8Array.of(0x22, 0xc3, 0x22)]) {
      expect(readWireJson(value, WIRE_LIMITS.maxReceiptBytes)).toMatchObject({ ok: false, reason: "malformed" });
    }
    expect(readWireJson(bytes(JSON.stringify(r)), WIRE_LIMITS.maxReceiptBytes)).toEqual({
      ok: true,
      value: JSON.parse(JSON.stringify(r)),
    });
  });
});
