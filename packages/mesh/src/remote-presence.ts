// A session's presence as a daemon publishes it to the other daemons of a mesh bound to NATS
// (the presence bucket, nats-layout.ts), and how a receiving daemon decides to believe it.
//
// What a session shows its remote peers, no pid and no cwd, plus its two public keys: the
// ed25519 session key (vouched for by the member key's attestation, presence.ts) and the X25519
// key messages to it are sealed to. The session key signs the whole document, so that neither
// the sealing key nor anything shown can be swapped by whoever relays it; the attestation's scope
// holds the mesh and the session id, so a presence replayed under another id or mesh fails; and
// the daemon id must be the one the member key gives, so no member can speak for another's
// daemon. Pure: the clock and the trust decision are passed in.
import { parseRegistration, type SessionStatus } from "@claudemesh/registry";
import { isKeyHex, type SigningKey, signText, verifyText } from "./keys.js";
import { daemonIdOf } from "./nats-layout.js";
import { ATTESTATION, checkAttestation, type PresenceTrust } from "./presence.js";
import { readWireJson } from "./remote-wire.js";
import { isSealingKey } from "./seal.js";

export interface RemotePresence {
  readonly v: 1;
  readonly mesh: string;
  readonly session_id: string;
  readonly daemon: string;
  readonly host: string;
  readonly display_name: string;
  readonly role: string | null;
  readonly groups: readonly string[];
  readonly status: SessionStatus | null;
  readonly summary: string | null;
  readonly inbound: "accept" | "hold" | "refuse";
  readonly registered_at: number;
  /** When this copy was published: a newer one replaces an older one, never the reverse. */
  readonly published_at: number;
  readonly session_pubkey: string;
  /** X25519, 32 bytes as unpadded base64url. */
  readonly sealing_pubkey: string;
  /** The contract's binding of the X25519 key to the session key: ed25519 over `x25519BindingText`. */
  readonly x25519_signature: string;
  readonly parent_attestation: {
    readonly session_pubkey: string;
    readonly parent_member_pubkey: string;
    readonly expires_at: number;
    readonly signature: string;
  };
  /** ed25519 by the session key over `presenceText`. */
  readonly signature: string;
}

export type Unsigned = Omit<RemotePresence, "signature" | "x25519_signature">;

/** What the session key signs to own its X25519 key, as the contract writes it. */
export function x25519BindingText(sealingPubkey: string): string {
  return `claudemesh-session-x25519|v1|${Buffer.from(sealingPubkey, "base64url").toString("hex")}`;
}

/** Why a remote presence was not believed: each is counted. */
export type PresenceRefusal =
  | "oversized"
  | "malformed"
  | "key_mismatch"
  | "daemon_mismatch"
  | "untrusted_member"
  | "expired"
  | "bad_attestation"
  | "bad_signature"
  | "from_the_future"
  /** Believed, but its daemon already has `maxPerDaemon` sessions here (remote-directory.ts). */
  | "too_many_sessions"
  /** Believed, but the mesh already has `maxPeers` remote sessions here. */
  | "too_many_peers"
  /** Believed, but its daemon was found dead and has not answered since: held until it does. */
  | "daemon_gone";

/**
 * The most a presence value may weigh, checked before it is parsed. The largest honest one (every
 * shown field at its registry limit in 3-byte characters: 32 groups of 64, a 128-character
 * name, a 280-character summary, a 253-byte host, its keys and signatures) is under 9 KiB.
 */
export const MAX_PRESENCE_BYTES = 16 * 1024;

/** A presence value as read from the bucket: JSON, or refused as oversized or malformed. */
export function readPresenceValue(
  data: Uint8Array,
):
  | { readonly ok: true; readonly raw: unknown }
  | { readonly ok: false; readonly reason: PresenceRefusal; readonly detail: string } {
  const read = readWireJson(data, MAX_PRESENCE_BYTES);
  return read.ok ? { ok: true, raw: read.value } : read;
}

/** Clocks of two machines disagree a little; a presence published further ahead than this is refused. */
export const MAX_CLOCK_SKEW_MS = 60_000;
const HOSTNAME = /^[\x21-\x7e]{1,253}$/;

/** What the session key signs: every field, in a fixed order, as JSON (no separator to confuse). */
export function presenceText(p: Unsigned & { readonly x25519_signature?: string }): string {
  const a = p.parent_attestation;
  return `claudemesh-presence|v1|${JSON.stringify([
    p.mesh,
    p.session_id,
    p.daemon,
    p.host,
    p.display_name,
    p.role,
    p.groups,
    p.status,
    p.summary,
    p.inbound,
    p.registered_at,
    p.published_at,
    p.session_pubkey,
    p.sealing_pubkey,
    p.x25519_signature ?? null,
    a.session_pubkey,
    a.parent_member_pubkey,
    a.expires_at,
    a.signature,
  ])}`;
}

