// The in-memory session registry: two indexes kept consistent, and an event for every change.
// Pure: the clock is injected, nothing here touches the file system or the process table.
import {
  type Registration,
  type SessionPatch,
  type SessionPresence,
  type SessionRecord,
  toStoredSession,
} from "./model.js";
import { hashToken, tokenPrefix } from "./token.js";

/** Why a session was removed. */
export type RemovalReason = "replaced" | "exited" | "pid_reused" | "deregistered";

/**
 * Why a live session changed: it set its summary, status or inbound policy (`updated`), or it got
 * a new presence (`presence`: a fresh key after a restore, or a renewed attestation). Only
 * `updated` changes what is persisted.
 */
export type UpdateReason = "updated" | "presence";

/**
 * A change. `session` is the record, its presence (secret key included) with it, so that what
 * subscribes here (the daemon's mesh code, a transport to other machines) can act on it;
 * `tokenHash` names the entry for persistence (the daemon's journal). Anything sent to clients is
 * built from `type`, `reason` and toSession(`session`) alone.
 */
export type RegistryEvent =
  | {
      readonly type: "session_registered";
      readonly reason: "registered";
      readonly session: SessionRecord;
      readonly tokenHash: string;
    }
  | {
      readonly type: "session_updated";
      readonly reason: UpdateReason;
      readonly session: SessionRecord;
      readonly tokenHash: string;
    }
  | {
      readonly type: "session_deregistered";
      readonly reason: RemovalReason;
      readonly session: SessionRecord;
      readonly tokenHash: string;
    };

export type RegistryListener = (event: RegistryEvent) => void;

/** A stored session with the hash of its token. The raw token is never kept. */
export interface RegistryEntry {
  readonly tokenHash: string;
  readonly session: SessionRecord;
}

/**
 * What the reaper sees of an entry. `revision` changes whenever the entry does, so a decision
 * taken on a snapshot can be checked against the live entry before it is applied.
 */
export interface EntrySnapshot {
  readonly tokenHash: string;
  readonly revision: number;
  readonly pid: number;
  readonly startTime: string | null;
}

export interface RegisterResult {
  readonly session: SessionRecord;
  /** True when the session id was held by another token whose entry this one replaced. */
  readonly replaced: boolean;
}

export interface RegistryOptions {
  now?: () => number;
  /** Called when a listener throws; the registry itself carries on regardless. */
  onListenerError?: (error: unknown, event: RegistryEvent) => void;
}

interface MutableEntry {
  tokenHash: string;
  session: SessionRecord;
  revision: number;
}

/** A record from its stored fields and a presence: a frozen copy that shares nothing mutable. */
function record(session: SessionRecord, presence: SessionPresence | undefined): SessionRecord {
  const stored = toStoredSession(session);
  return Object.freeze(presence === undefined ? stored : { ...stored, presence });
}

export class SessionRegistry {
  // Insertion order of this map is registration order: list() walks it, oldest first.
  readonly #byTokenHash = new Map<string, MutableEntry>();
  readonly #bySessionId = new Map<string, MutableEntry>();
  readonly #listeners = new Set<RegistryListener>();
  readonly #now: () => number;
  readonly #onListenerError: (error: unknown, event: RegistryEvent) => void;
  #nextRevision = 1;
  #generation = 0;

  constructor(options: RegistryOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#onListenerError = options.onListenerError ?? (() => {});
  }

  get size(): number {
    return this.#byTokenHash.size;
  }

  /** Changes whenever any entry is added, updated or removed: a cheap key for caches of lists. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Registers a session. The same token registering again updates its entry in place (keeping
   * its age, and its summary, status and inbound policy unless the registration sets them); a
   * session id held by another token replaces that other entry.
   */
  register(registration: Registration, startTime: string | null): RegisterResult {
    const tokenHash = hashToken(registration.token);
    const own = this.#byTokenHash.get(tokenHash);
    const holder = this.#bySessionId.get(registration.session_id);
    let replaced = false;
    if (holder !== undefined && holder !== own) {
      this.#remove(holder, "replaced");
      replaced = true;
    }
    const summary = registration.summary ?? own?.session.summary;
    const inbound = registration.inbound ?? own?.session.inbound;
    const status = own?.session.status;
    const session = record(
      {
        session_id: registration.session_id,
        mesh: registration.mesh,
        display_name: registration.display_name,
        pid: registration.pid,
        ...(registration.cwd !== undefined && { cwd: registration.cwd }),
        ...(registration.role !== undefined && { role: registration.role }),
        ...(registration.groups !== undefined && { groups: registration.groups }),
        start_time: startTime,
        registered_at: own?.session.registered_at ?? this.#now(),
        token_prefix: tokenPrefix(registration.token),
        ...(summary !== undefined && { summary }),
        ...(status !== undefined && { status }),
        ...(inbound !== undefined && { inbound }),
      },
      // An attestation names its session id and mesh: it survives a re-registration only with both.
      registration.presence ??
        (own?.session.session_id === registration.session_id && own.session.mesh === registration.mesh
          ? own.session.presence
          : undefined),
    );
    if (own !== undefined) {
      if (own.session.session_id !== session.session_id) this.#bySessionId.delete(own.session.session_id);
      own.session = session;
      own.revision = this.#nextRevision++;
      this.#generation++;
      this.#bySessionId.set(session.session_id, own);
    } else {
      this.#insert({ tokenHash, session, revision: this.#nextRevision++ });
    }
    this.#emit({ type: "session_registered", reason: "registered", session, tokenHash });
    return { session, replaced };
  }

