// The persistence codec of the message store: a checkpoint (`messages.jsonl`) and journal lines,
// in the shape registry/checkpoint.ts describes. Pure. Message text is stored once per message,
// whatever its fan-out; recipients carry only their states.
//
// Checkpoint:  {"format":"claudemesh-messages","version":1,"count":N,"saved_at":…,"journal_from":G}
//              {"kind":"message","message":{…envelope},"recipients":[…],"idempotency_key":…,"accepted_at":…}
//              {"kind":"known","session_id":…,"mesh":…,"display_name":…,"seen_at":…}
// Journal:     {"op":"message",…as above}            a message accepted
//              {"op":"state","id","session_id","state","at","reason"?}   a recipient's state moved
//              {"op":"drop","id"}                     a message no longer kept
//              {"op":"known",…as above}               a session id seen live
// Replay applies the store's own rule (states only move forward), so replaying a journal over
// a checkpoint that already holds some of its changes yields the same state.
import {
  type CheckpointResult,
  decodeCheckpoint,
  encodeCheckpointHeader,
  replayLines,
  type SkippedLine,
  StateDecodeError,
} from "@claudemesh/registry";
import { canAdvance, DELIVERY_STATES, type DeliveryState, type RefusalReason } from "./delivery.js";
import { parseEnvelope } from "./envelope.js";
import type { KnownSession, RecipientState, StoreChange, StoredMessage } from "./store.js";

export const MESSAGES_FORMAT = "claudemesh-messages";
export const MESSAGES_VERSION = 1;

export type MessageItem =
  | { readonly kind: "message"; readonly message: StoredMessage }
  | { readonly kind: "known"; readonly known: KnownSession };

/** The checkpoint's items: messages oldest first, then known session ids. */
export function itemsOf(snapshot: {
  messages: readonly StoredMessage[];
  known: readonly KnownSession[];
}): MessageItem[] {
  return [
    ...snapshot.messages.map((message) => ({ kind: "message" as const, message })),
    ...snapshot.known.map((known) => ({ kind: "known" as const, known })),
  ];
}

export function splitItems(items: readonly MessageItem[]): { messages: StoredMessage[]; known: KnownSession[] } {
  const messages: StoredMessage[] = [];
  const known: KnownSession[] = [];
  for (const item of items) {
    if (item.kind === "message") messages.push(item.message);
    else known.push(item.known);
  }
  return { messages, known };
}

function messageFields(m: StoredMessage) {
  return {
    message: m.envelope,
    recipients: m.recipients,
    idempotency_key: m.idempotency_key,
    accepted_at: m.accepted_at,
  };
}

function knownFields(k: KnownSession) {
  return { session_id: k.session_id, mesh: k.mesh, display_name: k.display_name, seen_at: k.seen_at };
}

export function encodeMessagesHeader(count: number, savedAt: number, journalFrom = 0): string {
  return encodeCheckpointHeader(MESSAGES_FORMAT, MESSAGES_VERSION, count, savedAt, journalFrom);
}

export function encodeMessageItem(item: MessageItem): string {
  return JSON.stringify(
    item.kind === "message"
      ? { kind: "message", ...messageFields(item.message) }
      : { kind: "known", ...knownFields(item.known) },
  );
}

/** The journal line of a store change. */
export function encodeMessageChange(change: StoreChange): string {
  switch (change.kind) {
    case "accepted":
      return JSON.stringify({ op: "message", ...messageFields(change.message) });
    case "state": {
      const { recipient } = change;
      return JSON.stringify({
        op: "state",
        id: change.envelope.id,
        session_id: recipient.session_id,
        state: recipient.state,
        at: recipient.updated_at,
        ...(recipient.reason !== undefined && { reason: recipient.reason }),
      });
    }
    case "recipient":
      return JSON.stringify({ op: "recipient", id: change.id, recipient: change.recipient });
    case "dropped":
      return JSON.stringify({ op: "drop", id: change.id });
    case "known":
      return JSON.stringify({ op: "known", ...knownFields(change.known) });
  }
}

const bad = (message: string) => new StateDecodeError(message);
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const REASONS: readonly string[] = ["policy", "inbox_full"];

function parseRecipient(raw: unknown): RecipientState {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (typeof r.session_id !== "string" || r.session_id.length === 0) throw bad("recipient session_id must be a string");
  if (typeof r.display_name !== "string") throw bad("recipient display_name must be a string");
  if (!DELIVERY_STATES.includes(r.state as DeliveryState)) throw bad("recipient state is not a delivery state");
  if (!isInt(r.updated_at)) throw bad("recipient updated_at must be epoch ms");
  if (r.reason !== undefined && !REASONS.includes(r.reason as string))
    throw bad("recipient reason is not a refusal reason");
  return {
    session_id: r.session_id,
    display_name: r.display_name,
    state: r.state as DeliveryState,
    updated_at: r.updated_at,
    ...(r.reason !== undefined && { reason: r.reason as RefusalReason }),
  };
}

