// Messages as they are sent, signed, stored and carried: the send request a client makes, and the
// signed envelope. Pure.
//
// What is signed, by the sender's session key (by the member key from a plain shell):
//   "claudemesh-message|v1|" + JSON.stringify([id, mesh, from_session_id, signing_key, to,
//                                              priority, reply_to, sent_at, text])
// A JSON array of strings, numbers and nulls has one serialisation, so the bytes are canonical
// and no field can bleed into the next. Names and hosts are not signed: a receiver takes them
// from the sender's verified presence.
import { FieldError, type Parsed } from "@claudemesh/registry";
import { isKeyHex, isSignatureHex, type SigningKey, signText, verifyText } from "./keys.js";
import { isUuid } from "./uuid.js";

export type Priority = "now" | "next" | "low";
export const PRIORITIES: readonly Priority[] = ["now", "next", "low"];

export const MESSAGE_LIMITS = {
  /** Text size in UTF-8 bytes. */
  minTextBytes: 1,
  maxTextBytes: 16 * 1024,
  idempotencyKey: 128,
  /** A client-signed message's sent_at may be this far from the daemon's clock. */
  maxClockSkewMs: 5 * 60 * 1000,
} as const;

// Printable text plus newline and tab: no other control character, no lone surrogate.
const FORBIDDEN_IN_TEXT = /[^\P{Cc}\t\n]|\p{Cs}/u;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]+$/;

/** The rule `text` breaks, or undefined. */
export function checkText(text: unknown): string | undefined {
  if (typeof text !== "string") return "must be a string";
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes < MESSAGE_LIMITS.minTextBytes || bytes > MESSAGE_LIMITS.maxTextBytes) {
    return `must be ${MESSAGE_LIMITS.minTextBytes}–${MESSAGE_LIMITS.maxTextBytes} bytes of UTF-8 (got ${bytes})`;
  }
  if (FORBIDDEN_IN_TEXT.test(text)) return "must contain only printable characters, newlines and tabs";
  return undefined;
}

