// Every session's presence: minted at registration (or verified when the registration brings
// one), minted afresh for restored sessions, renewed before it expires. The member key never
// leaves this module's callers; presences never leave memory.
import {
  ATTESTATION,
  type MemberKey,
  mintPresence,
  needsRenewal,
  type PresenceTrust,
  parsePresence,
  renewPresence,
} from "@claudemesh/mesh";
import type { Registration, SessionPresence, SessionRecord, SessionRegistry } from "@claudemesh/registry";
import type { Logger } from "../logger.js";

export interface PresenceKeeperOptions {
  registry: SessionRegistry;
  member: MemberKey;
  logger: Logger;
  now?: () => number;
  /** How long a minted attestation holds (at most 24 h). */
  lifetimeMs?: number;
  /** Renew once less than this is left. */
  renewBeforeMs?: number;
  /** Member keys other than ours trusted per mesh (meshes across machines); none by default. */
  isTrusted?: PresenceTrust["isTrusted"];
}

export class PresenceKeeper {
  readonly #o: PresenceKeeperOptions;
  readonly #now: () => number;
  readonly #trust: PresenceTrust;
  #timer: NodeJS.Timeout | undefined;
  #renewals = 0;

  constructor(options: PresenceKeeperOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#trust = {
      memberPublicKey: options.member.key.publicKey,
      ...(options.isTrusted !== undefined && { isTrusted: options.isTrusted }),
    };
  }

  get renewals(): number {
    return this.#renewals;
  }

  #mint(mesh: string, sessionId: string): SessionPresence {
    return mintPresence(this.#o.member.key, { mesh, sessionId }, this.#now(), this.#o.lifetimeMs);
  }

  /**
   * The presence a registration gets: the one it brings, verified (a bad one throws FieldError
   * naming `presence.…`); none when its token's entry already has one for the same session id and
   * mesh (the registry keeps that); else a fresh one.
   */
  forRegistration(
    raw: unknown,
    registration: Registration,
    existing: SessionRecord | undefined,
  ): SessionPresence | undefined {
    const scope = { mesh: registration.mesh, sessionId: registration.session_id };
    if (raw !== undefined) {
      const parsed = parsePresence(raw, scope, this.#now(), this.#trust);
      if (!parsed.ok) throw parsed.error;
      return parsed.value;
    }
    if (
      existing?.presence !== undefined &&
      existing.session_id === registration.session_id &&
      existing.mesh === registration.mesh
    ) {
      return undefined;
    }
    return this.#mint(registration.mesh, registration.session_id);
  }

  /** A session's presence, minted now when it has none yet (restored, not reached by mintMissing). */
  ensure(session: SessionRecord): SessionPresence {
    if (session.presence !== undefined) return session.presence;
    const presence = this.#mint(session.mesh, session.session_id);
    this.#o.registry.setPresence(session, presence);
    return this.#o.registry.get(session.session_id)?.presence ?? presence;
  }

  /**
   * Gives every session without a presence (restored at start) a fresh one, in the background:
   * minting costs ~0.1 ms, and 10,000 restored sessions must neither hold up the daemon's start
   * nor crowd out the requests that come right after it. So slices of `budgetMs`, each followed
   * by a rest nine times as long (a tenth of one core at most: 10,000 sessions in ~15 s). A session
   * needed before its turn gets its presence at once (ensure).
   */
  async mintMissing(budgetMs = 2): Promise<number> {
    const missing = this.#o.registry.list().filter((s) => s.presence === undefined);
    let minted = 0;
    let sliceStart = performance.now();
    for (const session of missing) {
      const current = this.#o.registry.get(session.session_id);
      if (current === undefined || current.presence !== undefined) continue;
      if (this.#o.registry.setPresence(current, this.#mint(current.mesh, current.session_id))) minted++;
      // Each mint is ~0.1 ms: the clock is read after every one, so no slice runs past its budget.
      if (performance.now() - sliceStart >= budgetMs) {
        await new Promise((resolve) => setTimeout(resolve, budgetMs * 9));
        sliceStart = performance.now();
      }
    }
    return minted;
  }

  /** Renews the attestations this member signed that are nearing their expiry. */
  renew(): number {
    const now = this.#now();
    const renewBefore = this.#o.renewBeforeMs ?? ATTESTATION.renewBeforeMs;
    let renewed = 0;
    for (const session of this.#o.registry.list()) {
      const presence = session.presence;
      if (presence === undefined || !needsRenewal(presence, this.#o.member.key.publicKey, now, renewBefore)) continue;
      const scope = { mesh: session.mesh, sessionId: session.session_id };
      if (
        this.#o.registry.setPresence(
          session,
          renewPresence(presence, this.#o.member.key, scope, now, this.#o.lifetimeMs),
        )
      ) {
        renewed++;
      }
    }
    if (renewed > 0) {
      this.#renewals += renewed;
      this.#o.logger.info("attestations renewed", { sessions: renewed });
    }
    return renewed;
  }

  /** Renews every `intervalMs` until stop(). */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      try {
        this.renew();
      } catch (error) {
        this.#o.logger.error("attestation renewal failed", { error: error as Error });
      }
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
