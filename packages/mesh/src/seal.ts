// Sealed boxes: a message's bytes encrypted to one recipient session's X25519 key, for meshes that
// span machines (the bytes cross NATS, which must learn nothing but routing). node:crypto only, pure.
//
//   eph     = a fresh X25519 key pair per box
//   shared  = X25519(eph_secret, recipient_public)
//   key     = HKDF-SHA256(shared, salt = eph_public || recipient_public, info = LABEL + context, 32)
//   ct      = ChaCha20-Poly1305(key, nonce = 12 random bytes, aad = LABEL + context) || 16-byte tag
//   box     = {"v":1,"kid":…,"epk":…,"nonce":…,"ct":…}   every field but v unpadded base64url
//
// `kid` is the first 8 bytes of the recipient's public key: it names the key a box was sealed to, so
// an old key is told from a tampered box, and a daemon holding a current and a previous key opens
// with the right one at once. It leaks nothing the recipient's presence does not already publish.
// A box is anonymous: the sender is authenticated by the signed envelope inside it, not by the box.
//
// Keys are kept as in keys.ts, for the same node:crypto reasons: importing a private key from
// PKCS#8 DER costs ~0.6 ms where JWK costs ~0.06 ms, and JWK exports can deadlock Node 20 (see
// seal), so a key pair holds its 32 secret bytes (a SecretKey), KeyObjects are built from JWK on
// demand, a bounded number cached, and no key comes from generateKeyPairSync.
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import { isMeshName, isSessionId, SecretKey } from "@claudemesh/registry";
import { KeyCache } from "./key-cache.js";
import { isUuid, pooledRandom } from "./uuid.js";

export const SEAL_VERSION = 1;

export const SEAL_LIMITS = {
  /** Well above a 16 KiB message's envelope; its box, in base64url, fits NATS's 1 MiB max_payload. */
  maxPlaintextBytes: 256 * 1024,
} as const;

const KEY_BYTES = 32;
const KID_BYTES = 8;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const LABEL = "claudemesh seal v1|";

/** An X25519 key pair: the public key as unpadded base64url of its 32 raw bytes, the secret wrapped. */
export interface SealingKeyPair {
  readonly publicKey: string;
  readonly secret: SecretKey;
}

/**
 * What a box is bound to: the routing of the message it carries. A box opens only under the same
 * context, so a relay cannot hand it to another recipient, or under another message id, unnoticed.
 */
export interface SealContext {
  readonly mesh: string;
  readonly message_id: string;
  /** Null when the member sent from a plain shell. */
  readonly sender_session_id: string | null;
  readonly recipient_session_id: string;
}

export interface SealedBox {
  readonly v: 1;
  readonly kid: string;
  readonly epk: string;
  readonly nonce: string;
  readonly ct: string;
}

export type SealFailure = "malformed" | "unsupported_version" | "wrong_key" | "auth_failed";

const FAILURE_TEXT: Record<SealFailure, string> = {
  malformed: "is not a sealed box",
  unsupported_version: "is of a version this daemon does not open",
  wrong_key: "was sealed to another key",
  auth_failed: "does not authenticate: tampered with, or sealed under another context",
};

export class SealError extends Error {
  override readonly name = "SealError";
  constructor(
    readonly reason: SealFailure,
    detail?: string,
  ) {
    super(`sealed box ${FAILURE_TEXT[reason]}${detail ? `: ${detail}` : ""}`);
  }
}

export type Opened<T> = { ok: true; value: T } | { ok: false; error: SealError };

const B64URL = /^[A-Za-z0-9_-]*$/;

/** The bytes of unpadded base64url, or undefined unless it is the one encoding of them. */
function decode(value: unknown): Buffer | undefined {
  if (typeof value !== "string" || !B64URL.test(value)) return undefined;
  const bytes = Buffer.from(value, "base64url");
  // Node ignores stray trailing bits: comparing the re-encoding keeps each box one string.
  return bytes.toString("base64url") === value ? bytes : undefined;
}

export function isSealingKey(value: unknown): value is string {
  return decode(value)?.length === KEY_BYTES;
}

/**
 * The canonical bytes of a context: a JSON array of strings and nulls has one serialisation, so no
 * field bleeds into the next. Its fields are bounded, which keeps HKDF's info under its 1024 bytes.
 */