export function signRemotePresence(unsigned: Unsigned, sessionKey: SigningKey): RemotePresence {
  if (sessionKey.publicKey !== unsigned.session_pubkey) throw new RangeError("not the key of this session");
  const bound = { ...unsigned, x25519_signature: signText(sessionKey, x25519BindingText(unsigned.sealing_pubkey)) };
  return { ...bound, signature: signText(sessionKey, presenceText(bound)) };
}

export type Believed =
  | { readonly ok: true; readonly presence: RemotePresence }
  | { readonly ok: false; readonly reason: PresenceRefusal; readonly detail: string };

const refuse = (reason: PresenceRefusal, detail: string): Believed => ({ ok: false, reason, detail });

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The fields a session shows, checked by the registry's own rules (a remote peer is a session). */
function checkShown(raw: Record<string, unknown>): string | undefined {
  const parsed = parseRegistration(
    {
      token: "0".repeat(64),
      pid: 1,
      cwd: "/",
      session_id: raw.session_id,
      mesh: raw.mesh,
      display_name: raw.display_name,
      ...(raw.role !== null && { role: raw.role }),
      groups: raw.groups,
      ...(raw.summary !== null && { summary: raw.summary }),
      inbound: raw.inbound,
    },
    { newSessionId: () => "", mesh: "", displayName: "" },
  );
  if (!parsed.ok) return `${parsed.error.field} ${parsed.error.rule}`;
  if (raw.status !== null && raw.status !== "working" && raw.status !== "idle" && raw.status !== "waiting") {
    return "status must be working, idle, waiting or null";
  }
  return undefined;
}

/**
 * Believes a presence read under key `at` only if it is whole, is for that key, comes from the
 * daemon its member key gives, is vouched for by a trusted member until a time not passed, and
 * is signed by its session key.
 */
export function believeRemotePresence(
  raw: unknown,
  at: { readonly mesh: string; readonly daemon: string; readonly session: string },
  now: number,
  trust: PresenceTrust,
): Believed {
  if (!isRecord(raw) || raw.v !== 1) return refuse("malformed", "not a v1 presence object");
  const shown = checkShown(raw);
  if (shown !== undefined) return refuse("malformed", shown);
  const att = raw.parent_attestation;
  if (
    typeof raw.daemon !== "string" ||
    typeof raw.host !== "string" ||
    !HOSTNAME.test(raw.host) ||
    !Number.isSafeInteger(raw.registered_at) ||
    !Number.isSafeInteger(raw.published_at) ||
    !isKeyHex(raw.session_pubkey) ||
    !isSealingKey(raw.sealing_pubkey) ||
    typeof raw.signature !== "string" ||
    typeof raw.x25519_signature !== "string" ||
    !isRecord(att) ||
    !isKeyHex(att.session_pubkey) ||
    !isKeyHex(att.parent_member_pubkey) ||
    !Number.isSafeInteger(att.expires_at) ||
    typeof att.signature !== "string"
  ) {
    return refuse("malformed", "a field is missing or of the wrong shape");
  }
  const p = raw as unknown as RemotePresence;
  if (p.mesh !== at.mesh || p.session_id !== at.session || p.daemon !== at.daemon) {
    return refuse("key_mismatch", "its mesh, daemon or session id is not the key it was published under");
  }
  if (daemonIdOf(p.parent_attestation.parent_member_pubkey) !== p.daemon) {
    return refuse("daemon_mismatch", "its daemon id is not the one its member key gives");
  }
  if (p.published_at > now + MAX_CLOCK_SKEW_MS) return refuse("from_the_future", "published ahead of this clock");
  if (p.parent_attestation.session_pubkey !== p.session_pubkey) {
    return refuse("bad_attestation", "the attestation is of another session key");
  }
  const broken = checkAttestation(p.parent_attestation, { mesh: p.mesh, sessionId: p.session_id }, now, trust);
  if (broken !== undefined) {
    const reason: PresenceRefusal =
      broken.field === "parent_member_pubkey"
        ? "untrusted_member"
        : broken.field === "expires_at" && p.parent_attestation.expires_at <= now
          ? "expired"
          : "bad_attestation";
    return refuse(reason, `parent_attestation.${broken.field} ${broken.rule}`);
  }
  const { signature, ...unsigned } = p;
  if (!verifyText(p.session_pubkey, presenceText(unsigned), signature)) {
    return refuse("bad_signature", "the session key's signature does not verify");
  }
  if (!verifyText(p.session_pubkey, x25519BindingText(p.sealing_pubkey), p.x25519_signature)) {
    return refuse("bad_signature", "the session key's x25519_signature does not verify");
  }
  return { ok: true, presence: p };
}

/** How long a believed presence may stand without a newer copy: until its attestation expires. */
export function presenceExpiry(p: RemotePresence): number {
  return Math.min(p.parent_attestation.expires_at, p.published_at + ATTESTATION.maxLifetimeMs);
}