function parseStoredMessage(raw: Record<string, unknown>): StoredMessage {
  const envelope = parseEnvelope(raw.message);
  if (!envelope.ok) throw bad(`message ${envelope.error.message}`);
  if (!Array.isArray(raw.recipients) || raw.recipients.length === 0) throw bad("recipients must be a non-empty array");
  const recipients = raw.recipients.map(parseRecipient);
  if (new Set(recipients.map((r) => r.session_id)).size !== recipients.length) throw bad("duplicate recipient");
  const key = raw.idempotency_key;
  if (key !== null && typeof key !== "string") throw bad("idempotency_key must be null or a string");
  if (!isInt(raw.accepted_at)) throw bad("accepted_at must be epoch ms");
  return { envelope: envelope.value, recipients, idempotency_key: key, accepted_at: raw.accepted_at };
}

function parseKnown(raw: Record<string, unknown>): KnownSession {
  const { session_id, mesh, display_name, seen_at } = raw;
  if (
    typeof session_id !== "string" ||
    typeof mesh !== "string" ||
    typeof display_name !== "string" ||
    !isInt(seen_at)
  ) {
    throw bad("known session needs session_id, mesh, display_name and seen_at");
  }
  return { session_id, mesh, display_name, seen_at };
}

function parseItem(raw: unknown): MessageItem {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (r.kind === "message") return { kind: "message", message: parseStoredMessage(r) };
  if (r.kind === "known") return { kind: "known", known: parseKnown(r) };
  throw bad(`unknown item kind ${JSON.stringify(r.kind)}`);
}

/** Decodes a messages checkpoint. Never throws. */
export function decodeMessages(text: string): CheckpointResult<MessageItem> {
  const ids = new Set<string>();
  return decodeCheckpoint(
    text,
    MESSAGES_FORMAT,
    MESSAGES_VERSION,
    (raw) => {
      const item = parseItem(raw);
      if (item.kind === "message") {
        if (ids.has(item.message.envelope.id)) throw bad("duplicate message id");
        ids.add(item.message.envelope.id);
      }
      return item;
    },
    "items",
  );
}

export interface MessageReplayResult {
  readonly items: MessageItem[];
  readonly applied: number;
  readonly skipped: SkippedLine[];
}

interface Replayed {
  message: StoredMessage;
  recipients: Map<string, RecipientState>;
}

/** Applies journal texts, in order, over the items of a checkpoint. Never throws. */
export function replayMessageJournal(base: readonly MessageItem[], journals: readonly string[]): MessageReplayResult {
  const messages = new Map<string, Replayed>();
  const known = new Map<string, KnownSession>();
  const putMessage = (m: StoredMessage) =>
    messages.set(m.envelope.id, { message: m, recipients: new Map(m.recipients.map((r) => [r.session_id, r])) });
  const putKnown = (k: KnownSession) => {
    const key = `${k.mesh}\u0000${k.session_id}`;
    known.delete(key);
    known.set(key, k);
  };
  for (const item of base) {
    if (item.kind === "message") putMessage(item.message);
    else putKnown(item.known);
  }
  const { applied, skipped } = replayLines(journals, (raw) => {
    const line = raw as Record<string, unknown>;
    try {
      switch (line.op) {
        case "message": {
          const m = parseStoredMessage(line);
          if (!messages.has(m.envelope.id)) putMessage(m);
          return undefined;
        }
        case "state": {
          const entry = typeof line.id === "string" ? messages.get(line.id) : undefined;
          if (entry === undefined) return "state of an unknown message";
          const current = typeof line.session_id === "string" ? entry.recipients.get(line.session_id) : undefined;
          if (current === undefined) return "state of an unknown recipient";
          const next = parseRecipient({ ...current, state: line.state, updated_at: line.at, reason: line.reason });
          // Already there (a replay over a checkpoint that holds it): nothing to do, not an error.
          if (next.state !== current.state && canAdvance(current.state, next.state)) {
            entry.recipients.set(next.session_id, next);
          }
          return undefined;
        }
        case "recipient": {
          const entry = typeof line.id === "string" ? messages.get(line.id) : undefined;
          if (entry === undefined) return "recipient of an unknown message";
          const added = parseRecipient(line.recipient);
          // Already there (a replay over a checkpoint that holds it, with a later state): keep that.
          if (!entry.recipients.has(added.session_id)) entry.recipients.set(added.session_id, added);
          return undefined;
        }
        case "drop":
          if (typeof line.id !== "string") return "drop needs an id";
          messages.delete(line.id);
          return undefined;
        case "known":
          putKnown(parseKnown(line));
          return undefined;
        default:
          return `unknown op ${JSON.stringify(line.op)}`;
      }
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  });
  const items: MessageItem[] = [];
  for (const { message, recipients } of messages.values()) {
    items.push({ kind: "message", message: { ...message, recipients: [...recipients.values()] } });
  }
  for (const k of known.values()) items.push({ kind: "known", known: k });
  return { items, applied, skipped };
}
