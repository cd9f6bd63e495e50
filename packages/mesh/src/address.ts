// Addresses and who they reach. Pure.
//
//   a session id   that session, live or not (a known id that is not live gets the message queued)
//   a name         the one live session with that display name; several → ambiguous
//   @group         every live session in the group
//   role:NAME      anycast: exactly one live session with the role, the one with the fewest
//                  unread messages, then the oldest
//   *              every live session of the mesh
// The sender never receives its own message through a name, group, role or `*`; only an explicit
// session id may address oneself.
import { FieldError, type Parsed } from "@claudemesh/registry";

export type Address =
  | { readonly kind: "broadcast" }
  | { readonly kind: "group"; readonly group: string }
  | { readonly kind: "role"; readonly role: string }
  /** A session id or a display name: which one is decided against the live sessions. */
  | { readonly kind: "direct"; readonly name: string };

export const ADDRESS_MAX = 128;
const NON_PRINTABLE = /[\p{Cc}\p{Cs}]/u;

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function parseAddress(to: unknown): Parsed<Address> {
  const fail = (rule: string): Parsed<Address> => ({ ok: false, error: new FieldError("to", rule) });
  if (typeof to !== "string") return fail("must be a string: a session id, a name, @group, role:NAME or *");
  const n = codePoints(to);
  if (n < 1 || n > ADDRESS_MAX) return fail(`must be 1–${ADDRESS_MAX} characters`);
  if (NON_PRINTABLE.test(to)) return fail("must contain only printable characters");
  if (to === "*") return { ok: true, value: { kind: "broadcast" } };
  if (to.startsWith("@")) {
    const group = to.slice(1);
    if (group.length === 0 || codePoints(group) > 64) return fail("@group needs a group name of 1–64 characters");
    return { ok: true, value: { kind: "group", group } };
  }
  if (to.startsWith("role:")) {
    const role = to.slice(5);
    if (role.length === 0 || codePoints(role) > 64) return fail("role:NAME needs a role of 1–64 characters");
    return { ok: true, value: { kind: "role", role } };
  }
  return { ok: true, value: { kind: "direct", name: to } };
}

/** A live session of the sender's mesh, as addressing sees it. */
export interface PeerCandidate {
  readonly session_id: string;
  readonly display_name: string;
  readonly role?: string;
  readonly groups?: readonly string[];
  readonly registered_at: number;
}

/** A session id that is not live but has been, so messages to it wait for its return. */
export interface KnownRecipient {
  readonly session_id: string;
  readonly display_name: string;
}

export type Resolution =
  | { readonly kind: "recipients"; readonly live: readonly PeerCandidate[]; readonly queued: readonly KnownRecipient[] }
  | { readonly kind: "unknown"; readonly message: string }
  | { readonly kind: "ambiguous"; readonly message: string; readonly candidates: readonly PeerCandidate[] };

export interface ResolveContext {
  readonly mesh: string;
  /** Live sessions of the mesh, oldest first (asked for only when an address needs them all). */
  live(): readonly PeerCandidate[];
  /** The live session of the mesh with this id: a session id needs no list. */
  byId(sessionId: string): PeerCandidate | undefined;
  /** The sending session, or null for the member sending from a plain shell. */
  readonly senderSessionId: string | null;
  /** Messages not yet surfaced for a session (anycast picks the least loaded). */
  unread(sessionId: string): number;
  /** A session id of this mesh that is not live, if it has been. */
  known(sessionId: string): KnownRecipient | undefined;
}

const found = (live: readonly PeerCandidate[], queued: readonly KnownRecipient[] = []): Resolution => ({
  kind: "recipients",
  live,
  queued,
});

export function resolveAddress(address: Address, ctx: ResolveContext): Resolution {
  const none = (message: string): Resolution => ({ kind: "unknown", message });
  if (address.kind === "direct") {
    const byId = ctx.byId(address.name);
    if (byId !== undefined) return found([byId]);
  }
  const others = ctx.live().filter((s) => s.session_id !== ctx.senderSessionId);
  switch (address.kind) {
    case "broadcast":
      return others.length > 0 ? found(others) : none(`no other live session in mesh ${ctx.mesh}`);
    case "group": {
      const members = others.filter((s) => s.groups?.includes(address.group));
      return members.length > 0 ? found(members) : none(`no live session in group @${address.group}`);
    }
    case "role": {
      const holders = others.filter((s) => s.role === address.role);
      if (holders.length === 0) return none(`no live session with role ${address.role}`);
      const chosen = holders.reduce((best, s) => {
        const a = ctx.unread(s.session_id);
        const b = ctx.unread(best.session_id);
        if (a !== b) return a < b ? s : best;
        if (s.registered_at !== best.registered_at) return s.registered_at < best.registered_at ? s : best;
        return s.session_id < best.session_id ? s : best;
      });
      return found([chosen]);
    }
    case "direct": {
      const named = others.filter((s) => s.display_name === address.name);
      if (named.length === 1) return found(named);
      if (named.length > 1) {
        return {
          kind: "ambiguous",
          message: `${named.length} live sessions are named ${JSON.stringify(address.name)} in mesh ${ctx.mesh}; address one by its session id`,
          candidates: named,
        };
      }
      const known = ctx.known(address.name);
      if (known !== undefined) return found([], [known]);
      if (ctx.live().some((s) => s.session_id === ctx.senderSessionId && s.display_name === address.name)) {
        return none(
          `the only live session named ${JSON.stringify(address.name)} in mesh ${ctx.mesh} is the sender; address it by its session id to send to itself`,
        );
      }
      return none(`no live session, known session id or name ${JSON.stringify(address.name)} in mesh ${ctx.mesh}`);
    }
  }
}
