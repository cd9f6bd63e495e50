// The remote sessions of one mesh a daemon believes live: each from a verified presence
// (remote-presence.ts), kept until its daemon deletes it, its daemon is found dead, or it is not
// refreshed by its deadline (the caller then confirms with the bucket before dropping it: a
// bucket TTL removes keys without telling watchers). Sessions that went are remembered for a
// while (bounded), so that a receipt for a message to one of them can still be checked.
// Bounded against a member that puts presences as fast as the server takes them: at most
// `maxPerDaemon` sessions of one daemon id and `maxPeers` in all, a newer copy that shows nothing
// new is a refresh (no change to tell anyone about).
// Pure: the clock is passed in; the caller does the NATS side.
import { fingerprint } from "./keys.js";
import type { RemotePresence } from "./remote-presence.js";
import type { MeshPeer } from "./service.js";

/** A remote session as addressing and delivery see it, with what sealing and receipts need. */
export interface RemotePeer {
  readonly presence: RemotePresence;
  readonly peer: MeshPeer;
  /** When it must be refreshed by (or confirmed in the bucket). */
  readonly deadline: number;
}

/**
 * What a presence did: `refreshed` is a newer copy showing the same (only its deadline moved);
 * `too_many_sessions` and `too_many_peers` a new session over a cap, not kept.
 */
export type Applied = "added" | "updated" | "refreshed" | "stale" | "too_many_sessions" | "too_many_peers";

export interface RemoteDirectoryOptions {
  /** How long a presence stands without a newer copy. */
  readonly staleAfterMs?: number;
  /** How many departed sessions are remembered. */
  readonly rememberMax?: number;
  /** How many live sessions one daemon id may hold here. */
  readonly maxPerDaemon?: number;
  /** How many live remote sessions the mesh may hold here, of every daemon. */
  readonly maxPeers?: number;
}

/**
 * A presence is refreshed every 5 s: one not refreshed for 12 s (two refreshes missed, and some
 * slack) is overdue, so a daemon that vanished without closing its connection is dropped 7–13 s
 * after its last refresh.
 */
export const REMOTE_DIRECTORY_DEFAULTS = {
  staleAfterMs: 12_000,
  rememberMax: 10_000,
  maxPerDaemon: 1_000,
  maxPeers: 10_000,
} as const;

/** What a presence shows and seals with: a copy equal in these is a refresh. */
function sameShown(x: RemotePresence, y: RemotePresence): boolean {
  return (
    x.daemon === y.daemon &&
    x.host === y.host &&
    x.display_name === y.display_name &&
    x.role === y.role &&
    x.status === y.status &&
    x.summary === y.summary &&
    x.inbound === y.inbound &&
    x.registered_at === y.registered_at &&
    x.session_pubkey === y.session_pubkey &&
    x.sealing_pubkey === y.sealing_pubkey &&
    x.parent_attestation.parent_member_pubkey === y.parent_attestation.parent_member_pubkey &&
    x.parent_attestation.expires_at === y.parent_attestation.expires_at &&
    x.groups.length === y.groups.length &&
    x.groups.every((g, i) => g === y.groups[i])
  );
}

function peerOf(p: RemotePresence): MeshPeer {
  return {
    session_id: p.session_id,
    display_name: p.display_name,
    registered_at: p.registered_at,
    mesh: p.mesh,
    inbound: p.inbound,
    origin: "remote",
    ...(p.role !== null && { role: p.role }),
    ...(p.groups.length > 0 && { groups: p.groups }),
  };
}

export class RemoteDirectory {
  readonly #staleAfterMs: number;
  readonly #rememberMax: number;
  readonly #maxPerDaemon: number;
  readonly #maxPeers: number;
  readonly #live = new Map<string, RemotePeer>();
  /** Daemon id → how many live sessions it holds here. */
  readonly #perDaemon = new Map<string, number>();
  /** Session id → the last presence of a session that went (oldest first). */
  readonly #gone = new Map<string, RemotePresence>();

  constructor(options: RemoteDirectoryOptions = {}) {
    this.#staleAfterMs = options.staleAfterMs ?? REMOTE_DIRECTORY_DEFAULTS.staleAfterMs;
    this.#rememberMax = options.rememberMax ?? REMOTE_DIRECTORY_DEFAULTS.rememberMax;
    this.#maxPerDaemon = options.maxPerDaemon ?? REMOTE_DIRECTORY_DEFAULTS.maxPerDaemon;
    this.#maxPeers = options.maxPeers ?? REMOTE_DIRECTORY_DEFAULTS.maxPeers;
  }
  /** The most sessions of one daemon id it holds. */
  get maxPerDaemon(): number {
    return this.#maxPerDaemon;
  }

  #countDaemon(daemon: string, by: 1 | -1): void {
    const n = (this.#perDaemon.get(daemon) ?? 0) + by;
    if (n > 0) this.#perDaemon.set(daemon, n);
    else this.#perDaemon.delete(daemon);
  }

  get size(): number {
    return this.#live.size;
  }