/** What a client asks for in POST /v1/messages. */
export interface SendRequest {
  readonly to: string;
  readonly text: string;
  readonly priority: Priority;
  readonly reply_to: string | null;
  readonly idempotency_key: string | null;
  /** The mesh to send in, for a plain shell (a session always sends in its own). */
  readonly mesh?: string;
  /** Present when the client signed the message itself with its own session key. */
  readonly signed?: { readonly id: string; readonly sent_at: number; readonly signature: string };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const refuse = (field: string, rule: string): Parsed<never> => ({ ok: false, error: new FieldError(field, rule) });

/** Validates a send request; `to` is only checked for its shape here (see address.ts). */
export function parseSendRequest(raw: unknown): Parsed<SendRequest> {
  if (!isRecord(raw)) return refuse("body", "must be a JSON object");
  const { to, text, priority = "next", reply_to = null, idempotency_key = null, mesh, id, sent_at, signature } = raw;
  if (to === undefined) return refuse("to", "is required");
  if (typeof to !== "string") return refuse("to", "must be a string: a session id, a name, @group, role:NAME or *");
  if (text === undefined) return refuse("text", "is required");
  const textRule = checkText(text);
  if (textRule) return refuse("text", textRule);
  if (!PRIORITIES.includes(priority as Priority)) return refuse("priority", `must be one of ${PRIORITIES.join(", ")}`);
  if (reply_to !== null && !isUuid(reply_to)) return refuse("reply_to", "must be a message id (a lowercase UUID)");
  if (
    idempotency_key !== null &&
    (typeof idempotency_key !== "string" ||
      idempotency_key.length > MESSAGE_LIMITS.idempotencyKey ||
      !IDEMPOTENCY_KEY.test(idempotency_key))
  ) {
    return refuse(
      "idempotency_key",
      `must be 1–${MESSAGE_LIMITS.idempotencyKey} printable ASCII characters without spaces`,
    );
  }
  if (mesh !== undefined && (typeof mesh !== "string" || !/^[a-z0-9._-]{1,64}$/.test(mesh))) {
    return refuse("mesh", "may contain only a-z 0-9 . _ - (1–64 characters)");
  }
  const request = {
    to,
    text: text as string,
    priority: priority as Priority,
    reply_to: reply_to as string | null,
    idempotency_key: idempotency_key as string | null,
    ...(mesh !== undefined && { mesh: mesh as string }),
  };
  if (id === undefined && sent_at === undefined && signature === undefined) return { ok: true, value: request };
  // A client holding its own session key signs the message itself: all three, or none.
  if (!isUuid(id)) return refuse("id", "must be a lowercase UUID (sent with sent_at and signature)");
  if (typeof sent_at !== "number" || !Number.isSafeInteger(sent_at) || sent_at < 0) {
    return refuse("sent_at", "must be an integer (epoch ms, sent with id and signature)");
  }
  if (!isSignatureHex(signature)) return refuse("signature", "must be 128 lowercase hex characters");
  return { ok: true, value: { ...request, signed: { id, sent_at, signature } } };
}

/** Who sent a message. */
export interface MessageSender {
  /** Null when the member sent it from a plain shell. */
  readonly session_id: string | null;
  readonly display_name: string;
  readonly member_fingerprint: string;
  readonly host: string;
  /** The key that signed: the session's key, or the member key. */
  readonly signing_key: string;
}

/** A signed message: stored once whatever its fan-out, and what travels to other daemons. */
export interface Envelope {
  readonly id: string;
  readonly mesh: string;
  readonly from: MessageSender;
  readonly to: string;
  readonly text: string;
  readonly priority: Priority;
  readonly reply_to: string | null;
  readonly sent_at: number;
  readonly signature: string;
}

export type UnsignedEnvelope = Omit<Envelope, "signature">;

/** The canonical text a message's signature covers. */
export function messageSigningText(m: UnsignedEnvelope): string {
  return `claudemesh-message|v1|${JSON.stringify([
    m.id,
    m.mesh,
    m.from.session_id,
    m.from.signing_key,
    m.to,
    m.priority,
    m.reply_to,
    m.sent_at,
    m.text,
  ])}`;
}

export function signEnvelope(unsigned: UnsignedEnvelope, key: SigningKey): Envelope {
  return Object.freeze({ ...unsigned, signature: signText(key, messageSigningText(unsigned)) });
}

/**
 * Does the envelope's signature hold, by the key expected of its sender? The caller names that
 * key (from the sender's verified presence, or the member key): a key the envelope merely claims
 * proves nothing.
 */
export function verifyEnvelope(envelope: Envelope, expectedSigningKey: string): boolean {
  return (
    envelope.from.signing_key === expectedSigningKey &&
    verifyText(expectedSigningKey, messageSigningText(envelope), envelope.signature)
  );
}

/** Validates an envelope read back from disk or received from elsewhere (not its signature). */
export function parseEnvelope(raw: unknown): Parsed<Envelope> {
  if (!isRecord(raw)) return refuse("message", "must be a JSON object");
  const { id, mesh, from, to, text, priority, reply_to, sent_at, signature } = raw;
  if (!isUuid(id)) return refuse("id", "must be a lowercase UUID");
  if (typeof mesh !== "string" || !/^[a-z0-9._-]{1,64}$/.test(mesh)) return refuse("mesh", "is not a mesh name");
  if (!isRecord(from)) return refuse("from", "must be a JSON object");
  const { session_id, display_name, member_fingerprint, host, signing_key } = from;
  if (session_id !== null && (typeof session_id !== "string" || !/^[A-Za-z0-9._:-]{1,128}$/.test(session_id))) {
    return refuse("from.session_id", "must be null or a session id");
  }
  if (typeof display_name !== "string" || display_name.length === 0 || display_name.length > 256) {
    return refuse("from.display_name", "must be a name");
  }
  if (typeof member_fingerprint !== "string" || !member_fingerprint.startsWith("SHA256:")) {
    return refuse("from.member_fingerprint", "must be a SHA256: fingerprint");
  }
  if (typeof host !== "string" || host.length > 255) return refuse("from.host", "must be a host name");
  if (!isKeyHex(signing_key)) return refuse("from.signing_key", "must be 64 lowercase hex characters");
  if (typeof to !== "string" || to.length === 0) return refuse("to", "must be an address");
  const textRule = checkText(text);
  if (textRule) return refuse("text", textRule);
  if (!PRIORITIES.includes(priority as Priority)) return refuse("priority", "is not a priority");
  if (reply_to !== null && !isUuid(reply_to)) return refuse("reply_to", "must be null or a message id");
  if (typeof sent_at !== "number" || !Number.isSafeInteger(sent_at)) return refuse("sent_at", "must be epoch ms");
  if (!isSignatureHex(signature)) return refuse("signature", "must be 128 lowercase hex characters");
  return {
    ok: true,
    value: Object.freeze({
      id,
      mesh,
      from: Object.freeze({
        session_id: session_id as string | null,
        display_name,
        member_fingerprint,
        host,
        signing_key,
      }),
      to,
      text: text as string,
      priority: priority as Priority,
      reply_to: reply_to as string | null,
      sent_at,
      signature,
    }),
  };
}
