// Messages to remote sessions, on their way into the message stream. A recipient on another
// machine stays `accepted` here until its daemon's receipt says more; until then its frame is
// (re)published: when the message is accepted, when the recipient's presence appears or brings
// a new sealing key (its daemon restarted: re-sealed, so nothing waits on a key that is gone),
// and after every reconnect for what the server had not confirmed. Publishing dedupes by
// Nats-Msg-Id, so a publish that timed out after it was stored is retried without a copy.
// Local delivery never waits for any of this: it is all after the store's change.
import {
  attest,
  type Envelope,
  type MemberKey,
  type MessageStore,
  messageSubject,
  type RemoteDirectory,
  type SenderProof,
  type StoreChange,
  sealMessageFrame,
} from "@claudemesh/mesh";
import type { SessionRegistry } from "@claudemesh/registry";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { LinkLogger } from "./link.js";
import { RetryTimer } from "./retry-timer.js";

export interface OutboxOptions {
  readonly mesh: string;
  readonly member: MemberKey;
  readonly store: MessageStore;
  readonly registry: SessionRegistry;
  readonly directory: RemoteDirectory;
  readonly logger: LinkLogger;
  /** Resolves once every store change so far is journaled: a frame leaves after its message is on disk. */
  readonly persisted?: () => Promise<void>;
  readonly maxInFlight?: number;
  readonly publishTimeoutMs?: number;
  readonly retryMs?: number;
  readonly now?: () => number;
}

interface Item {
  readonly id: string;
  readonly session: string;
}

const keyOf = (id: string, session: string) => `${id}\u0000${session}`;
/** How long a re-made attestation for a frame holds: the recipient checks it on arrival. */
const FRAME_ATTESTATION_MS = 60 * 60 * 1000;

export class Outbox {
  readonly #o: OutboxOptions;
  readonly #now: () => number;
  /** Recipient frames the server has not confirmed, in the order they were queued. */
  readonly #pending = new Map<string, Item>();
  /** Confirmed frames: the sealing key each was sealed to (a new key means a new frame). */
  readonly #stored = new Map<string, string>();
  readonly #inFlight = new Set<string>();
  #js: JetStreamClient | undefined;
  readonly #retry: RetryTimer;
  #published = 0;
  #failures = 0;
  #soon = false;

  constructor(options: OutboxOptions) {
    this.#o = options;
    this.#retry = new RetryTimer(() => this.#pump(), options.retryMs ?? 1_000);
    this.#now = options.now ?? Date.now;
  }

  /** Frames not yet stored by the server. */
  get depth(): number {
    return this.#pending.size;
  }

  get published(): number {
    return this.#published;
  }

  get failures(): number {
    return this.#failures;
  }

  /** Connected: send what waits. */
  attach(js: JetStreamClient): void {
    this.#js = js;
    this.#pump();
  }

  detach(): void {
    this.#js = undefined;
    this.#retry.cancel();
  }

