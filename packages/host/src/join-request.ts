// What a joining daemon asks the host and what it gets back, over the invite's own subject
// `cm.<mesh>.join.<invite id>` (only that invite's user may publish there). The joiner proves it
// holds the member key it names (the credential it gets is scoped to that key's daemon id) and
// sends only the public half of the NATS user key it made: its seed never leaves its machine.
// Pure.
import { fingerprint, isKeyHex, isSignatureHex, type SigningKey, signText, token, verifyText } from "@claudemesh/mesh";

export function joinSubject(mesh: string, inviteId: string): string {
  return `cm.${token(mesh)}.join.${inviteId}`;
}

/** Every invite's subject of one mesh: what the host answers. */
export function joinSubjects(mesh: string): string {
  return `cm.${token(mesh)}.join.*`;
}

/** Where the invite user takes its reply subjects, the only ones it may subscribe to. */
export function joinInboxPrefix(inviteId: string): string {
  return `_INBOX.join_${inviteId}`;
}

export interface JoinRequest {
  readonly v: 1;
  readonly member_pubkey: string;
  /** The NATS user public key (`U…`) the member credential is to be issued to. */
  readonly user_pubkey: string;
  /** ed25519(member key, joinProofText(...)). */
  readonly signature: string;
}

export function joinProofText(mesh: string, inviteId: string, userPublicKey: string): string {
  return `claudemesh-join|v1|${mesh}|${inviteId}|${userPublicKey}`;
}

export function signJoinRequest(
  member: SigningKey,
  mesh: string,
  inviteId: string,
  userPublicKey: string,
): JoinRequest {
  return {
    v: 1,
    member_pubkey: member.publicKey,
    user_pubkey: userPublicKey,
    signature: signText(member, joinProofText(mesh, inviteId, userPublicKey)),
  };
}

const USER_KEY = /^U[A-Z2-7]{55}$/;

export type JoinRequestCheck =
  | { readonly ok: true; readonly request: JoinRequest; readonly memberFingerprint: string }
  | { readonly ok: false; readonly error: string };

/** Reads and verifies a join request's body for the invite whose subject it came on. */
export function checkJoinRequest(body: string, mesh: string, inviteId: string): JoinRequestCheck {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return { ok: false, error: "the request is not JSON" };
  }
  const r = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  if (r.v !== 1) return { ok: false, error: "unsupported request version" };
  if (!isKeyHex(r.member_pubkey)) return { ok: false, error: "member_pubkey must be 64 lowercase hex characters" };
  if (typeof r.user_pubkey !== "string" || !USER_KEY.test(r.user_pubkey)) {
    return { ok: false, error: "user_pubkey must be a NATS user public key (U…)" };
  }
  if (!isSignatureHex(r.signature)) return { ok: false, error: "signature must be 128 lowercase hex characters" };
  if (!verifyText(r.member_pubkey, joinProofText(mesh, inviteId, r.user_pubkey), r.signature)) {
    return { ok: false, error: "the signature is not the member key's over this invite and user key" };
  }
  const request: JoinRequest = {
    v: 1,
    member_pubkey: r.member_pubkey,
    user_pubkey: r.user_pubkey,
    signature: r.signature,
  };
  return { ok: true, request, memberFingerprint: fingerprint(r.member_pubkey) };
}

export type JoinReply =
  | { readonly ok: true; readonly jwt: string; readonly host_member: string }
  | { readonly ok: false; readonly error: string };

export function parseJoinReply(body: string): JoinReply {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return { ok: false, error: "the host's answer is not JSON" };
  }
  const r = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  if (r.ok === true && typeof r.jwt === "string" && typeof r.host_member === "string") {
    return { ok: true, jwt: r.jwt, host_member: r.host_member };
  }
  return { ok: false, error: typeof r.error === "string" ? r.error : "the host's answer is malformed" };
}