export function sealContextText(context: SealContext): string {
  const { mesh, message_id, sender_session_id: from, recipient_session_id: to } = context;
  if (!isMeshName(mesh)) throw new TypeError("seal context: mesh is not a mesh name");
  if (!isUuid(message_id)) throw new TypeError("seal context: message_id must be a lowercase UUID");
  if (from !== null && !isSessionId(from)) {
    throw new TypeError("seal context: sender_session_id must be null or a session id");
  }
  if (!isSessionId(to)) {
    throw new TypeError("seal context: recipient_session_id must be a session id");
  }
  return `${LABEL}${JSON.stringify([mesh, message_id, from, to])}`;
}

const secretOf = (seed: Buffer) =>
  createPrivateKey({
    // node:crypto wants `x` in a private JWK but derives the public key from `d` alone.
    key: { kty: "OKP", crv: "X25519", d: seed.toString("base64url"), x: "A".repeat(43) },
    format: "jwk",
  });

const publicOf = (key: KeyObject) => key.export({ format: "jwk" }).x as string;

const seedBytes = pooledRandom();

export function generateSealingKeyPair(): SealingKeyPair {
  return sealingKeyPairFromSeed(seedBytes(KEY_BYTES).toString("hex"));
}

/** The key pair of 32 secret bytes (hex), as a daemon restores it: the public key is derived. */
export function sealingKeyPairFromSeed(seedHex: string): SealingKeyPair {
  const secret = new SecretKey(seedHex); // checks the shape
  const key = secretOf(Buffer.from(seedHex, "hex"));
  const pair = { publicKey: publicOf(createPublicKey(key)), secret };
  remember(pair.publicKey, key);
  return pair;
}

// Private KeyObjects of the keys that opened recently: building one costs ~60 µs, about as much
// as the X25519 itself.
const secrets = new KeyCache<KeyObject>(1024);

function remember(publicKey: string, key: KeyObject): void {
  secrets.set(publicKey, key);
}

function secretKeyOf(pair: SealingKeyPair): KeyObject {
  let key = secrets.get(pair.publicKey);
  if (key === undefined) {
    key = secretOf(Buffer.from(pair.secret.reveal(), "hex"));
    if (publicOf(createPublicKey(key)) !== pair.publicKey) throw new Error("a sealing key pair that does not match");
  }
  remember(pair.publicKey, key);
  return key;
}

// Recipients' public keys, as KeyObjects: the same few recipients get most boxes.
const publics = new KeyCache<KeyObject>(4096);

function publicKeyOf(publicKey: string): KeyObject {
  let key = publics.get(publicKey);
  if (key === undefined) {
    key = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: publicKey }, format: "jwk" });
    publics.set(publicKey, key);
  }
  return key;
}

// Not cached: an epk is used once, and would push recipients' keys out of the cache.
const ephemeralKeyOf = (epk: Buffer) =>
  createPublicKey({ key: { kty: "OKP", crv: "X25519", x: epk.toString("base64url") }, format: "jwk" });

/**
 * The AEAD key of a box. The salt holds both public keys so the key is of this exchange alone: a
 * box re-addressed to another recipient key, or with its epk swapped, derives another key. The
 * info holds the context too, so no two messages or recipients ever share a key.
 */
function boxKey(shared: Buffer, epk: Buffer, recipient: Buffer, contextText: string): Buffer {
  return Buffer.from(hkdfSync("sha256", shared, Buffer.concat([epk, recipient]), contextText, KEY_BYTES));
}

/**
 * Seals `plaintext` to the session holding `recipientPublicKey`, bound to `context`. Throws a
 * TypeError for a key or context that is not one, a RangeError above SEAL_LIMITS.
 */
export function seal(plaintext: Uint8Array, recipientPublicKey: string, context: SealContext): SealedBox {
  const recipient = decode(recipientPublicKey);
  if (recipient?.length !== KEY_BYTES) throw new TypeError("a sealing key is 32 bytes as unpadded base64url");
  if (plaintext.length > SEAL_LIMITS.maxPlaintextBytes) {
    throw new RangeError(`a sealed plaintext is at most ${SEAL_LIMITS.maxPlaintextBytes} bytes`);
  }
  const contextText = sealContextText(context);
  // From a seed, not generateKeyPairSync: Node 20 deadlocks when a GC, run inside a JWK export,
  // frees a key generation job (~KeyGenJob takes the mutex ExportJWKEdKey holds).
  const eph = secretOf(seedBytes(KEY_BYTES));
  const epk = Buffer.from(publicOf(createPublicKey(eph)), "base64url");
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: eph, publicKey: publicKeyOf(recipientPublicKey) });
  } catch {
    throw new TypeError("a sealing key that is not a usable X25519 public key (a low-order point)");
  }
  // Each box has its own key (a fresh eph), so no nonce repeats under a key; random all the same.
  const nonce = seedBytes(NONCE_BYTES);
  const cipher = createCipheriv("chacha20-poly1305", boxKey(shared, epk, recipient, contextText), nonce, {
    authTagLength: TAG_BYTES,
  });
  // The routing is the AAD: the tag covers it, so a box opens only for this message and recipient.
  cipher.setAAD(Buffer.from(contextText, "utf8"), { plaintextLength: plaintext.length });
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return Object.freeze({
    v: SEAL_VERSION,
    kid: recipient.subarray(0, KID_BYTES).toString("base64url"),
    epk: epk.toString("base64url"),
    nonce: nonce.toString("base64url"),
    ct: ct.toString("base64url"),
  });
}

