// Presence of one bound mesh in the bucket (nats-layout.ts): this daemon's sessions put under
// `<mesh>.<self>.<session>` (signed, no pid, no cwd), refreshed every 5 s, deleted when they go;
// every other daemon's keys watched, each verified before it is believed, each given a deadline
// that a refresh pushes on. An overdue key is confirmed with a `get` before it is dropped: the
// bucket's TTL removes keys without telling watchers, and a slow watcher must not drop the live.

import { createHash } from "node:crypto";
import {
  believeRemotePresence,
  PRESENCE_BUCKET,
  type PresenceRefusal,
  type PresenceTrust,
  parsePresenceKey,
  presenceFilter,
  presenceKey,
  type RemoteDirectory,
  type RemotePresence,
  readPresenceValue,
  signingKeyFromSeed,
  signRemotePresence,
} from "@claudemesh/mesh";
import { forAwaitSliced, type RegistryEvent, type SessionRecord, type SessionRegistry } from "@claudemesh/registry";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { SLICE_MS, withReplicas } from "./inbound.js";
import type { LinkLogger } from "./link.js";
import { loadKv } from "./load.js";
import { RefusalLog } from "./refusal-log.js";
import type { SealingKeys } from "./sealing-keys.js";

/** The refresh period is served in this many slices. */
const REFRESH_SLICES = 5;

export const PRESENCE_TIMINGS = { refreshMs: 5_000, bucketTtlMs: 15_000, checkEveryMs: 1_000, graceMs: 3_000 } as const;

export type RemoteChange = "added" | "updated" | "removed";
/** Why a remote session was dropped: its key deleted (it went, or its daemon stopped cleanly), not
 * refreshed and gone from the bucket, its daemon found dead, or the mesh unbound here. */
export type RemovalCause = "deleted" | "expired" | "dead_daemon" | "unbound";

export interface PresenceSyncOptions {
  readonly mesh: string;
  readonly self: string;
  readonly host: string;
  readonly registry: SessionRegistry;
  readonly sealing: SealingKeys;
  readonly trust: PresenceTrust;
  readonly directory: RemoteDirectory;
  readonly logger: LinkLogger;
  readonly now?: () => number;
  readonly refreshMs?: number;
  readonly bucketTtlMs?: number;
  readonly checkEveryMs?: number;
  /** After our own (re)connect, how long before an unrefreshed key is judged: peers republish first. */
  readonly graceMs?: number;
  /** A remote session came, changed or went. */
  readonly onRemote: (change: RemoteChange, presence: RemotePresence, cause?: RemovalCause) => void;
  readonly onRefused: (reason: PresenceRefusal) => void;
  /**
   * Asks a daemon found dead whether it is back (one liveness ping): true when it answered or
   * could not be judged. Without it, a dead daemon's presences are believed at once.
   */
  readonly isAlive?: (daemon: string) => Promise<boolean>;
}

/**
 * A presence whose content has not changed is re-put as it was signed, for at most this long; then
 * signed anew, so that its `published_at` stays well inside the 24 h a presence is believed for.
 */
const RESIGN_AFTER_MS = 3_600_000;

const digestOf = (value: Uint8Array): string => createHash("sha256").update(value).digest("base64");

/** How long after a "still gone" answer a dead daemon is asked again while its presences come. */
const RECHECK_AFTER_MS = 1_000;

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A bucket entry's JSON, or undefined when it is too large or not JSON. */
function parsed(entry: { value: Uint8Array }): unknown {
  const read = readPresenceValue(entry.value);
  return read.ok ? read.raw : undefined;
}

/**
 * The bucket, made when missing: replicated as the message stream is (3 on a cluster, 1 on a
 * single server: `withReplicas` in inbound.ts). One there already is bound as it is.
 */
export async function openBucket(nc: NatsConnection, ttl: number, logger: LinkLogger): Promise<KV> {
  const { Kvm } = await loadKv();
  const kvm = new Kvm(nc);
  try {
    return await withReplicas((replicas) => kvm.create(PRESENCE_BUCKET, { history: 1, ttl, replicas }));
  } catch (error) {
    // Made by the operator (or another daemon) with other limits: use it as it is.
    logger.info("presence bucket not created; binding the existing one", { error: messageOf(error) });
    return kvm.open(PRESENCE_BUCKET);
  }
}

