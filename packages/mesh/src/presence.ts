// Session presence: the session's ed25519 key and the member key's attestation of it.
//
//   signature = ed25519(member_secret, "claudemesh-session-attest|v1|" + mesh + "|" + session_id
//                + "|" + member_pubkey_hex + "|" + session_pubkey_hex + "|" + expires_at)
//
// The daemon mints one for every session, or verifies one a registration brings. Pure: the clock
// and the trust decision are passed in.
import { FieldError, type ParentAttestation, type Parsed, SecretKey, type SessionPresence } from "@claudemesh/registry";
import {
  fingerprint,
  generateHeldKey,
  type HeldKey,
  isKeyHex,
  isSignatureHex,
  type SigningKey,
  signingKeyFromSeed,
  signText,
  verifyText,
} from "./keys.js";

const HOUR = 60 * 60 * 1000;

export const ATTESTATION = {
  /** No attestation may reach further than this ahead of now. */
  maxLifetimeMs: 24 * HOUR,
  /** What the daemon mints. */
  lifetimeMs: 24 * HOUR,
  /** A live session's attestation is renewed once less than this is left. */
  renewBeforeMs: 12 * HOUR,
} as const;

/** Where an attestation applies: both are part of what the member signs. */
export interface AttestationScope {
  readonly mesh: string;
  readonly sessionId: string;
}

export function attestationText(
  scope: AttestationScope,
  memberPublicKey: string,
  sessionPublicKey: string,
  expiresAt: number,
): string {
  return `claudemesh-session-attest|v1|${scope.mesh}|${scope.sessionId}|${memberPublicKey}|${sessionPublicKey}|${expiresAt}`;
}

export function attest(
  member: SigningKey,
  scope: AttestationScope,
  sessionPublicKey: string,
  expiresAt: number,
): ParentAttestation {
  return {
    session_pubkey: sessionPublicKey,
    parent_member_pubkey: member.publicKey,
    expires_at: expiresAt,
    signature: signText(member, attestationText(scope, member.publicKey, sessionPublicKey, expiresAt)),
  };
}

function presenceOf(session: HeldKey, attestation: ParentAttestation): SessionPresence {
  return Object.freeze({
    session_pubkey: session.publicKey,
    session_secret_key: session.secret,
    parent_attestation: Object.freeze(attestation),
    member_fingerprint: fingerprint(attestation.parent_member_pubkey),
  });
}

/** `session` vouched for by `member` until now + lifetime (at most 24 h). */
function attested(
  session: HeldKey,
  member: SigningKey,
  scope: AttestationScope,
  now: number,
  lifetimeMs: number,
): SessionPresence {
  const expiresAt = now + Math.min(lifetimeMs, ATTESTATION.maxLifetimeMs);
  return presenceOf(session, attest(member, scope, session.publicKey, expiresAt));
}

/** A fresh session key, vouched for by `member` until now + lifetime (at most 24 h). */
export function mintPresence(
  member: SigningKey,
  scope: AttestationScope,
  now: number,
  lifetimeMs: number = ATTESTATION.lifetimeMs,
): SessionPresence {
  return attested(generateHeldKey().held, member, scope, now, lifetimeMs);
}

/** The same session key with a new attestation from `member`. */
export function renewPresence(
  presence: SessionPresence,
  member: SigningKey,
  scope: AttestationScope,
  now: number,
  lifetimeMs: number = ATTESTATION.lifetimeMs,
): SessionPresence {
  const session = { publicKey: presence.session_pubkey, secret: presence.session_secret_key };
  return attested(session, member, scope, now, lifetimeMs);
}

/** Is it time to renew? Only the member that signed an attestation can renew it. */
export function needsRenewal(
  presence: SessionPresence,
  memberPublicKey: string,
  now: number,
  renewBeforeMs: number = ATTESTATION.renewBeforeMs,
): boolean {
  const { parent_member_pubkey, expires_at } = presence.parent_attestation;
  return parent_member_pubkey === memberPublicKey && expires_at - now < renewBeforeMs;
}

/** Which member keys may vouch for sessions of a mesh. */
export interface PresenceTrust {
  /** This daemon's own member key: always trusted. */
  readonly memberPublicKey: string;
  /** Other member keys trusted for a mesh (meshes that span machines); none by default. */
  isTrusted?(mesh: string, memberPublicKey: string): boolean;
}