interface ParsedBox {
  readonly kid: Buffer;
  readonly epk: Buffer;
  readonly nonce: Buffer;
  readonly ct: Buffer;
}

const refuse = (reason: SealFailure, detail?: string): { ok: false; error: SealError } => ({
  ok: false,
  error: new SealError(reason, detail),
});

function parseBox(raw: unknown): Opened<ParsedBox> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return refuse("malformed", "not an object");
  const box = raw as Record<string, unknown>;
  if (box.v !== SEAL_VERSION) {
    return typeof box.v === "number" ? refuse("unsupported_version", `v ${box.v}`) : refuse("malformed", "no v");
  }
  const kid = decode(box.kid);
  if (kid?.length !== KID_BYTES) return refuse("malformed", "kid must be 8 bytes of base64url");
  const epk = decode(box.epk);
  if (epk?.length !== KEY_BYTES) return refuse("malformed", "epk must be 32 bytes of base64url");
  const nonce = decode(box.nonce);
  if (nonce?.length !== NONCE_BYTES) return refuse("malformed", "nonce must be 12 bytes of base64url");
  const ct = decode(box.ct);
  if (ct === undefined || ct.length < TAG_BYTES) return refuse("malformed", "ct must be base64url of at least a tag");
  if (ct.length - TAG_BYTES > SEAL_LIMITS.maxPlaintextBytes) return refuse("malformed", "ct is too long");
  return { ok: true, value: { kid, epk, nonce, ct } };
}

function openParsed(box: ParsedBox, pair: SealingKeyPair, contextText: string): Opened<Uint8Array> {
  const recipient = Buffer.from(pair.publicKey, "base64url");
  const secret = secretKeyOf(pair); // outside the try: a pair that does not match is the caller's error
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: secret, publicKey: ephemeralKeyOf(box.epk) });
  } catch {
    return refuse("malformed", "epk is not a usable X25519 public key"); // a low-order point
  }
  const body = box.ct.subarray(0, box.ct.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv("chacha20-poly1305", boxKey(shared, box.epk, recipient, contextText), box.nonce, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAuthTag(box.ct.subarray(body.length));
    decipher.setAAD(Buffer.from(contextText, "utf8"), { plaintextLength: body.length });
    const plaintext = decipher.update(body);
    // final() checks the tag, in constant time (OpenSSL); until it passes, the bytes are not returned.
    return { ok: true, value: Buffer.concat([plaintext, decipher.final()]) };
  } catch {
    return refuse("auth_failed");
  }
}

/** Opens `box` (as parsed from JSON) with `recipient`'s key under `context`. Never throws for a box. */
export function open(box: unknown, recipient: SealingKeyPair, context: SealContext): Opened<Uint8Array> {
  const opened = openWithAny(box, [recipient], context);
  return opened.ok ? { ok: true, value: opened.value.plaintext } : opened;
}

/**
 * Opens `box` with whichever of `keys` it was sealed to: the current key and the previous one,
 * kept until the boxes sealed to it are delivered. Says which key opened it. Never throws for a box.
 */
export function openWithAny(
  box: unknown,
  keys: readonly SealingKeyPair[],
  context: SealContext,
): Opened<{ plaintext: Uint8Array; key: SealingKeyPair; index: number }> {
  const contextText = sealContextText(context);
  const parsed = parseBox(box);
  if (!parsed.ok) return parsed;
  const { kid } = parsed.value;
  let failure: { ok: false; error: SealError } | undefined;
  for (const [index, key] of keys.entries()) {
    // The kid is public and only picks a key: the tag, checked with that key, is what authenticates.
    if (!kid.equals(Buffer.from(key.publicKey, "base64url").subarray(0, KID_BYTES))) continue;
    const opened = openParsed(parsed.value, key, contextText);
    if (opened.ok) return { ok: true, value: { plaintext: opened.value, key, index } };
    failure = opened;
  }
  return failure ?? refuse("wrong_key", `kid ${kid.toString("base64url")}`);
}