export class PresenceSync {
  readonly #o: PresenceSyncOptions;
  readonly #now: () => number;
  #kv: KV | undefined;
  #watch: { stop(): void } | undefined;
  #refresh: NodeJS.Timeout | undefined;
  #check: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #closed = false;
  #published = 0;
  #judgeFrom = Number.POSITIVE_INFINITY;
  /** Session id → when its presence was last put (this daemon's clock). */
  readonly #lastPut = new Map<string, number>();
  readonly #refusals: RefusalLog;
  /** This daemon's sessions: what their presence was last signed from, the text, and when. */
  readonly #signed = new Map<string, { basis: string; text: string; signedAt: number }>();
  /**
   * Remote keys believed: the digest of the value verified and its revision. The same bytes put
   * again (a refresh) only push the session's deadline on: three signatures are not checked again
   * for every session of every daemon every 5 s (bench M4: that was the whole cost of a mesh).
   */
  readonly #verified = new Map<string, { digest: string; revision: number }>();
  /**
   * Daemons liveness found dead → their latest presences since, held until one ping shows the
   * daemon is back. A daemon with no connection that keeps publishing (a hostile member, a
   * daemon whose pings cannot be answered) would otherwise be added and removed over and over,
   * each time telling every event stream about each of its sessions.
   */
  readonly #gone = new Map<string, { held: Map<string, unknown>; asking: boolean; askAfter: number }>();

  constructor(options: PresenceSyncOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#refusals = new RefusalLog(options.logger, { now: this.#now });
    this.#unsubscribe = options.registry.subscribe((event) => this.#onRegistry(event));
  }

  /** Presence documents put so far. */
  get published(): number {
    return this.#published;
  }

