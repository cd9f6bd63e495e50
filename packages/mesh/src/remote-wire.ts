// What crosses NATS between daemons for a message, besides presence (remote-presence.ts):
//
//   message frame   on cm.<mesh>.to.<daemon>.s.<session>, one per recipient session:
//                   {"v":1,"id":…,"from_session":…|null,"box":{sealed box}}
//                   The box (seal.ts) is sealed to the recipient session's X25519 key under the
//                   routing (mesh, id, sender, recipient), and holds the signed envelope with the
//                   proof of who may sign it: the sender session's attestation by its member key
//                   (or, from a plain shell, the member key itself). So the recipient checks the
//                   whole chain from the frame alone, even for a sender whose presence it never saw.
//   receipt frame   on cm.<mesh>.to.<daemon>.r, to the sending daemon: a recipient's new state,
//                   signed by the recipient daemon's member key. Ids and states, no text.
//
// Pure: keys, clock and trust are passed in; every refusal is a reason that is counted.
import { isSessionId } from "@claudemesh/registry";
import { DELIVERY_STATES, type DeliveryState, type RefusalReason } from "./delivery.js";
import { type Envelope, parseEnvelope, verifyEnvelope } from "./envelope.js";
import { fingerprint, isKeyHex, isSignatureHex, type SigningKey, signText, verifyText } from "./keys.js";
import { daemonIdOf } from "./nats-layout.js";
import { checkAttestation, type PresenceTrust, trusts } from "./presence.js";
import { openWithAny, SEAL_LIMITS, type SealedBox, type SealingKeyPair, seal } from "./seal.js";
import { isUuid } from "./uuid.js";

/** The proof that the envelope's signing key speaks for a member: an attestation, or the member key. */
export type SenderProof =
  | {
      readonly kind: "session";
      readonly attestation: {
        readonly session_pubkey: string;
        readonly parent_member_pubkey: string;
        readonly expires_at: number;
        readonly signature: string;
      };
    }
  | { readonly kind: "member" };

export interface MessageFrame {
  readonly v: 1;
  readonly id: string;
  readonly from_session: string | null;
  readonly box: SealedBox;
}

/** Why a message frame was not taken: each is counted, none is stored. */
export type FrameRefusal =
  | "oversized"
  | "malformed"
  | "stale_key"
  | "tampered"
  | "bad_sender"
  | "untrusted_member"
  | "bad_signature"
  | "misrouted";

export type OpenedFrame =
  | { readonly ok: true; readonly envelope: Envelope; readonly fromDaemon: string; readonly memberPubkey: string }
  | { readonly ok: false; readonly reason: FrameRefusal; readonly detail: string };

const refuse = (reason: FrameRefusal, detail: string): OpenedFrame => ({ ok: false, reason, detail });

/**
 * The most a frame from another daemon may weigh, checked before it is parsed. A message frame
 * holds a box whose plaintext is at most `SEAL_LIMITS.maxPlaintextBytes`, in base64url (4/3),
 * plus its few short fields; a receipt is ids, a state and a signature. Anything larger could
 * never be taken, and parsing it (up to the server's max_payload, 1 MiB by default) is work a
 * hostile member would get for free.
 */
export const WIRE_LIMITS = {
  maxFrameBytes: Math.ceil((SEAL_LIMITS.maxPlaintextBytes * 4) / 3) + 4 * 1024,
  maxReceiptBytes: 4 * 1024,
} as const;

export type ReadJson =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: "oversized" | "malformed"; readonly detail: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A value received from the server, as JSON: refused as `oversized` past `maxBytes` (unparsed),
 * `malformed` when it is not UTF-8 or not JSON. Deep nesting parses (V8's parser does not
 * recurse) and is refused by the shape checks after.
 */