/** May this member key vouch in `mesh`: our own always, another when the trust says so. */
export function trusts(trust: PresenceTrust, mesh: string, memberPublicKey: string): boolean {
  return memberPublicKey === trust.memberPublicKey || trust.isTrusted?.(mesh, memberPublicKey) === true;
}

/**
 * Checks an attestation against its scope, the clock and the trust: the rule it breaks, with the
 * field (under `parent_attestation.`) that breaks it, or undefined when it holds.
 */
export function checkAttestation(
  attestation: ParentAttestation,
  scope: AttestationScope,
  now: number,
  trust: PresenceTrust,
): { field: string; rule: string } | undefined {
  const { parent_member_pubkey: parent, session_pubkey: sessionKey, expires_at: expiresAt } = attestation;
  if (!trusts(trust, scope.mesh, parent)) {
    return { field: "parent_member_pubkey", rule: `is not a member key trusted for mesh ${scope.mesh}` };
  }
  if (expiresAt <= now) return { field: "expires_at", rule: "has expired" };
  if (expiresAt > now + ATTESTATION.maxLifetimeMs) {
    return { field: "expires_at", rule: "must be at most 24 h ahead" };
  }
  if (!verifyText(parent, attestationText(scope, parent, sessionKey, expiresAt), attestation.signature)) {
    return {
      field: "signature",
      rule: "does not verify: the member key must sign mesh, session_id, both keys and expires_at as the contract states",
    };
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const fail = (field: string, rule: string): Parsed<never> => ({
  ok: false,
  error: new FieldError(`presence.${field}`, rule),
});

function parseAttestationShape(raw: unknown): ParentAttestation | { field: string; rule: string } {
  if (!isRecord(raw)) return { field: "parent_attestation", rule: "must be a JSON object" };
  const { session_pubkey, parent_member_pubkey, expires_at, signature } = raw;
  if (!isKeyHex(session_pubkey)) {
    return { field: "parent_attestation.session_pubkey", rule: "must be 64 lowercase hex characters" };
  }
  if (!isKeyHex(parent_member_pubkey)) {
    return { field: "parent_attestation.parent_member_pubkey", rule: "must be 64 lowercase hex characters" };
  }
  if (typeof expires_at !== "number" || !Number.isSafeInteger(expires_at) || expires_at < 0) {
    return { field: "parent_attestation.expires_at", rule: "must be a non-negative integer (epoch ms)" };
  }
  if (!isSignatureHex(signature)) {
    return { field: "parent_attestation.signature", rule: "must be 128 lowercase hex characters" };
  }
  return { session_pubkey, parent_member_pubkey, expires_at, signature };
}

/**
 * Verifies the `presence` a registration brings: a consistent key pair, an attestation of that
 * key for this mesh and session id by a trusted member, not expired and at most 24 h ahead.
 * A failure names the `presence.…` field and the rule, for a 400 `invalid_field`.
 */
export function parsePresence(
  raw: unknown,
  scope: AttestationScope,
  now: number,
  trust: PresenceTrust,
): Parsed<SessionPresence> {
  if (!isRecord(raw)) return { ok: false, error: new FieldError("presence", "must be a JSON object") };
  const { session_pubkey: publicKey, session_secret_key: secret } = raw;
  if (!isKeyHex(publicKey)) return fail("session_pubkey", "must be 64 lowercase hex characters");
  if (typeof secret !== "string" || !/^[0-9a-f]{64}([0-9a-f]{64})?$/.test(secret)) {
    return fail("session_secret_key", "must be 128 lowercase hex characters (seed then public key) or the 64-hex seed");
  }
  const session = signingKeyFromSeed(secret.slice(0, 64));
  if (session.publicKey !== publicKey || (secret.length === 128 && secret.slice(64) !== publicKey)) {
    return fail("session_secret_key", "is not the secret key of presence.session_pubkey");
  }
  const attestation = parseAttestationShape(raw.parent_attestation);
  if ("field" in attestation) return fail(attestation.field, attestation.rule);
  if (attestation.session_pubkey !== publicKey) {
    return fail("parent_attestation.session_pubkey", "must equal presence.session_pubkey");
  }
  const broken = checkAttestation(attestation, scope, now, trust);
  if (broken !== undefined) return fail(`parent_attestation.${broken.field}`, broken.rule);
  return { ok: true, value: presenceOf({ publicKey, secret: new SecretKey(secret.slice(0, 64)) }, attestation) };
}
