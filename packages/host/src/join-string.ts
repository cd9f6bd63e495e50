// The one string `mesh invite` prints and `mesh join` takes: where the mesh's servers are and the
// invite's own credential (a NATS user that may do one thing: ask the host for a member
// credential, until it expires or is used). It is a secret until then, like a password.
// `claudemesh-join:1:<base64url of JSON>`. Pure.
import { isMeshName } from "@claudemesh/registry";

export const JOIN_PREFIX = "claudemesh-join:1:";

export interface JoinInvite {
  readonly mesh: string;
  /** `nats://host:port` addresses of the mesh's servers. */
  readonly servers: readonly string[];
  /** The invite's id: its request subject and its record on the host. */
  readonly id: string;
  /** The invite user's JWT and seed. */
  readonly jwt: string;
  readonly seed: string;
  /** Epoch ms after which the server refuses the invite. */
  readonly expiresAt: number;
  /** The host member's fingerprint (`SHA256:…`), for `--trust-member`. */
  readonly hostMember: string;
}

export class JoinStringError extends Error {
  override readonly name = "JoinStringError";
}

export const INVITE_ID = /^[0-9a-f]{16}$/;

export function encodeJoinString(invite: JoinInvite): string {
  const body = {
    v: 1,
    mesh: invite.mesh,
    servers: invite.servers,
    id: invite.id,
    jwt: invite.jwt,
    seed: invite.seed,
    expires_at: invite.expiresAt,
    host_member: invite.hostMember,
  };
  return `${JOIN_PREFIX}${Buffer.from(JSON.stringify(body)).toString("base64url")}`;
}

const isString = (v: unknown): v is string => typeof v === "string" && v !== "";

/** Reads a join string back; throws JoinStringError saying what is wrong (never echoing secrets). */
export function decodeJoinString(text: string): JoinInvite {
  const trimmed = text.trim();
  if (!trimmed.startsWith(JOIN_PREFIX)) {
    throw new JoinStringError(
      `not a join string (it starts with ${JOIN_PREFIX}; copy all of what mesh invite printed)`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(trimmed.slice(JOIN_PREFIX.length), "base64url").toString("utf8"));
  } catch {
    throw new JoinStringError("the join string is damaged (cut short or altered): copy it again");
  }
  const r = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  if (r.v !== 1) throw new JoinStringError("the join string is of another version of claudemesh");
  if (!isString(r.mesh) || !isMeshName(r.mesh)) throw new JoinStringError("the join string names no valid mesh");
  const servers = r.servers;
  if (!Array.isArray(servers) || servers.length === 0 || !servers.every(isString)) {
    throw new JoinStringError("the join string names no server");
  }
  if (!isString(r.id) || !INVITE_ID.test(r.id)) throw new JoinStringError("the join string has no invite id");
  if (!isString(r.jwt) || !isString(r.seed) || !r.seed.startsWith("SU")) {
    throw new JoinStringError("the join string has no invite credential");
  }
  if (typeof r.expires_at !== "number" || !Number.isSafeInteger(r.expires_at)) {
    throw new JoinStringError("the join string has no expiry");
  }
  if (!isString(r.host_member) || !r.host_member.startsWith("SHA256:")) {
    throw new JoinStringError("the join string does not name its host member");
  }
  return {
    mesh: r.mesh,
    servers,
    id: r.id,
    jwt: r.jwt,
    seed: r.seed,
    expiresAt: r.expires_at,
    hostMember: r.host_member,
  };
}