export function readWireJson(data: Uint8Array, maxBytes: number): ReadJson {
  if (data.length > maxBytes) {
    return { ok: false, reason: "oversized", detail: `${data.length} bytes, more than ${maxBytes}` };
  }
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { ok: false, reason: "malformed", detail: "not UTF-8" };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: "malformed", detail: "not JSON" };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The daemon id a member fingerprint (`SHA256:` + base64 of the key's digest) names. */
export function daemonIdOfFingerprint(memberFingerprint: string): string | undefined {
  if (!memberFingerprint.startsWith("SHA256:")) return undefined;
  const digest = Buffer.from(memberFingerprint.slice(7), "base64");
  return digest.length === 32 ? digest.toString("hex").slice(0, 16) : undefined;
}

/** Seals an envelope to one recipient session, with the proof of its sender. */
export function sealMessageFrame(
  envelope: Envelope,
  proof: SenderProof,
  recipient: { readonly session_id: string; readonly sealing_pubkey: string },
): MessageFrame {
  const plaintext = Buffer.from(JSON.stringify({ envelope, proof }));
  const box = seal(plaintext, recipient.sealing_pubkey, {
    mesh: envelope.mesh,
    message_id: envelope.id,
    sender_session_id: envelope.from.session_id,
    recipient_session_id: recipient.session_id,
  });
  return { v: 1, id: envelope.id, from_session: envelope.from.session_id, box };
}

/**
 * Opens a frame that arrived for `recipient` of `mesh` and checks it whole: the box opens with one
 * of the session's keys, the envelope is for this mesh and id, its signing key is vouched for by a
 * trusted member (or is that member's key), its member's daemon is the sender daemon it names,
 * and its signature holds.
 */
export function openMessageFrame(
  raw: unknown,
  at: { readonly mesh: string; readonly recipient: string },
  keys: readonly SealingKeyPair[],
  now: number,
  trust: PresenceTrust,
): OpenedFrame {
  if (!isRecord(raw) || raw.v !== 1 || !isUuid(raw.id)) return refuse("malformed", "not a v1 message frame");
  const from = raw.from_session;
  if (from !== null && !isSessionId(from)) return refuse("malformed", "from_session is not a session id");
  const opened = openWithAny(raw.box, keys, {
    mesh: at.mesh,
    message_id: raw.id,
    sender_session_id: from,
    recipient_session_id: at.recipient,
  });
  if (!opened.ok) {
    const reason = opened.error.reason;
    if (reason === "wrong_key") return refuse("stale_key", opened.error.message);
    return refuse(reason === "auth_failed" ? "tampered" : "malformed", opened.error.message);
  }
  let inner: unknown;
  try {
    inner = JSON.parse(Buffer.from(opened.value.plaintext).toString("utf8"));
  } catch {
    return refuse("malformed", "the sealed content is not JSON");
  }
  if (!isRecord(inner)) return refuse("malformed", "the sealed content is not an object");
  const parsed = parseEnvelope(inner.envelope);
  if (!parsed.ok) return refuse("malformed", `envelope: ${parsed.error.message}`);
  const envelope = parsed.value;
  if (envelope.id !== raw.id || envelope.mesh !== at.mesh || envelope.from.session_id !== from) {
    return refuse("misrouted", "the envelope's id, mesh or sender is not the frame's");
  }
  const proof = inner.proof;
  const signingKey = envelope.from.signing_key;
  let memberPubkey: string;
  if (isRecord(proof) && proof.kind === "member" && from === null) {
    memberPubkey = signingKey;
    if (!trusts(trust, at.mesh, memberPubkey)) {
      return refuse("untrusted_member", "sent by a member key not trusted for this mesh");
    }
  } else if (isRecord(proof) && proof.kind === "session" && from !== null && isRecord(proof.attestation)) {
    const a = proof.attestation;
    if (
      !isKeyHex(a.session_pubkey) ||
      !isKeyHex(a.parent_member_pubkey) ||
      !Number.isSafeInteger(a.expires_at) ||
      !isSignatureHex(a.signature)
    ) {
      return refuse("malformed", "the sender's attestation is not whole");
    }
    const attestation = {
      session_pubkey: a.session_pubkey,
      parent_member_pubkey: a.parent_member_pubkey,
      expires_at: a.expires_at as number,
      signature: a.signature,
    };
    if (attestation.session_pubkey !== signingKey) return refuse("bad_sender", "attests another key than the signer");
    const broken = checkAttestation(attestation, { mesh: at.mesh, sessionId: from }, now, trust);
    if (broken !== undefined) {
      return broken.field === "parent_member_pubkey"
        ? refuse("untrusted_member", broken.rule)
        : refuse("bad_sender", `attestation ${broken.field} ${broken.rule}`);
    }
    memberPubkey = attestation.parent_member_pubkey;
  } else {
    return refuse("malformed", "no proof of the sender fitting its session id");
  }
  if (fingerprint(memberPubkey) !== envelope.from.member_fingerprint) {
    return refuse("bad_sender", "the envelope names another member than the one vouching for it");
  }
  if (!verifyEnvelope(envelope, signingKey)) return refuse("bad_signature", "the envelope's signature does not verify");
  return { ok: true, envelope, fromDaemon: daemonIdOf(memberPubkey), memberPubkey };
}

/** A recipient's state, as its daemon tells the sending daemon. */
export interface Receipt {
  readonly v: 1;
  readonly mesh: string;
  readonly message_id: string;
  readonly session_id: string;
  readonly state: DeliveryState;
  readonly updated_at: number;
  readonly reason: RefusalReason | null;
  /** The recipient daemon's member key, which signs. */
  readonly member_pubkey: string;
  readonly signature: string;
}

/** States a receipt may carry: the recipient daemon's own moves, never `accepted`. */
const RECEIPT_STATES: ReadonlySet<DeliveryState> = new Set(DELIVERY_STATES.filter((s) => s !== "accepted"));

function receiptText(r: Omit<Receipt, "signature">): string {
  return `claudemesh-receipt|v1|${JSON.stringify([r.mesh, r.message_id, r.session_id, r.state, r.updated_at, r.reason, r.member_pubkey])}`;
}

export function signReceipt(fields: Omit<Receipt, "v" | "member_pubkey" | "signature">, member: SigningKey): Receipt {
  const unsigned = { v: 1 as const, ...fields, member_pubkey: member.publicKey };
  return { ...unsigned, signature: signText(member, receiptText(unsigned)) };
}

export type ReadReceipt =
  | { readonly ok: true; readonly receipt: Receipt }
  | { readonly ok: false; readonly reason: "malformed" | "bad_signature"; readonly detail: string };

/** A receipt that is whole and signed by the key it names; who that key may speak for is the caller's check. */
export function readReceipt(raw: unknown, mesh: string): ReadReceipt {
  if (
    !isRecord(raw) ||
    raw.v !== 1 ||
    raw.mesh !== mesh ||
    !isUuid(raw.message_id) ||
    !isSessionId(raw.session_id) ||
    !RECEIPT_STATES.has(raw.state as DeliveryState) ||
    !Number.isSafeInteger(raw.updated_at) ||
    !(raw.reason === null || raw.reason === "policy" || raw.reason === "inbox_full") ||
    !isKeyHex(raw.member_pubkey) ||
    !isSignatureHex(raw.signature)
  ) {
    return { ok: false, reason: "malformed", detail: "not a v1 receipt of this mesh" };
  }
  const r = raw as unknown as Receipt;
  const { signature, ...unsigned } = r;
  if (!verifyText(r.member_pubkey, receiptText(unsigned), signature)) {
    return { ok: false, reason: "bad_signature", detail: "the receipt's signature does not verify" };
  }
  return { ok: true, receipt: r };
}
