import type { SessionPresence } from "@claudemesh/registry";
import { describe, expect, it } from "vitest";
import { fingerprint, generateSigningKey, seedOf, signerOf, signText, verifyText } from "../src/keys.js";
import {
  ATTESTATION,
  attest,
  attestationText,
  checkAttestation,
  mintPresence,
  needsRenewal,
  parsePresence,
  renewPresence,
} from "../src/presence.js";

const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;
const scope = { mesh: "default", sessionId: "s-1" };

/** The `presence` a client would send for a key it holds, attested by `member`. */
function supplied(member = generateSigningKey(), overrides: Record<string, unknown> = {}, expiresAt = NOW + HOUR) {
  const session = generateSigningKey();
  const attestation = attest(member, scope, session.publicKey, expiresAt);
  return {
    member,
    session,
    raw: {
      session_pubkey: session.publicKey,
      session_secret_key: seedOf(session) + session.publicKey,
      parent_attestation: attestation,
      ...overrides,
    } as Record<string, unknown>,
  };
}

function errorOf(raw: unknown, trustKey: string, trusted?: (mesh: string, key: string) => boolean) {
  const parsed = parsePresence(raw, scope, NOW, { memberPublicKey: trustKey, ...(trusted && { isTrusted: trusted }) });
  return parsed.ok ? undefined : { field: parsed.error.field, rule: parsed.error.rule };
}

describe("minted presences", () => {
  it("attest the session key for its mesh and id, for 24 hours, as the contract's bytes say", () => {
    const member = generateSigningKey();
    const p = mintPresence(member, scope, NOW);
    const a = p.parent_attestation;
    expect(a.session_pubkey).toBe(p.session_pubkey);
    expect(a.parent_member_pubkey).toBe(member.publicKey);
    expect(a.expires_at).toBe(NOW + 24 * HOUR);
    expect(p.member_fingerprint).toBe(fingerprint(member.publicKey));
    const text = `claudemesh-session-attest|v1|default|s-1|${member.publicKey}|${p.session_pubkey}|${a.expires_at}`;
    expect(attestationText(scope, member.publicKey, p.session_pubkey, a.expires_at)).toBe(text);
    expect(verifyText(member.publicKey, text, a.signature)).toBe(true);
    expect(checkAttestation(a, scope, NOW, { memberPublicKey: member.publicKey })).toBeUndefined();
    // The same attestation does not hold for another session id or mesh: they are signed.
    expect(checkAttestation(a, { ...scope, sessionId: "s-2" }, NOW, { memberPublicKey: member.publicKey })?.field).toBe(
      "signature",
    );
    expect(checkAttestation(a, { ...scope, mesh: "other" }, NOW, { memberPublicKey: member.publicKey })?.field).toBe(
      "signature",
    );
  });

  it("never reach past 24 hours, whatever lifetime is asked for", () => {
    const p = mintPresence(generateSigningKey(), scope, NOW, 48 * HOUR);
    expect(p.parent_attestation.expires_at).toBe(NOW + ATTESTATION.maxLifetimeMs);
  });

  it("renew with the same key before they expire, and only by the member that signed them", () => {
    const member = generateSigningKey();
    const p = mintPresence(member, scope, NOW);
    expect(needsRenewal(p, member.publicKey, NOW)).toBe(false);
    expect(needsRenewal(p, member.publicKey, NOW + 12 * HOUR + 1)).toBe(true);
    expect(needsRenewal(p, generateSigningKey().publicKey, NOW + 23 * HOUR)).toBe(false);
    const later = NOW + 13 * HOUR;
    const renewed: SessionPresence = renewPresence(p, member, scope, later);
    expect(renewed.session_pubkey).toBe(p.session_pubkey);
    expect(renewed.session_secret_key).toBe(p.session_secret_key);
    expect(renewed.parent_attestation.expires_at).toBe(later + 24 * HOUR);
    expect(
      checkAttestation(renewed.parent_attestation, scope, later, { memberPublicKey: member.publicKey }),
    ).toBeUndefined();
  });
});

