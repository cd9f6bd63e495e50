// The message store: every message once, its per-recipient delivery states, each recipient's
// inbox, idempotency keys, and the session ids messages may wait for. Pure: the clock is passed
// in, and every change is told to listeners (the daemon journals it and turns it into events).
//
// Bounded by construction: a recipient holds at most `inboxCap` messages not yet surfaced (more
// are refused with `inbox_full`); a message stops being kept once every recipient has settled
// (surfaced, acked, refused, expired) and its retention has passed, or sooner when settled
// messages exceed `maxSettled`; idempotency keys last `idempotencyWindowMs`; known session ids
// are forgotten after `knownRetentionMs` or past `maxKnown`.
import type { InboundPolicy } from "@claudemesh/registry";
import { canAdvance, type DeliveryState, isFinal, MESSAGE_EXPIRY_MS, type RefusalReason } from "./delivery.js";
import type { Envelope } from "./envelope.js";

export interface RecipientState {
  readonly session_id: string;
  readonly display_name: string;
  readonly state: DeliveryState;
  readonly updated_at: number;
  readonly reason?: RefusalReason;
}

export interface StoredMessage {
  readonly envelope: Envelope;
  /** In the order the address resolved them. */
  readonly recipients: readonly RecipientState[];
  readonly idempotency_key: string | null;
  readonly accepted_at: number;
}

/** A session id of a mesh that has been live here: messages to it wait for it while it is not. */
export interface KnownSession {
  readonly session_id: string;
  readonly mesh: string;
  readonly display_name: string;
  readonly seen_at: number;
}

/** One message in one recipient's inbox. */
export interface InboxItem {
  readonly envelope: Envelope;
  readonly recipient: RecipientState;
}

/** What changed; listeners journal it and publish it. */
export type StoreChange =
  | { readonly kind: "accepted"; readonly message: StoredMessage }
  | {
      readonly kind: "state";
      readonly envelope: Envelope;
      readonly recipient: RecipientState;
      readonly previous: DeliveryState;
    }
  /** A message stored already gained a recipient: one arriving from another machine for a second local session. */
  | { readonly kind: "recipient"; readonly id: string; readonly recipient: RecipientState }
  | { readonly kind: "dropped"; readonly id: string }
  | { readonly kind: "known"; readonly known: KnownSession };

export type StoreListener = (change: StoreChange) => void;

export const STORE_LIMITS = {
  inboxCap: 1_000,
  expiryMs: MESSAGE_EXPIRY_MS,
  idempotencyWindowMs: 10 * 60 * 1000,
  /** How long a message stays once every recipient acked, was refused or it expired. */
  finalRetentionMs: 60 * 60 * 1000,
  /** How long a message stays once every recipient has at least had it surfaced (a late ack may come). */
  surfacedRetentionMs: MESSAGE_EXPIRY_MS,
  maxSettled: 5_000,
  knownRetentionMs: MESSAGE_EXPIRY_MS,
  maxKnown: 10_000,
} as const;

export type StoreLimits = { -readonly [K in keyof typeof STORE_LIMITS]: number };

interface Recipient {
  session_id: string;
  display_name: string;
  state: DeliveryState;
  updated_at: number;
  reason?: RefusalReason;
}

interface Entry {
  readonly envelope: Envelope;
  readonly recipients: Map<string, Recipient>;
  readonly idempotency_key: string | null;
  readonly accepted_at: number;
}

/** What an idempotency key keeps: enough to answer a retry even after its message was dropped. */
interface KeyedSend {
  readonly id: string;
  readonly at: number;
  recipients: RecipientState[];
}

/** The states of a message a recipient has had. */
const IN_INBOX: ReadonlySet<DeliveryState> = new Set(["delivered", "surfaced", "acked"]);

const settledState = (s: DeliveryState) => s === "surfaced" || isFinal(s);
const counts = (s: DeliveryState) => s === "accepted" || s === "delivered";

function frozenRecipient(r: Recipient): RecipientState {
  return Object.freeze({ ...r });
}

function frozenMessage(e: Entry): StoredMessage {
  return Object.freeze({
    envelope: e.envelope,
    recipients: Object.freeze(Array.from(e.recipients.values(), frozenRecipient)),
    idempotency_key: e.idempotency_key,
    accepted_at: e.accepted_at,
  });
}

/** The sender a message belongs to: its session id, or the member (null). */
const senderKey = (sessionId: string | null) => (sessionId === null ? "\u0000member" : sessionId);
const knownKey = (mesh: string, sessionId: string) => `${mesh}\u0000${sessionId}`;
const knownOf = (k: KnownSession): KnownSession => ({
  session_id: k.session_id,
  mesh: k.mesh,
  display_name: k.display_name,
  seen_at: k.seen_at,
});

