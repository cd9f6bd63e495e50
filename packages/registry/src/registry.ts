// The in-memory session registry: two indexes kept consistent, and an event for every change.
// Pure: the clock is injected, nothing here touches the file system or the process table.
import { type Registration, type Session, toSession } from "./model.js";
import { hashToken, tokenPrefix } from "./token.js";

/** Why a session was removed. */
export type RemovalReason = "replaced" | "exited" | "pid_reused" | "deregistered";

/**
 * A change. `tokenHash` names the entry for persistence (the daemon's journal); anything sent to
 * clients is built from `type`, `reason` and `session` alone.
 */
export type RegistryEvent =
  | {
      readonly type: "session_registered";
      readonly reason: "registered";
      readonly session: Session;
      readonly tokenHash: string;
    }
  | {
      readonly type: "session_deregistered";
      readonly reason: RemovalReason;
      readonly session: Session;
      readonly tokenHash: string;
    };

export type RegistryListener = (event: RegistryEvent) => void;

/** A stored session with the hash of its token. The raw token is never kept. */
export interface RegistryEntry {
  readonly tokenHash: string;
  readonly session: Session;
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
  readonly session: Session;
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
  session: Session;
  revision: number;
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
   * its age); a session id held by another token replaces that other entry.
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
    const session = toSession({
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
    });
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

  /** Puts back an entry read from persistence. Refuses one that clashes with an existing entry. */
  restore(entry: RegistryEntry): boolean {
    if (this.#byTokenHash.has(entry.tokenHash) || this.#bySessionId.has(entry.session.session_id)) return false;
    this.#insert({ tokenHash: entry.tokenHash, session: toSession(entry.session), revision: this.#nextRevision++ });
    return true;
  }

  resolve(token: string): Session | undefined {
    return this.#byTokenHash.get(hashToken(token))?.session;
  }

  get(sessionId: string): Session | undefined {
    return this.#bySessionId.get(sessionId)?.session;
  }

  /** Removes the session of this token. Returns it, or undefined when the token is unknown. */
  deregister(token: string): Session | undefined {
    const entry = this.#byTokenHash.get(hashToken(token));
    if (entry === undefined) return undefined;
    this.#remove(entry, "deregistered");
    return entry.session;
  }

  /** Sessions oldest first, optionally only those of one mesh. */
  list(filter: { mesh?: string } = {}): Session[] {
    const out: Session[] = [];
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