describe("supplied presences", () => {
  it("accept a consistent key pair attested by this daemon's member key, in both secret key forms", () => {
    const { member, session, raw } = supplied();
    const parsed = parsePresence(raw, scope, NOW, { memberPublicKey: member.publicKey });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.session_pubkey).toBe(session.publicKey);
    // The key the daemon now holds is the session's: it signs what the session's public key verifies.
    const signer = signerOf({ publicKey: parsed.value.session_pubkey, secret: parsed.value.session_secret_key });
    expect(verifyText(session.publicKey, "x", signText(signer, "x"))).toBe(true);
    const seedOnly = { ...raw, session_secret_key: seedOf(session) };
    expect(parsePresence(seedOnly, scope, NOW, { memberPublicKey: member.publicKey }).ok).toBe(true);
  });

  it("accept another member's attestation only where it is trusted for the mesh", () => {
    const foreign = generateSigningKey();
    const own = generateSigningKey();
    const { raw } = supplied(foreign);
    expect(errorOf(raw, own.publicKey)).toEqual({
      field: "presence.parent_attestation.parent_member_pubkey",
      rule: "is not a member key trusted for mesh default",
    });
    expect(errorOf(raw, own.publicKey, (mesh, key) => mesh === "default" && key === foreign.publicKey)).toBeUndefined();
  });

  it("refuse every broken rule, naming the presence field", () => {
    const { member, session, raw } = supplied();
    const other = generateSigningKey();
    const key = member.publicKey;
    const att = raw.parent_attestation as Record<string, unknown>;
    const cases: [unknown, string, string][] = [
      ["x", "presence", "must be a JSON object"],
      [{ ...raw, session_pubkey: "AB".repeat(32) }, "presence.session_pubkey", "must be 64 lowercase hex characters"],
      [
        { ...raw, session_secret_key: "ab" },
        "presence.session_secret_key",
        "must be 128 lowercase hex characters (seed then public key) or the 64-hex seed",
      ],
      [
        { ...raw, session_secret_key: seedOf(other) },
        "presence.session_secret_key",
        "is not the secret key of presence.session_pubkey",
      ],
      [
        { ...raw, session_secret_key: seedOf(session) + other.publicKey },
        "presence.session_secret_key",
        "is not the secret key of presence.session_pubkey",
      ],
      [{ ...raw, parent_attestation: [] }, "presence.parent_attestation", "must be a JSON object"],
      [
        { ...raw, parent_attestation: { ...att, session_pubkey: other.publicKey } },
        "presence.parent_attestation.session_pubkey",
        "must equal presence.session_pubkey",
      ],
      [
        { ...raw, parent_attestation: { ...att, parent_member_pubkey: 1 } },
        "presence.parent_attestation.parent_member_pubkey",
        "must be 64 lowercase hex characters",
      ],
      [
        { ...raw, parent_attestation: { ...att, expires_at: "soon" } },
        "presence.parent_attestation.expires_at",
        "must be a non-negative integer (epoch ms)",
      ],
      [
        { ...raw, parent_attestation: { ...att, signature: "00" } },
        "presence.parent_attestation.signature",
        "must be 128 lowercase hex characters",
      ],
      // A valid signature over another expiry: tampered.
      [
        { ...raw, parent_attestation: { ...att, expires_at: NOW + 2 * HOUR } },
        "presence.parent_attestation.signature",
        "does not verify: the member key must sign mesh, session_id, both keys and expires_at as the contract states",
      ],
    ];
    for (const [input, field, rule] of cases) expect(errorOf(input, key), field).toEqual({ field, rule });
  });

  it("refuse an expired attestation and one reaching more than 24 h ahead", () => {
    const member = generateSigningKey();
    expect(errorOf(supplied(member, {}, NOW - 1).raw, member.publicKey)).toEqual({
      field: "presence.parent_attestation.expires_at",
      rule: "has expired",
    });
    expect(errorOf(supplied(member, {}, NOW).raw, member.publicKey)?.rule).toBe("has expired");
    expect(errorOf(supplied(member, {}, NOW + 24 * HOUR + 1).raw, member.publicKey)).toEqual({
      field: "presence.parent_attestation.expires_at",
      rule: "must be at most 24 h ahead",
    });
    expect(errorOf(supplied(member, {}, NOW + 24 * HOUR).raw, member.publicKey)).toBeUndefined();
  });

  it("refuse an attestation replayed under another session id", () => {
    const { member, raw } = supplied();
    const parsed = parsePresence(raw, { ...scope, sessionId: "someone-else" }, NOW, {
      memberPublicKey: member.publicKey,
    });
    expect(parsed.ok ? undefined : parsed.error.field).toBe("presence.parent_attestation.signature");
  });
});