export class MessageStore {
  // Insertion order is acceptance order (ids are UUIDv7 and increase with it).
  readonly #messages = new Map<string, Entry>();
  /** Recipient session id → its messages, in arrival order. */
  readonly #inboxes = new Map<string, Map<string, Entry>>();
  /** Recipient session id → messages not yet surfaced: waiting for it (accepted) and in its inbox (delivered). */
  readonly #unsurfaced = new Map<string, { waiting: number; delivered: number }>();
  /** Messages whose every recipient has settled, in the order they settled. */
  readonly #settled = new Set<string>();
  readonly #keys = new Map<string, KeyedSend>();
  readonly #known = new Map<string, KnownSession>();
  readonly #listeners = new Set<StoreListener>();
  readonly limits: StoreLimits;

  constructor(limits: Partial<StoreLimits> = {}) {
    this.limits = { ...STORE_LIMITS, ...limits };
  }

  get size(): number {
    return this.#messages.size;
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(change: StoreChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  get(id: string): StoredMessage | undefined {
    const entry = this.#messages.get(id);
    return entry === undefined ? undefined : frozenMessage(entry);
  }

  has(id: string): boolean {
    return this.#messages.has(id);
  }

  /** Messages not yet surfaced for a recipient: accepted (waiting) or delivered. */
  unsurfaced(sessionId: string): number {
    const c = this.#unsurfaced.get(sessionId);
    return c === undefined ? 0 : c.waiting + c.delivered;
  }

  /** Adds `delta` to a recipient's count of messages in `state` (only accepted and delivered are counted). */
  #count(sessionId: string, state: DeliveryState, delta: number): void {
    if (!counts(state)) return;
    const c = this.#unsurfaced.get(sessionId) ?? { waiting: 0, delivered: 0 };
    if (state === "accepted") c.waiting += delta;
    else c.delivered += delta;
    if (c.waiting === 0 && c.delivered === 0) this.#unsurfaced.delete(sessionId);
    else this.#unsurfaced.set(sessionId, c);
  }

  /**
   * The message an idempotency key of this sender stands for, within the window: the message if
   * it is still kept, else its recipients as they were when it was dropped.
   */
  byIdempotencyKey(
    sender: string | null,
    key: string,
    now: number,
  ): { id: string; recipients: readonly RecipientState[] } | undefined {
    const keyed = this.#keys.get(`${senderKey(sender)}\u0000${key}`);
    if (keyed === undefined || now - keyed.at > this.limits.idempotencyWindowMs) return undefined;
    const entry = this.#messages.get(keyed.id);
    return { id: keyed.id, recipients: entry ? frozenMessage(entry).recipients : keyed.recipients };
  }

  /** Stores a verified message for its recipients, every one `accepted`. */
  accept(
    envelope: Envelope,
    recipients: readonly { session_id: string; display_name: string }[],
    idempotencyKey: string | null,
    now: number,
  ): StoredMessage {
    if (this.#messages.has(envelope.id)) throw new Error(`message ${envelope.id} is already stored`);
    const entry = this.#insert({
      envelope,
      idempotency_key: idempotencyKey,
      accepted_at: now,
      recipients: new Map(
        recipients.map((r) => [
          r.session_id,
          { session_id: r.session_id, display_name: r.display_name, state: "accepted", updated_at: now },
        ]),
      ),
    });
    const message = frozenMessage(entry);
    this.#emit({ kind: "accepted", message });
    this.#enforceCap();
    return message;
  }

  /**
   * Adds a recipient, `accepted`, to a message stored already. A message from another machine
   * arrives once per recipient session (each sealed to its own key): the second local recipient
   * of a broadcast joins the message the first one brought. False when the message is unknown
   * or has that recipient already.
   */
  addRecipient(id: string, recipient: { session_id: string; display_name: string }, now: number): boolean {
    const entry = this.#messages.get(id);
    if (entry === undefined || entry.recipients.has(recipient.session_id)) return false;
    const added: Recipient = {
      session_id: recipient.session_id,
      display_name: recipient.display_name,
      state: "accepted",
      updated_at: now,
    };
    entry.recipients.set(added.session_id, added);
    const inbox = this.#inboxes.get(added.session_id) ?? new Map<string, Entry>();
    if (inbox.size === 0) this.#inboxes.set(added.session_id, inbox);
    inbox.set(id, entry);
    this.#count(added.session_id, "accepted", 1);
    this.#checkSettled(entry); // settled no more while this recipient waits
    this.#emit({ kind: "recipient", id, recipient: frozenRecipient(added) });
    return true;
  }

