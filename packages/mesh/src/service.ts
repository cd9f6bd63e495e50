// Sending, receiving and tracking messages between the sessions of a daemon: the rules of the
// contract in one place. Pure: the clock, ids, the session directory and the keys are injected;
// persistence and events hang off the store's listeners.
//
// A send: validate → idempotency key → resolve the address → sign (or take the client's
// signature) → intake (verify, then the rate limit, then store and deliver). Intake is the one door into the store, for messages made here and
// (later) for those arriving from other machines: it verifies the signature against the key the
// sender must have, refuses a duplicate id from someone else, stores the message once, then
// delivers it to each live recipient (or leaves it waiting for a known session id).
import { FieldError, type InboundPolicy, type SessionPresence, type SessionRecord } from "@claudemesh/registry";
import { type Address, type KnownRecipient, type PeerCandidate, parseAddress, resolveAddress } from "./address.js";
import type { DeliveryState } from "./delivery.js";
import {
  type Envelope,
  MESSAGE_LIMITS,
  parseSendRequest,
  type SendRequest,
  signEnvelope,
  verifyEnvelope,
} from "./envelope.js";
import { signerOf } from "./keys.js";
import type { MemberKey } from "./member-key.js";
import { MESSAGE_RATE_LIMIT, RateLimiter } from "./rate-limit.js";
import type { MessageStore, StoredMessage } from "./store.js";
import { type MessageStatus, type SentMessage, toMessageStatus, toSentMessage } from "./wire.js";

export type MeshErrorCode =
  | "invalid_field"
  | "unknown_recipient"
  | "ambiguous_recipient"
  | "rate_limited"
  | "not_found";

/** A refusal the caller turns into its contract error. */
export class MeshError extends Error {
  override readonly name = "MeshError";
  constructor(
    readonly code: MeshErrorCode,
    message: string,
    readonly detail: {
      readonly candidates?: readonly { session_id: string; display_name: string }[];
      readonly retryAfterMs?: number;
      readonly field?: string;
    } = {},
  ) {
    super(message);
  }
}

const invalid = (error: FieldError) => new MeshError("invalid_field", error.message, { field: error.field });

/** A live session as messaging sees it, local or (later) on another machine. */
export interface MeshPeer extends PeerCandidate {
  readonly mesh: string;
  readonly inbound: InboundPolicy;
  readonly origin: "local" | "remote";
}

export interface PeerDirectory {
  /** The live sessions of a mesh, oldest first. */
  live(mesh: string): readonly MeshPeer[];
  /** The live session with this id, if any. */
  get(sessionId: string): MeshPeer | undefined;
}

/** Who sends: a session (by its token), or the member from a plain shell in a mesh. */
export type Sender =
  | { readonly kind: "session"; readonly session: SessionRecord }
  | { readonly kind: "member"; readonly mesh: string };

/** Who reads a message's states: its sending session, or the member. */
export type SenderIdentity = string | null;

export function senderIdentity(sender: Sender): SenderIdentity {
  return sender.kind === "session" ? sender.session.session_id : null;
}

export type RejectReason = "bad_signature" | "rate_limited" | "duplicate_id";

export interface MessageServiceOptions {
  readonly store: MessageStore;
  readonly peers: PeerDirectory;
  readonly member: MemberKey;
  /** This daemon's host name, as senders and peers show it. */
  readonly host: string;
  /** The name a plain shell sends as (the user's login name). */
  readonly memberName: string;
  readonly now: () => number;
  readonly newId: () => string;
  /** A session's presence, minted now if it has none yet (a restored session). */
  readonly presenceOf: (session: SessionRecord) => SessionPresence;
  readonly rateLimiter?: RateLimiter;
  /** Told of every message refused before it reached the store (for logs and metrics: ids only). */
  readonly onRejected?: (reason: RejectReason, detail: { message_id?: string; sender: SenderIdentity }) => void;
}

export interface SendResult {
  readonly message: SentMessage;
  /** True when an idempotency key or a known id returned an earlier message instead of a new one. */
  readonly replayed: boolean;
}

export class MessageService {
  readonly #o: MessageServiceOptions;
  readonly #limiter: RateLimiter;

  constructor(options: MessageServiceOptions) {
    this.#o = options;
    this.#limiter = options.rateLimiter ?? new RateLimiter(MESSAGE_RATE_LIMIT);
  }

  get rateLimiter(): RateLimiter {
    return this.#limiter;
  }