  /**
   * Puts back an entry read from persistence, with the presence it is given (a restored session
   * gets a fresh one). Refuses one that clashes with an existing entry.
   */
  restore(entry: RegistryEntry): boolean {
    if (this.#byTokenHash.has(entry.tokenHash) || this.#bySessionId.has(entry.session.session_id)) return false;
    this.#insert({
      tokenHash: entry.tokenHash,
      session: record(entry.session, entry.session.presence),
      revision: this.#nextRevision++,
    });
    return true;
  }

  /** The live session of a token, its presence included. */
  resolve(token: string): SessionRecord | undefined {
    return this.#byTokenHash.get(hashToken(token))?.session;
  }

  get(sessionId: string): SessionRecord | undefined {
    return this.#bySessionId.get(sessionId)?.session;
  }

  /** Applies what a session changes about itself. Returns the new record, or undefined for an unknown token. */
  update(token: string, patch: SessionPatch): SessionRecord | undefined {
    const entry = this.#byTokenHash.get(hashToken(token));
    if (entry === undefined) return undefined;
    const { presence, ...current } = entry.session;
    const next = record({ ...current, ...patch }, presence);
    // A hook sets `working` on every prompt: saying again what is already so changes nothing,
    // wakes no watcher and writes no journal line.
    const same = next.summary === current.summary && next.status === current.status && next.inbound === current.inbound;
    if (!same) this.#replace(entry, next, "updated");
    return entry.session;
  }

  /**
   * Gives a live session a new presence (a fresh key, a renewed attestation), unless its entry
   * changed since `expected` was read (records are replaced on every change, so identity is the
   * test; whoever changed it decided its presence). Returns whether it was applied.
   */
  setPresence(expected: SessionRecord, presence: SessionPresence): boolean {
    const entry = this.#bySessionId.get(expected.session_id);
    if (entry === undefined || entry.session !== expected) return false;
    this.#replace(entry, record(entry.session, presence), "presence");
    return true;
  }

  /** Removes the session of this token. Returns it, or undefined when the token is unknown. */
  deregister(token: string): SessionRecord | undefined {
    const entry = this.#byTokenHash.get(hashToken(token));
    if (entry === undefined) return undefined;
    this.#remove(entry, "deregistered");
    return entry.session;
  }

  /** Sessions oldest first, optionally only those of one mesh. */
  list(filter: { mesh?: string } = {}): SessionRecord[] {
    const out: SessionRecord[] = [];
    for (const entry of this.#byTokenHash.values()) {
      if (filter.mesh === undefined || entry.session.mesh === filter.mesh) out.push(entry.session);
    }
    return out;
  }

  /** Every entry with its token hash, oldest first: what the persistence codec stores. */
  entries(): RegistryEntry[] {
    return Array.from(this.#byTokenHash.values(), (e) => ({ tokenHash: e.tokenHash, session: e.session }));
  }

  snapshot(): EntrySnapshot[] {
    return Array.from(this.#byTokenHash.values(), (e) => ({
      tokenHash: e.tokenHash,
      revision: e.revision,
      pid: e.session.pid,
      startTime: e.session.start_time,
    }));
  }

  /**
   * Removes the entry only if it is still exactly the one the snapshot saw. A session that was
   * re-registered or replaced since then is left alone: its new process was never probed.
   */
  removeIfUnchanged(snapshot: EntrySnapshot, reason: RemovalReason): boolean {
    const entry = this.#byTokenHash.get(snapshot.tokenHash);
    if (entry === undefined || entry.revision !== snapshot.revision) return false;
    this.#remove(entry, reason);
    return true;
  }

  subscribe(listener: RegistryListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #insert(entry: MutableEntry): void {
    this.#generation++;
    this.#byTokenHash.set(entry.tokenHash, entry);
    this.#bySessionId.set(entry.session.session_id, entry);
  }

  #replace(entry: MutableEntry, session: SessionRecord, reason: UpdateReason): void {
    entry.session = session;
    entry.revision = this.#nextRevision++;
    this.#generation++;
    this.#emit({ type: "session_updated", reason, session, tokenHash: entry.tokenHash });
  }

  #remove(entry: MutableEntry, reason: RemovalReason): void {
    this.#generation++;
    this.#byTokenHash.delete(entry.tokenHash);
    this.#bySessionId.delete(entry.session.session_id);
    this.#emit({ type: "session_deregistered", reason, session: entry.session, tokenHash: entry.tokenHash });
  }

  #emit(event: RegistryEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        try {
          this.#onListenerError(error, event);
        } catch {
          // An error reporter that throws must not break the registry either.
        }
      }
    }
  }
}