  #insert(entry: Entry): Entry {
    this.#messages.set(entry.envelope.id, entry);
    for (const r of entry.recipients.values()) {
      const inbox = this.#inboxes.get(r.session_id) ?? new Map<string, Entry>();
      if (inbox.size === 0) this.#inboxes.set(r.session_id, inbox);
      inbox.set(entry.envelope.id, entry);
      this.#count(r.session_id, r.state, 1);
    }
    if (entry.idempotency_key !== null) {
      this.#keys.set(`${senderKey(entry.envelope.from.session_id)}\u0000${entry.idempotency_key}`, {
        id: entry.envelope.id,
        at: entry.accepted_at,
        recipients: [],
      });
    }
    this.#checkSettled(entry);
    return entry;
  }

  /**
   * Moves one recipient's state forward. Returns false (and changes nothing) for an unknown
   * message or recipient, or a move that would not be forward.
   */
  advance(id: string, sessionId: string, to: DeliveryState, now: number, reason?: RefusalReason): boolean {
    const entry = this.#messages.get(id);
    const recipient = entry?.recipients.get(sessionId);
    if (entry === undefined || recipient === undefined || !canAdvance(recipient.state, to)) return false;
    const previous = recipient.state;
    this.#count(sessionId, previous, -1);
    this.#count(sessionId, to, 1);
    recipient.state = to;
    recipient.updated_at = Math.max(now, recipient.updated_at);
    if (reason !== undefined) recipient.reason = reason;
    this.#checkSettled(entry);
    this.#emit({ kind: "state", envelope: entry.envelope, recipient: frozenRecipient(recipient), previous });
    this.#enforceCap();
    return true;
  }

  /**
   * Delivers an accepted message into a recipient's inbox, or refuses it: the session's policy
   * `refuse`, or an inbox already holding `inboxCap` messages not yet surfaced. Returns the state
   * reached, or undefined when the message was not waiting for this recipient.
   */
  deliver(id: string, sessionId: string, inbound: InboundPolicy, now: number): DeliveryState | undefined {
    const recipient = this.#messages.get(id)?.recipients.get(sessionId);
    if (recipient?.state !== "accepted") return undefined;
    if (inbound === "refuse") this.advance(id, sessionId, "refused", now, "policy");
    else if ((this.#unsurfaced.get(sessionId)?.delivered ?? 0) >= this.limits.inboxCap) {
      this.advance(id, sessionId, "refused", now, "inbox_full");
    } else this.advance(id, sessionId, "delivered", now);
    return recipient.state;
  }

  /**
   * Leaves an accepted message waiting for a session id that is not live, unless `inboxCap`
   * messages wait for it already: then it is refused (`inbox_full`) at once, so that no address
   * can be made to hold more. Returns the state.
   */
  park(id: string, sessionId: string, now: number): DeliveryState | undefined {
    const recipient = this.#messages.get(id)?.recipients.get(sessionId);
    if (recipient?.state !== "accepted") return recipient?.state;
    // This message is counted among the waiting already: the others are what fills the queue.
    if (this.unsurfaced(sessionId) - 1 >= this.limits.inboxCap) {
      this.advance(id, sessionId, "refused", now, "inbox_full");
    }
    return recipient.state;
  }

  /** Ids of messages accepted for a session id and still waiting for it to be live, oldest first. */
  waitingFor(sessionId: string, mesh: string): string[] {
    const out: string[] = [];
    for (const [id, entry] of this.#inboxes.get(sessionId) ?? []) {
      if (entry.envelope.mesh === mesh && entry.recipients.get(sessionId)?.state === "accepted") out.push(id);
    }
    return out;
  }

  /**
   * A recipient's inbox, oldest first: the messages delivered and not yet surfaced, or with
   * `all` every one still kept that it has had (surfaced and acked ones too). A message it never
   * had — still waiting, refused, or expired — is not in it: its text is not the recipient's.
   */
  inbox(sessionId: string, which: "unsurfaced" | "all" = "unsurfaced"): InboxItem[] {
    const out: InboxItem[] = [];
    for (const entry of this.#inboxes.get(sessionId)?.values() ?? []) {
      const recipient = entry.recipients.get(sessionId) as Recipient;
      if (!IN_INBOX.has(recipient.state)) continue;
      if (which === "unsurfaced" && recipient.state !== "delivered") continue;
      out.push({ envelope: entry.envelope, recipient: frozenRecipient(recipient) });
    }
    return out;
  }

  /** Is a message in this recipient's inbox (delivered, surfaced or acked)? */
  inInbox(id: string, sessionId: string): boolean {
    const state = this.#messages.get(id)?.recipients.get(sessionId)?.state;
    return state !== undefined && IN_INBOX.has(state);
  }

  /** Marks messages of a recipient's inbox surfaced or acked; returns how many moved. */
  mark(sessionId: string, ids: readonly string[], to: "surfaced" | "acked", now: number): number {
    let updated = 0;
    for (const id of new Set(ids)) {
      if (this.inInbox(id, sessionId) && this.advance(id, sessionId, to, now)) updated++;
    }
    return updated;
  }

  /** Expires what was not surfaced within the expiry period. Returns how many recipients expired. */
  expire(now: number): number {
    let expired = 0;
    for (const entry of this.#messages.values()) {
      if (now - entry.envelope.sent_at < this.limits.expiryMs) continue;
      for (const r of entry.recipients.values()) {
        if (counts(r.state) && this.advance(entry.envelope.id, r.session_id, "expired", now)) expired++;
      }
    }
    return expired;
  }

  #checkSettled(entry: Entry): void {
    const settled = Array.from(entry.recipients.values()).every((r) => settledState(r.state));
    const id = entry.envelope.id;
    if (!settled) this.#settled.delete(id);
    else if (!this.#settled.has(id)) this.#settled.add(id);
  }

  /** Settled messages past `maxSettled` go at once, oldest settled first: memory never waits for a timer. */
  #enforceCap(): void {
    while (this.#settled.size > this.limits.maxSettled) {
      this.#drop(this.#messages.get(this.#settled.values().next().value as string) as Entry);
    }
  }

  /** Drops messages kept past their retention. */
  compact(now: number): number {
    let dropped = 0;
    for (const id of [...this.#settled]) {
      const entry = this.#messages.get(id) as Entry;
      const recipients = Array.from(entry.recipients.values());
      const settledAt = Math.max(...recipients.map((r) => r.updated_at));
      const retention = recipients.every((r) => isFinal(r.state))
        ? this.limits.finalRetentionMs
        : this.limits.surfacedRetentionMs;
      if (now - settledAt >= retention) {
        this.#drop(entry);
        dropped++;
      }
    }
    for (const [key, keyed] of this.#keys) {
      if (now - keyed.at > this.limits.idempotencyWindowMs) this.#keys.delete(key);
    }
    for (const [key, known] of this.#known) {
      if (now - known.seen_at > this.limits.knownRetentionMs) this.#known.delete(key);
    }
    return dropped;
  }

  #drop(entry: Entry): void {
    const id = entry.envelope.id;
    this.#messages.delete(id);
    this.#settled.delete(id);
    for (const r of entry.recipients.values()) {
      const inbox = this.#inboxes.get(r.session_id);
      inbox?.delete(id);
      if (inbox?.size === 0) this.#inboxes.delete(r.session_id);
      this.#count(r.session_id, r.state, -1);
    }
    if (entry.idempotency_key !== null) {
      const keyed = this.#keys.get(`${senderKey(entry.envelope.from.session_id)}\u0000${entry.idempotency_key}`);
      if (keyed?.id === id) keyed.recipients = Array.from(entry.recipients.values(), frozenRecipient);
    }
    this.#emit({ kind: "dropped", id });
  }

  /** Records that a session id was live in a mesh, so messages to it may wait for its return. */
  remember(known: KnownSession): void {
    const key = knownKey(known.mesh, known.session_id);
    this.#known.delete(key); // re-inserted last: the map's order is oldest seen first
    // A plain literal of four fields: frozen copies of spread objects got a hidden class each in V8
    // (10,000 known ids cost 10,000 maps, ~2 KiB apiece, in benchmark B5's heap snapshot).
    this.#known.set(key, knownOf(known));
    while (this.#known.size > this.limits.maxKnown) this.#known.delete(this.#known.keys().next().value as string);
    this.#emit({ kind: "known", known: this.#known.get(key) as KnownSession });
  }

  known(mesh: string, sessionId: string): KnownSession | undefined {
    return this.#known.get(knownKey(mesh, sessionId));
  }

  /** Everything kept, for a checkpoint: messages oldest first, then known session ids. */
  snapshot(): { messages: StoredMessage[]; known: KnownSession[] } {
    return {
      messages: Array.from(this.#messages.values(), frozenMessage),
      known: [...this.#known.values()],
    };
  }

  /** Puts back what a checkpoint and its journal held (at start, before anything else). Tells no listener. */
  restore(messages: readonly StoredMessage[], known: readonly KnownSession[]): void {
    for (const m of messages) {
      if (this.#messages.has(m.envelope.id)) continue;
      this.#insert({
        envelope: m.envelope,
        idempotency_key: m.idempotency_key,
        accepted_at: m.accepted_at,
        recipients: new Map(m.recipients.map((r) => [r.session_id, { ...r }])),
      });
    }
    for (const k of known) this.#known.set(knownKey(k.mesh, k.session_id), knownOf(k));
  }
}