  /** POST /v1/messages. Throws MeshError for every refusal. */
  send(sender: Sender, body: unknown): SendResult {
    const parsed = parseSendRequest(body);
    if (!parsed.ok) throw invalid(parsed.error);
    const request = parsed.value;
    const mesh = this.#meshOf(sender, request);
    const identity = senderIdentity(sender);
    const now = this.#o.now();
    const { store } = this.#o;

    if (request.idempotency_key !== null) {
      const earlier = store.byIdempotencyKey(identity, request.idempotency_key, now);
      if (earlier !== undefined) return { message: toSentMessage(earlier.id, earlier.recipients), replayed: true };
    }
    if (request.signed !== undefined && store.has(request.signed.id)) return this.#repeat(request.signed.id, identity);

    const address = parseAddress(request.to);
    if (!address.ok) throw invalid(address.error);
    const recipients = this.#resolve(address.value, mesh, identity);
    const envelope = this.#envelope(sender, mesh, request, now);
    const expected = envelope.from.signing_key;
    // Counted once it would become a message: a request refused for its address or its signature
    // costs the sender nothing.
    const stored = this.intake(envelope, expected, recipients, request.idempotency_key, () => {
      const taken = this.#limiter.take(identity ?? `\u0000member:${mesh}`, now);
      if (taken.ok) return;
      this.#o.onRejected?.("rate_limited", { sender: identity });
      throw new MeshError(
        "rate_limited",
        `more than ${this.#limiter.limit.perSecond} messages a second (bursts of ${this.#limiter.limit.burst}); retry in ${Math.ceil(taken.retryAfterMs / 1000)} s`,
        { retryAfterMs: taken.retryAfterMs },
      );
    });
    return { message: toSentMessage(stored.envelope.id, stored.recipients), replayed: false };
  }

