// The wire forms of messages and their states, built from explicit field lists (never a stored
// object passed through). Pure. The client package re-exports these types.
import type { DeliveryState, RefusalReason } from "./delivery.js";
import type { Priority } from "./envelope.js";
import type { InboxItem, RecipientState, StoredMessage } from "./store.js";

/** A message as its recipient reads it (GET /v1/inbox, the `message` event). */
export interface WireMessage {
  readonly id: string;
  readonly mesh: string;
  readonly from: {
    readonly session_id: string | null;
    readonly display_name: string;
    readonly member_fingerprint: string;
    readonly host: string;
  };
  readonly to: string;
  readonly recipient: { readonly session_id: string; readonly display_name: string };
  readonly text: string;
  readonly priority: Priority;
  readonly reply_to: string | null;
  readonly sent_at: number;
  readonly state: DeliveryState;
}

/** One recipient as the sender sees it. */
export interface WireRecipient {
  readonly session_id: string;
  readonly display_name: string;
  readonly state: DeliveryState;
  readonly updated_at: number;
  readonly reason?: RefusalReason;
}

/** What POST /v1/messages answers (202). */
export interface SentMessage {
  readonly id: string;
  readonly recipients: readonly WireRecipient[];
}

/** What GET /v1/messages/{id} answers: the message's states, never its text. */
export interface MessageStatus {
  readonly id: string;
  readonly mesh: string;
  readonly to: string;
  readonly sent_at: number;
  readonly recipients: readonly WireRecipient[];
}

/** The `message_status` event: one recipient's state moved. */
export interface MessageStatusEvent {
  readonly message_id: string;
  readonly recipient: WireRecipient;
}

export function toWireMessage(item: InboxItem): WireMessage {
  const { envelope: m, recipient } = item;
  return {
    id: m.id,
    mesh: m.mesh,
    from: {
      session_id: m.from.session_id,
      display_name: m.from.display_name,
      member_fingerprint: m.from.member_fingerprint,
      host: m.from.host,
    },
    to: m.to,
    recipient: { session_id: recipient.session_id, display_name: recipient.display_name },
    text: m.text,
    priority: m.priority,
    reply_to: m.reply_to,
    sent_at: m.sent_at,
    state: recipient.state,
  };
}

export function toWireRecipient(r: RecipientState): WireRecipient {
  return {
    session_id: r.session_id,
    display_name: r.display_name,
    state: r.state,
    updated_at: r.updated_at,
    ...(r.reason !== undefined && { reason: r.reason }),
  };
}

export function toSentMessage(id: string, recipients: readonly RecipientState[]): SentMessage {
  return { id, recipients: recipients.map(toWireRecipient) };
}

export function toMessageStatus(m: StoredMessage): MessageStatus {
  return {
    id: m.envelope.id,
    mesh: m.envelope.mesh,
    to: m.envelope.to,
    sent_at: m.envelope.sent_at,
    recipients: m.recipients.map(toWireRecipient),
  };
}