  /**
   * Takes a verified presence; an older copy than the one held is `stale` and changes nothing, and
   * a new session over a cap is not kept (the sessions already held stay).
   */
  apply(presence: RemotePresence, now: number): Applied {
    const held = this.#live.get(presence.session_id);
    if (held !== undefined && held.presence.published_at > presence.published_at) return "stale";
    const moved = held !== undefined && held.presence.daemon !== presence.daemon;
    if (held === undefined || moved) {
      if ((this.#perDaemon.get(presence.daemon) ?? 0) >= this.#maxPerDaemon) return "too_many_sessions";
      if (held === undefined && this.#live.size >= this.#maxPeers) return "too_many_peers";
    }
    const refreshed = held !== undefined && sameShown(held.presence, presence);
    // A session id moving to another daemon is a re-launch there: the newer copy wins.
    this.#live.set(presence.session_id, {
      presence,
      peer: refreshed ? held.peer : peerOf(presence),
      deadline: now + this.#staleAfterMs,
    });
    if (held === undefined || moved) {
      if (moved) this.#countDaemon(held.presence.daemon, -1);
      this.#countDaemon(presence.daemon, 1);
    }
    this.#gone.delete(presence.session_id);
    return held === undefined ? "added" : refreshed ? "refreshed" : "updated";
  }

  /** How many live sessions a daemon holds here. */
  sessionsOf(daemon: string): number {
    return this.#perDaemon.get(daemon) ?? 0;
  }

  /** Drops a session (its key was deleted, or it was confirmed gone); the presence it had. */
  remove(sessionId: string, daemon?: string): RemotePresence | undefined {
    const held = this.#live.get(sessionId);
    if (held === undefined || (daemon !== undefined && held.presence.daemon !== daemon)) return undefined;
    this.#live.delete(sessionId);
    this.#countDaemon(held.presence.daemon, -1);
    this.#gone.set(sessionId, held.presence);
    while (this.#gone.size > this.#rememberMax) this.#gone.delete(this.#gone.keys().next().value as string);
    return held.presence;
  }

  /** Drops every session of a daemon found dead; the presences they had. */
  removeDaemon(daemon: string): RemotePresence[] {
    const removed: RemotePresence[] = [];
    for (const [id, held] of [...this.#live]) {
      if (held.presence.daemon === daemon) removed.push(this.remove(id) as RemotePresence);
    }
    return removed;
  }

  /** Every session, of every daemon, refreshed by nobody by `now`: the caller confirms each. */
  overdue(now: number): RemotePresence[] {
    return [...this.#live.values()].filter((h) => h.deadline <= now).map((h) => h.presence);
  }

  /** Pushes a deadline on by `forMs` (while a confirmation is on its way). */
  extend(sessionId: string, now: number, forMs: number = this.#staleAfterMs): void {
    const held = this.#live.get(sessionId);
    if (held !== undefined) this.#live.set(sessionId, { ...held, deadline: now + forMs });
  }

  get(sessionId: string): RemotePeer | undefined {
    return this.#live.get(sessionId);
  }

  /** The presence a session had, live or remembered after it went. */
  lastPresence(sessionId: string): RemotePresence | undefined {
    return this.#live.get(sessionId)?.presence ?? this.#gone.get(sessionId);
  }

  /** Live sessions, oldest registration first. */
  list(): RemotePeer[] {
    return [...this.#live.values()].sort((a, b) => a.peer.registered_at - b.peer.registered_at);
  }

  /** The daemons holding live sessions. */
  daemons(): Set<string> {
    return new Set(this.#perDaemon.keys());
  }

  /** Forgets everything live (the mesh was unbound); the presences it had. */
  clear(): RemotePresence[] {
    return [...this.#live.keys()].map((id) => this.remove(id) as RemotePresence);
  }
}

/**
 * A remote session as `peers` and the event stream show it: what its presence publishes, no pid,
 * no cwd, no token prefix (those stay on its own machine), with `origin: remote` and its host.
 */
export interface RemoteSessionView {
  readonly session_id: string;
  readonly mesh: string;
  readonly display_name: string;
  readonly role?: string;
  readonly groups?: readonly string[];
  readonly registered_at: number;
  readonly session_pubkey: string;
  readonly member_fingerprint: string;
  readonly attestation_expires_at: number;
  readonly summary: string | null;
  readonly status: RemotePresence["status"];
  readonly inbound: RemotePresence["inbound"];
  readonly origin: "remote";
  readonly host: string;
}

export function toRemoteSession(p: RemotePresence): RemoteSessionView {
  return {
    session_id: p.session_id,
    mesh: p.mesh,
    display_name: p.display_name,
    ...(p.role !== null && { role: p.role }),
    ...(p.groups.length > 0 && { groups: p.groups }),
    registered_at: p.registered_at,
    session_pubkey: p.session_pubkey,
    member_fingerprint: fingerprint(p.parent_attestation.parent_member_pubkey),
    attestation_expires_at: p.parent_attestation.expires_at,
    summary: p.summary,
    status: p.status,
    inbound: p.inbound,
    origin: "remote",
    host: p.host,
  };
}