  /** Queues every remote recipient still `accepted` (at start: what the last run left unsent). */
  queueAll(): void {
    for (const message of this.#o.store.snapshot().messages) {
      if (message.envelope.mesh !== this.#o.mesh) continue;
      for (const r of message.recipients) if (r.state === "accepted") this.#queue(message.envelope.id, r.session_id);
    }
    this.#pump();
  }

  /** Follows the store: new messages to remote recipients go out; recipients that moved on are forgotten. */
  onStoreChange(change: StoreChange): void {
    if (change.kind === "accepted") {
      if (change.message.envelope.mesh !== this.#o.mesh) return;
      for (const r of change.message.recipients) this.#queue(change.message.envelope.id, r.session_id);
      // Not inside the sender's request: sealing and publishing wait until its message is
      // journaled and its 202 on its way, then go out in one batch for all accepted meanwhile.
      const journaled = this.#o.persisted?.() ?? Promise.resolve();
      journaled.then(
        () => this.#pumpSoon(),
        () => this.#retryLater(),
      );
    } else if (change.kind === "state" && change.recipient.state !== "accepted") {
      // The only way out: the store drops settled messages only, none of whose recipients is
      // still accepted, so a drop finds nothing here left to forget.
      const key = keyOf(change.envelope.id, change.recipient.session_id);
      this.#pending.delete(key);
      this.#stored.delete(key);
    }
  }

  /** A remote session appeared or changed: what waits for it goes out (re-sealed for a new key). */
  onPresence(sessionId: string): void {
    for (const id of this.#o.store.waitingFor(sessionId, this.#o.mesh)) this.#queue(id, sessionId);
    this.#pump();
  }

  /** Only recipients believed remote and live, and not confirmed under their current key. */
  #queue(id: string, session: string): void {
    const remote = this.#o.directory.get(session);
    if (remote === undefined) return;
    const key = keyOf(id, session);
    if (this.#stored.get(key) === remote.presence.sealing_pubkey) return;
    if (!this.#pending.has(key)) this.#pending.set(key, { id, session });
  }

  #proof(envelope: Envelope): SenderProof {
    const from = envelope.from.session_id;
    if (from === null) return { kind: "member" };
    const held = this.#o.registry.get(from)?.presence;
    if (held !== undefined && held.session_pubkey === envelope.from.signing_key) {
      return { kind: "session", attestation: held.parent_attestation };
    }
    // The sender went, or this daemon restarted since (new session keys): the member key that
    // vouched for the signing key then vouches for it again.
    const attestation = attest(
      this.#o.member.key,
      { mesh: envelope.mesh, sessionId: from },
      envelope.from.signing_key,
      this.#now() + FRAME_ATTESTATION_MS,
    );
    return { kind: "session", attestation };
  }

  #pumpSoon(): void {
    if (this.#soon) return;
    this.#soon = true;
    setImmediate(() => {
      this.#soon = false;
      this.#pump();
    });
  }

  #pump(): void {
    const js = this.#js;
    if (js === undefined) return;
    const max = this.#o.maxInFlight ?? 64;
    for (const [key, item] of this.#pending) {
      if (this.#inFlight.size >= max) return;
      if (this.#inFlight.has(key)) continue;
      const message = this.#o.store.get(item.id);
      const state = message?.recipients.find((r) => r.session_id === item.session)?.state;
      const remote = this.#o.directory.get(item.session);
      if (message === undefined || state !== "accepted" || remote === undefined) {
        // Settled, or its recipient is not live: it waits for the recipient's next presence.
        this.#pending.delete(key);
        continue;
      }
      this.#publish(js, key, message.envelope, remote.presence);
    }
  }

  #publish(
    js: JetStreamClient,
    key: string,
    envelope: Envelope,
    to: { session_id: string; daemon: string; sealing_pubkey: string },
  ): void {
    this.#inFlight.add(key);
    let data: string;
    try {
      data = JSON.stringify(sealMessageFrame(envelope, this.#proof(envelope), to));
    } catch (error) {
      this.#inFlight.delete(key);
      this.#pending.delete(key);
      this.#o.logger.warn("message could not be sealed", { message_id: envelope.id, error: String(error) });
      return;
    }
    const kid = to.sealing_pubkey.slice(0, 11);
    js.publish(messageSubject(this.#o.mesh, to.daemon, to.session_id), data, {
      msgID: `${envelope.id}:${to.session_id}:${kid}`,
      timeout: this.#o.publishTimeoutMs ?? 5_000,
    }).then(
      () => {
        this.#inFlight.delete(key);
        this.#published++;
        if (this.#pending.delete(key)) this.#stored.set(key, to.sealing_pubkey);
        // The recipient's key changed while this copy was on its way (its daemon restarted): the
        // presence that said so found the copy pending and queued nothing; seal it again now.
        this.#queue(envelope.id, to.session_id);
        this.#pump();
      },
      (error: unknown) => {
        this.#inFlight.delete(key);
        this.#failures++;
        if (this.#failures === 1 || this.#failures % 100 === 0) {
          this.#o.logger.warn("message publish failed; retrying", {
            mesh: this.#o.mesh,
            failures: this.#failures,
            error: error instanceof Error ? error.message : String(error),
          });
        }
        this.#retryLater();
      },
    );
  }

  #retryLater(): void {
    if (this.#js !== undefined) this.#retry.schedule();
  }

  /** After a reconnect: what the server confirmed before is kept; the rest goes again. */
  resume(): void {
    this.#pump();
  }
}