  #meshOf(sender: Sender, request: SendRequest): string {
    if (sender.kind === "member") return request.mesh ?? sender.mesh;
    if (request.mesh !== undefined && request.mesh !== sender.session.mesh) {
      throw invalid(new FieldError("mesh", `a session sends only in its own mesh (${sender.session.mesh})`));
    }
    return sender.session.mesh;
  }

  #repeat(id: string, identity: SenderIdentity): SendResult {
    const earlier = this.#o.store.get(id) as StoredMessage;
    if (earlier.envelope.from.session_id !== identity) {
      this.#o.onRejected?.("duplicate_id", { message_id: id, sender: identity });
      throw invalid(new FieldError("id", "is already the id of another sender's message"));
    }
    return { message: toSentMessage(id, earlier.recipients), replayed: true };
  }

  #resolve(
    address: Address,
    mesh: string,
    identity: SenderIdentity,
  ): readonly (KnownRecipient & { live?: MeshPeer })[] {
    const { peers, store } = this.#o;
    const resolution = resolveAddress(address, {
      mesh,
      live: () => peers.live(mesh),
      byId: (id) => {
        const peer = peers.get(id);
        return peer?.mesh === mesh ? peer : undefined;
      },
      senderSessionId: identity,
      unread: (id) => store.unsurfaced(id),
      known: (id) => store.known(mesh, id),
    });
    if (resolution.kind === "unknown") throw new MeshError("unknown_recipient", resolution.message);
    if (resolution.kind === "ambiguous") {
      throw new MeshError("ambiguous_recipient", resolution.message, {
        candidates: resolution.candidates.map((c) => ({ session_id: c.session_id, display_name: c.display_name })),
      });
    }
    return [
      ...resolution.live.map((p) => ({ session_id: p.session_id, display_name: p.display_name, live: p as MeshPeer })),
      ...resolution.queued,
    ];
  }

  #envelope(sender: Sender, mesh: string, request: SendRequest, now: number): Envelope {
    const { member, host } = this.#o;
    const presence = sender.kind === "session" ? this.#o.presenceOf(sender.session) : undefined;
    const from = {
      session_id: sender.kind === "session" ? sender.session.session_id : null,
      display_name: sender.kind === "session" ? sender.session.display_name : this.#o.memberName,
      member_fingerprint: presence?.member_fingerprint ?? member.fingerprint,
      host,
      signing_key: presence?.session_pubkey ?? member.key.publicKey,
    };
    const unsigned = {
      id: request.signed?.id ?? this.#o.newId(),
      mesh,
      from,
      to: request.to,
      text: request.text,
      priority: request.priority,
      reply_to: request.reply_to,
      sent_at: request.signed?.sent_at ?? now,
    };
    if (request.signed === undefined) {
      const key = presence
        ? signerOf({ publicKey: presence.session_pubkey, secret: presence.session_secret_key })
        : member.key;
      return signEnvelope(unsigned, key);
    }
    if (Math.abs(request.signed.sent_at - now) > MESSAGE_LIMITS.maxClockSkewMs) {
      throw invalid(new FieldError("sent_at", "must be within 5 minutes of the daemon's clock"));
    }
    return Object.freeze({ ...unsigned, signature: request.signed.signature });
  }

  /**
   * The one door into the store. Verifies the signature against the key the sender must sign
   * with, stores the message once for all its recipients, and delivers it to each live one.
   * An unverifiable message is refused (MeshError on `signature`) and reported, never stored.
   */
  intake(
    envelope: Envelope,
    expectedSigningKey: string,
    recipients: readonly (KnownRecipient & { live?: MeshPeer })[],
    idempotencyKey: string | null,
    /** Runs once the signature held, before anything is stored; may refuse by throwing. */
    admit?: () => void,
  ): StoredMessage {
    const { store } = this.#o;
    if (!verifyEnvelope(envelope, expectedSigningKey)) {
      this.#o.onRejected?.("bad_signature", { message_id: envelope.id, sender: envelope.from.session_id });
      throw invalid(
        new FieldError("signature", "does not verify against the sender's key; the message was not stored"),
      );
    }
    admit?.();
    const now = this.#o.now();
    store.accept(envelope, recipients, idempotencyKey, now);
    for (const r of recipients) {
      if (r.live === undefined) store.park(envelope.id, r.session_id, now);
      else if (r.live.origin === "local") store.deliver(envelope.id, r.session_id, r.live.inbound, now);
    }
    return store.get(envelope.id) as StoredMessage;
  }

  /**
   * A message from another machine for one local recipient (each arrives in its own sealed frame,
   * whose chain of keys the caller checked): stored once, the recipient added when an earlier
   * frame brought the message already, then delivered (or left waiting for a session not live).
   * A copy seen before changes nothing: the wire is at least once, the inbox exactly once.
   * Returns the recipient's state, for the receipt back.
   */
  receive(envelope: Envelope, recipient: { session_id: string; display_name: string }): DeliveryState {
    const { store, peers } = this.#o;
    const live = peers.get(recipient.session_id);
    const local = live?.origin === "local" && live.mesh === envelope.mesh ? live : undefined;
    const held = store.get(envelope.id);
    if (held === undefined) {
      this.intake(envelope, envelope.from.signing_key, [{ ...recipient, ...(local && { live: local }) }], null);
    } else {
      if (held.envelope.signature !== envelope.signature) {
        this.#o.onRejected?.("duplicate_id", { message_id: envelope.id, sender: envelope.from.session_id });
        throw invalid(new FieldError("id", "is already the id of another message"));
      }
      const now = this.#o.now();
      if (store.addRecipient(envelope.id, recipient, now)) {
        if (local === undefined) store.park(envelope.id, recipient.session_id, now);
        else store.deliver(envelope.id, recipient.session_id, local.inbound, now);
      }
    }
    const state = store.get(envelope.id)?.recipients.find((r) => r.session_id === recipient.session_id)?.state;
    return state ?? "accepted";
  }

  /** Delivers what waits for a session id that has just become live. Returns how many were delivered. */
  deliverWaiting(sessionId: string, mesh: string): number {
    const { store, peers } = this.#o;
    const peer = peers.get(sessionId);
    if (peer === undefined || peer.mesh !== mesh || peer.origin !== "local") return 0;
    const now = this.#o.now();
    let delivered = 0;
    for (const id of store.waitingFor(sessionId, mesh)) {
      if (store.deliver(id, sessionId, peer.inbound, now) === "delivered") delivered++;
    }
    return delivered;
  }

  /** GET /v1/messages/{id}: only its sender may read it; for anyone else it does not exist. */
  status(identity: SenderIdentity, id: string): MessageStatus {
    const message = this.#o.store.get(id);
    if (message === undefined || message.envelope.from.session_id !== identity) {
      throw new MeshError("not_found", `no message ${id} sent by ${identity === null ? "the member" : "this session"}`);
    }
    return toMessageStatus(message);
  }

  /** Expiry and compaction; returns what changed. */
  maintain(): { expired: number; dropped: number } {
    const now = this.#o.now();
    const expired = this.#o.store.expire(now);
    const dropped = this.#o.store.compact(now);
    this.#limiter.prune(now);
    return { expired, dropped };
  }
}