  /** A new connection: bind the bucket, clear what a previous run of this daemon left, publish, watch. */
  async attach(nc: NatsConnection): Promise<void> {
    this.#detach();
    const kv = await openBucket(nc, this.#o.bucketTtlMs ?? PRESENCE_TIMINGS.bucketTtlMs, this.#o.logger);
    if (this.#closed) return;
    this.#kv = kv;
    this.linkUp();
    await this.#clearStale(kv);
    this.publishAll();
    await this.#startWatch(kv);
    const refreshMs = this.#o.refreshMs ?? PRESENCE_TIMINGS.refreshMs;
    this.#refresh = setInterval(() => this.#refreshDue(refreshMs), refreshMs / REFRESH_SLICES);
    this.#refresh.unref();
    this.#check = setInterval(() => this.#confirmOverdue(), this.#o.checkEveryMs ?? PRESENCE_TIMINGS.checkEveryMs);
    this.#check.unref();
  }

  /** Keys of this daemon that no live session holds: a crash left them, or sessions went while away. */
  async #clearStale(kv: KV): Promise<void> {
    const { mesh, self, registry } = this.#o;
    // `<mesh>.<self>.` and then anything: this daemon's keys.
    const keys = await kv.keys(`${presenceKey(mesh, self, "x").slice(0, -1)}>`);
    for await (const key of keys) {
      const at = parsePresenceKey(key);
      if (at !== undefined && registry.get(at.session)?.mesh !== mesh) await kv.delete(key);
    }
  }

  async #startWatch(kv: KV): Promise<void> {
    const watch = await kv.watch({ key: presenceFilter(this.#o.mesh) });
    this.#watch = watch;
    // Each entry is verified (three signatures, ~0.5 ms), and nats.js hands over what one read of
    // the socket brought at once: a burst of hundreds (a flood, a reconnect's replay of the bucket)
    // would hold the event loop for as many half-milliseconds, and every message, receipt and
    // request of this daemon with it. So the loop gives way every few ms.
    void forAwaitSliced(watch, (entry) => this.#onEntry(entry), { budgetMs: SLICE_MS }).catch((error: unknown) => {
      if (!this.#closed) this.#o.logger.warn("presence watch ended", { mesh: this.#o.mesh, error: messageOf(error) });
    });
  }

  /** Our link is back: republish at once, and judge unrefreshed keys again after the grace. */
  linkUp(): void {
    this.#judgeFrom = this.#now() + (this.#o.graceMs ?? PRESENCE_TIMINGS.graceMs);
  }

  /** Our link is down: nothing we cannot read is judged gone. */
  linkDown(): void {
    this.#judgeFrom = Number.POSITIVE_INFINITY;
  }

  /**
   * The refresh, spread out: every fifth of the period, the sessions whose last put is a period
   * old, oldest first, at most a fifth of them (plus one). Signing and verifying hundreds of
   * presences at once stalled messages for ~350 ms every 5 s (bench M2); spread, each key is
   * still put again within two periods, well inside its peers' 12 s deadline.
   */
  #refreshDue(refreshMs: number): void {
    const now = this.#now();
    const sessions = this.#o.registry.list({ mesh: this.#o.mesh });
    const due = sessions
      .filter((s) => now - (this.#lastPut.get(s.session_id) ?? 0) >= refreshMs)
      .sort((x, y) => (this.#lastPut.get(x.session_id) ?? 0) - (this.#lastPut.get(y.session_id) ?? 0));
    for (const session of due.slice(0, Math.ceil(sessions.length / REFRESH_SLICES) + 1)) this.#publish(session);
  }

  /** Puts every live session of this mesh again (on attach and after a reconnect). */
  publishAll(): void {
    for (const session of this.#o.registry.list({ mesh: this.#o.mesh })) this.#publish(session);
  }

  /**
   * The presence to put for a session, as text: the one put last when nothing it shows or binds has
   * changed and it was signed less than `RESIGN_AFTER_MS` ago (a refresh re-puts the same bytes:
   * no signing here, and the other daemons see bytes they already verified), else signed anew.
   */
  #document(session: SessionRecord): string | undefined {
    const presence = session.presence;
    if (presence === undefined) return undefined; // a restored session: published once minted
    const fields = {
      v: 1 as const,
      mesh: session.mesh,
      session_id: session.session_id,
      daemon: this.#o.self,
      host: this.#o.host,
      display_name: session.display_name,
      role: session.role ?? null,
      groups: session.groups ?? [],
      status: session.status ?? null,
      summary: session.summary === undefined || session.summary === "" ? null : session.summary,
      inbound: session.inbound ?? "accept",
      registered_at: session.registered_at,
      session_pubkey: presence.session_pubkey,
      sealing_pubkey: this.#o.sealing.current(session.session_id).publicKey,
      parent_attestation: presence.parent_attestation,
    };
    const basis = JSON.stringify(fields);
    const now = this.#now();
    const last = this.#signed.get(session.session_id);
    if (last !== undefined && last.basis === basis && now - last.signedAt < RESIGN_AFTER_MS) return last.text;
    const text = JSON.stringify(
      signRemotePresence({ ...fields, published_at: now }, signingKeyFromSeed(presence.session_secret_key.reveal())),
    );
    this.#signed.set(session.session_id, { basis, text, signedAt: now });
    return text;
  }

  #publish(session: SessionRecord): void {
    const kv = this.#kv;
    if (kv === undefined || this.#closed) return;
    const text = this.#document(session);
    if (text === undefined) return;
    this.#published++;
    this.#lastPut.set(session.session_id, this.#now());
    kv.put(presenceKey(this.#o.mesh, this.#o.self, session.session_id), text).catch((error: unknown) => {
      // The next refresh puts it again.
      this.#o.logger.warn("presence put failed", { mesh: this.#o.mesh, error: messageOf(error) });
    });
  }

  #unpublish(sessionId: string): void {
    this.#lastPut.delete(sessionId);
    this.#signed.delete(sessionId);
    const kv = this.#kv;
    if (kv === undefined || this.#closed) return;
    kv.delete(presenceKey(this.#o.mesh, this.#o.self, sessionId)).catch((error: unknown) => {
      // Left behind, the key is cleared by the next attach or the bucket's TTL.
      this.#o.logger.warn("presence delete failed", { mesh: this.#o.mesh, error: messageOf(error) });
    });
  }

  #onRegistry(event: RegistryEvent): void {
    if (event.session.mesh !== this.#o.mesh) return;
    if (event.type === "session_deregistered") this.#unpublish(event.session.session_id);
    else {
      const current = this.#o.registry.get(event.session.session_id);
      if (current !== undefined) this.#publish(current);
    }
  }

  #onEntry(entry: KvWatchEntry): void {
    const at = parsePresenceKey(entry.key);
    if (at === undefined || at.mesh !== this.#o.mesh || at.daemon === this.#o.self) return;
    const { directory, onRemote } = this.#o;
    if (entry.operation !== "PUT") {
      this.#verified.delete(entry.key);
      this.#gone.get(at.daemon)?.held.delete(at.session);
      const removed = directory.remove(at.session, at.daemon);
      if (removed !== undefined) onRemote("removed", removed, "deleted");
      return;
    }
    if (this.#refreshedAsIs(entry, at)) return;
    // Its size is checked before it is parsed: the server takes values up to its max_payload.
    const read = readPresenceValue(entry.value);
    if (!read.ok) this.#refused(read.reason, at, read.detail);
    else if (this.#believe(read.raw, at))
      this.#verified.set(entry.key, { digest: digestOf(entry.value), revision: entry.revision });
  }

  /** The bytes already verified for this key, put again, of a session still held: its deadline moves on. */
  #refreshedAsIs(
    entry: { key: string; value: Uint8Array; revision: number },
    at: { daemon: string; session: string },
  ): boolean {
    const seen = this.#verified.get(entry.key);
    if (seen === undefined) return false;
    const held = this.#o.directory.get(at.session)?.presence;
    if (
      held === undefined ||
      held.daemon !== at.daemon ||
      this.#gone.has(at.daemon) ||
      seen.digest !== digestOf(entry.value)
    ) {
      return false;
    }
    seen.revision = entry.revision;
    this.#o.directory.extend(at.session, this.#now());
    return true;
  }

  /** Counted every time; logged a few times a minute per reason (a flood must not fill daemon.log). */
  #refused(reason: PresenceRefusal, at: { mesh: string; daemon: string; session: string }, detail: string): void {
    this.#o.onRefused(reason);
    this.#refusals.warn("remote presence refused", reason, {
      mesh: at.mesh,
      daemon: at.daemon,
      session_id: at.session.slice(0, 128),
      detail,
    });
  }

  /** Liveness found this daemon's connection gone: its presences wait for it to answer again. */
  markGone(daemon: string): void {
    if (this.#o.isAlive !== undefined && !this.#gone.has(daemon)) {
      this.#gone.set(daemon, { held: new Map(), asking: false, askAfter: 0 });
    }
  }

  /** A believed presence of a daemon found dead: kept (the latest per session) and the daemon asked. */
  #hold(daemon: string, raw: unknown, session: string): void {
    const gone = this.#gone.get(daemon);
    if (gone === undefined) return;
    gone.held.delete(session);
    gone.held.set(session, raw);
    // As many as the directory would take from one daemon: the oldest go first.
    const cap = this.#o.directory.maxPerDaemon;
    while (gone.held.size > cap) gone.held.delete(gone.held.keys().next().value as string);
    this.#askGone(daemon);
  }

  #askGone(daemon: string): void {
    const gone = this.#gone.get(daemon);
    const isAlive = this.#o.isAlive;
    if (gone === undefined || isAlive === undefined || gone.asking) return;
    const wait = gone.askAfter - this.#now();
    gone.asking = true;
    const ask = () =>
      isAlive(daemon).then(
        (alive) => {
          gone.asking = false;
          if (this.#gone.get(daemon) !== gone || this.#closed) return;
          if (!alive) {
            gone.askAfter = this.#now() + RECHECK_AFTER_MS;
            if (gone.held.size > 0) this.#askGone(daemon);
            return;
          }
          this.#gone.delete(daemon);
          for (const [session, raw] of gone.held) this.#believe(raw, { mesh: this.#o.mesh, daemon, session });
        },
        () => {
          gone.asking = false;
        },
      );
    if (wait > 0) setTimeout(() => void ask(), wait).unref();
    else void ask();
  }

  /** True when the presence is now the one held for its session. */
  #believe(raw: unknown, at: { mesh: string; daemon: string; session: string }): boolean {
    const now = this.#now();
    const believed = believeRemotePresence(raw, at, now, this.#o.trust);
    if (!believed.ok) {
      this.#refused(believed.reason, at, believed.detail);
      return false;
    }
    if (this.#gone.has(at.daemon)) {
      // Counted, not logged: the daemon's answer decides, and a flood must not fill the log.
      this.#o.onRefused("daemon_gone");
      this.#hold(at.daemon, raw, at.session);
      return false;
    }
    const applied = this.#o.directory.apply(believed.presence, now);
    if (applied === "too_many_sessions" || applied === "too_many_peers") {
      this.#refused(applied, at, "a new session over the directory's cap");
      return false;
    }
    if (applied === "added" || applied === "updated") this.#o.onRemote(applied, believed.presence);
    // A refresh (a newer copy showing the same) moved its deadline only: nothing to tell.
    return applied !== "stale";
  }

  /**
   * Overdue keys, confirmed with the bucket: a newer copy there (our watch missed it) is believed;
   * the same copy, or none, means its daemon stopped refreshing it: dropped.
   */
  #confirmOverdue(): void {
    const kv = this.#kv;
    if (kv === undefined || this.#now() < this.#judgeFrom) return;
    const checkMs = this.#o.checkEveryMs ?? PRESENCE_TIMINGS.checkEveryMs;
    // Digests of sessions no longer held (removed by any cause) are not kept.
    for (const key of this.#verified.keys()) {
      const at = parsePresenceKey(key);
      if (at === undefined || this.#o.directory.get(at.session)?.presence.daemon !== at.daemon)
        this.#verified.delete(key);
    }
    for (const presence of this.#o.directory.overdue(this.#now())) {
      const at = { mesh: presence.mesh, daemon: presence.daemon, session: presence.session_id };
      this.#o.directory.extend(presence.session_id, this.#now(), 2 * checkMs); // one confirmation at a time
      kv.get(presenceKey(at.mesh, at.daemon, at.session)).then(
        (entry) => {
          const current = () => this.#o.directory.get(at.session)?.presence === presence;
          if (!current()) return; // the watch brought a newer copy meanwhile
          const key = presenceKey(at.mesh, at.daemon, at.session);
          const seen = this.#verified.get(key);
          // Put again since (the watch missed it): the same bytes keep it, other bytes are read.
          const since =
            entry !== null && entry.operation === "PUT" && (seen === undefined || entry.revision > seen.revision)
              ? entry
              : undefined;
          if (since !== undefined && this.#refreshedAsIs(since, at)) return;
          const raw = since === undefined ? undefined : parsed(since);
          if (since !== undefined && raw !== undefined) {
            if ((raw as { published_at?: unknown }).published_at !== presence.published_at && this.#believe(raw, at)) {
              this.#verified.set(key, { digest: digestOf(since.value), revision: since.revision });
            }
            if (!current()) return; // believed: it stays
          }
          this.#verified.delete(key);
          const removed = this.#o.directory.remove(at.session, at.daemon);
          if (removed !== undefined) this.#o.onRemote("removed", removed, "expired");
        },
        (error: unknown) => {
          // Not reachable now: judge nothing (a short reconnect must not make peers flap).
          this.#o.logger.warn("presence confirm failed", { mesh: presence.mesh, error: messageOf(error) });
        },
      );
    }
  }

  #detach(): void {
    clearInterval(this.#refresh);
    clearInterval(this.#check);
    this.#watch?.stop();
    this.#watch = undefined;
    this.#kv = undefined;
  }

  /** Deletes this daemon's keys (a clean stop), then stops. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#unsubscribe?.();
    const kv = this.#kv;
    if (kv !== undefined) {
      const deletes = this.#o.registry
        .list({ mesh: this.#o.mesh })
        .map((s) => kv.delete(presenceKey(this.#o.mesh, this.#o.self, s.session_id)).catch(() => undefined));
      await Promise.race([Promise.all(deletes), new Promise((r) => setTimeout(r, 500).unref())]);
    }
    this.#closed = true;
    this.#detach();
  }
}
