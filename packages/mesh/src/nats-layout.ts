// Where a mesh bound to a NATS server keeps things on that server: subjects, the message stream
// and its consumers, the presence bucket and its keys. Pure: names only, no connection.
//
//   presence   KV bucket `claudemesh_presence`, key `<mesh>.<daemon>.<session>`, one signed
//              presence per live session; a watcher of `<mesh>.>` sees a mesh's sessions come
//              and go.
//   messages   stream `CLAUDEMESH_MESSAGES` (Limits retention: it keeps its dedupe state across a
//              server restart, where WorkQueue lost it) over `cm.*.to.>`:
//                cm.<mesh>.to.<daemon>.s.<session>   a sealed message for one session
//                cm.<mesh>.to.<daemon>.r             receipts (delivered, surfaced, acked) for
//                                                    messages that daemon sent
//              and one durable consumer per receiving daemon and mesh, filtered on
//              `cm.<mesh>.to.<daemon>.>`: a daemon that was away finds what it missed.
//   liveness   `cm.<mesh>.ping.<daemon>`: a request that "no responders" answers at once when the
//              daemon's connection is gone, well before any presence expires.
//   replies    `_INBOX.<daemon>.>`: every reply to one daemon's connection.
//
// Everything under `cm.` and the bucket: a daemon's permissions are a short allowlist (the
// operator's guide lists it). Mesh names may contain dots, and session ids dots and colons,
// which NATS reads as separators (KV keys refuse colons): `token` maps them injectively onto
// characters neither may contain.

import { createHash } from "node:crypto";

export const MESSAGE_STREAM = "CLAUDEMESH_MESSAGES";
export const MESSAGE_STREAM_SUBJECTS = "cm.*.to.>";
export const PRESENCE_BUCKET = "claudemesh_presence";

/** Characters a mesh name or session id may hold that a NATS subject token or KV key may not. */
const ESCAPES: Readonly<Record<string, string>> = { ".": "=", ":": "/" };
const UNESCAPES: Readonly<Record<string, string>> = { "=": ".", "/": ":" };

/** A mesh name or session id as one subject token and KV key segment. */
export function token(value: string): string {
  if (value === "" || /[\s*>=/]/.test(value)) {
    throw new RangeError(`cannot be a NATS subject token: ${JSON.stringify(value)}`);
  }
  return value.replace(/[.:]/g, (c) => ESCAPES[c] as string);
}

/** The inverse of `token`. */
export function untoken(value: string): string {
  return value.replace(/[=/]/g, (c) => UNESCAPES[c] as string);
}

/** A daemon's id on the server: 16 hex characters, from its member key's fingerprint digest. */
const DAEMON_ID = /^[0-9a-f]{16}$/;

/** The id of the daemon whose member key this is: the same key, the same id, across restarts. */
export function daemonIdOf(memberPublicKeyHex: string): string {
  return createHash("sha256").update(Buffer.from(memberPublicKeyHex, "hex")).digest("hex").slice(0, 16);
}

export function isDaemonId(value: string): boolean {
  return DAEMON_ID.test(value);
}

function daemon(id: string): string {
  if (!isDaemonId(id)) throw new RangeError(`not a daemon id: ${JSON.stringify(id)}`);
  return id;
}

export function messageSubject(mesh: string, daemonId: string, sessionId: string): string {
  return `cm.${token(mesh)}.to.${daemon(daemonId)}.s.${token(sessionId)}`;
}

export function receiptSubject(mesh: string, daemonId: string): string {
  return `cm.${token(mesh)}.to.${daemon(daemonId)}.r`;
}

/** What one daemon's consumer of a mesh receives: its sessions' messages and its receipts. */
export function inboundFilter(mesh: string, daemonId: string): string {
  return `cm.${token(mesh)}.to.${daemon(daemonId)}.>`;
}

/** The durable consumer's name: no dots, stars, `>` or slashes (NATS refuses them there). */
export function consumerName(mesh: string, daemonId: string): string {
  return `cm_${token(mesh).replaceAll("/", "_")}_${daemon(daemonId)}`;
}

export function pingSubject(mesh: string, daemonId: string): string {
  return `cm.${token(mesh)}.ping.${daemon(daemonId)}`;
}

/**
 * Where a daemon's connection takes its reply subjects (`<prefix>.<random>`): replies to one
 * daemon (API answers, publish acks, pulled messages, watch deliveries) under a prefix of its
 * own, so that one daemon's allowlist lets it subscribe to its own replies and no one else's.
 */
export function inboxPrefix(daemonId: string): string {
  return `_INBOX.${daemon(daemonId)}`;
}

export function presenceKey(mesh: string, daemonId: string, sessionId: string): string {
  return `${token(mesh)}.${daemon(daemonId)}.${token(sessionId)}`;
}

/** The watch filter for one mesh's presence keys. */
export function presenceFilter(mesh: string): string {
  return `${token(mesh)}.>`;
}

export type Routed =
  | { readonly kind: "message"; readonly mesh: string; readonly daemon: string; readonly session: string }
  | { readonly kind: "receipt"; readonly mesh: string; readonly daemon: string };

/** Reads a subject of the message stream back; undefined for anything this layout does not make. */
export function parseStreamSubject(subject: string): Routed | undefined {
  const parts = subject.split(".");
  if (parts[0] !== "cm" || parts[2] !== "to" || !isDaemonId(parts[3] ?? "")) return undefined;
  const mesh = untoken(parts[1] ?? "");
  const daemonId = parts[3] as string;
  if (mesh === "") return undefined;
  if (parts.length === 6 && parts[4] === "s" && parts[5] !== "") {
    return { kind: "message", mesh, daemon: daemonId, session: untoken(parts[5] as string) };
  }
  if (parts.length === 5 && parts[4] === "r") return { kind: "receipt", mesh, daemon: daemonId };
  return undefined;
}

/** Reads a presence key back; undefined for a key this layout does not make. */
export function parsePresenceKey(key: string): { mesh: string; daemon: string; session: string } | undefined {
  const parts = key.split(".");
  if (parts.length !== 3 || !isDaemonId(parts[1] as string) || parts[0] === "" || parts[2] === "") return undefined;
  return { mesh: untoken(parts[0] as string), daemon: parts[1] as string, session: untoken(parts[2] as string) };
}
