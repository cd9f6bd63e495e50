// ed25519 keys, signatures and fingerprints, with node:crypto only. Keys travel as lowercase hex
// of their raw 32 bytes (signatures: 64 bytes), as the contract writes them.
//
// Two node:crypto facts shape this file: importing a private key from PKCS#8 DER costs ~0.4 ms
// where JWK costs ~0.04 ms, so seeds are imported as JWK; and exporting a *private* key as JWK
// hangs Node 20 after a few thousand calls in one process, so the seed is read back from PKCS#8
// DER (its last 32 bytes). Sessions hold their seed (a SecretKey), not a KeyObject: see signerOf.
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { SecretKey } from "@claudemesh/registry";
import { KeyCache } from "./key-cache.js";
import { pooledRandom } from "./uuid.js";

const HEX32 = /^[0-9a-f]{64}$/;
const HEX64 = /^[0-9a-f]{128}$/;

export function isKeyHex(value: unknown): value is string {
  return typeof value === "string" && HEX32.test(value);
}

export function isSignatureHex(value: unknown): value is string {
  return typeof value === "string" && HEX64.test(value);
}

/** An ed25519 key pair: the public key as hex, the secret as a KeyObject that never leaves memory. */
export interface SigningKey {
  readonly publicKey: string;
  readonly secretKey: KeyObject;
}

const b64urlToHex = (s: string) => Buffer.from(s, "base64url").toString("hex");
const hexToB64url = (s: string) => Buffer.from(s, "hex").toString("base64url");

function publicHexOf(key: KeyObject): string {
  const { x } = key.export({ format: "jwk" });
  if (typeof x !== "string") throw new Error("ed25519 key without a public part");
  return b64urlToHex(x);
}

/**
 * A fresh key pair, from a random seed. Not generateKeyPairSync: on Node 20 a JWK export of a key
 * it generated can deadlock the process (a GC inside the export frees the key-generation job,
 * which takes a lock the export holds; seen hanging ~1 run in 4 under load).
 */
export function generateSigningKey(): SigningKey {
  return signingKeyFromSeed(seedBytes(32).toString("hex"));
}

/**
 * The key pair of a 32-byte seed (hex). The public key is derived from the seed; a caller that
 * was also given a public key compares it with this one.
 */
export function signingKeyFromSeed(seedHex: string): SigningKey {
  if (!isKeyHex(seedHex)) throw new TypeError("an ed25519 seed is 64 lowercase hex characters");
  // node:crypto wants `x` in a private JWK but derives the public key from `d` alone.
  const secretKey = createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: hexToB64url(seedHex), x: hexToB64url("00".repeat(32)) },
    format: "jwk",
  });
  return { publicKey: publicHexOf(createPublicKey(secretKey)), secretKey };
}

/** The 32-byte seed of a key, as hex: for the member key file, and for a session's SecretKey. */
export function seedOf(key: SigningKey): string {
  const der = key.secretKey.export({ format: "der", type: "pkcs8" });
  return der.subarray(der.length - 32).toString("hex");
}

/** A key pair as a session keeps it: its public key, and its seed wrapped so that it never prints. */
export interface HeldKey {
  readonly publicKey: string;
  readonly secret: SecretKey;
}

/**
 * A fresh key pair to hold, and its signing key for the signature it is minted for. Made from a
 * random seed: that skips the DER export a generated key needs to give its seed (~30 µs of ~140).
 */
export function generateHeldKey(): { held: HeldKey; signer: SigningKey } {
  const seed = seedBytes(32).toString("hex");
  const signer = signingKeyFromSeed(seed);
  const held = { publicKey: signer.publicKey, secret: new SecretKey(seed) };
  remember(signer);
  return { held, signer };
}

// Seeds come from a pool of CSPRNG bytes: one call per 128 seeds, not one each (~10 µs a call).
const seedBytes = pooledRandom();

// KeyObjects of the sessions that signed recently (building one from a seed costs ~40 µs).
const signers = new KeyCache<SigningKey>(1024);

function remember(signer: SigningKey): void {
  signers.set(signer.publicKey, signer);
}

/** The signing key of a held key pair, from the cache or built now. */
export function signerOf(held: HeldKey): SigningKey {
  let signer = signers.get(held.publicKey);
  if (signer === undefined) {
    signer = signingKeyFromSeed(held.secret.reveal());
    if (signer.publicKey !== held.publicKey) throw new Error("a held key whose seed is not its public key's");
  }
  remember(signer);
  return signer;
}

export function signText(key: SigningKey, text: string): string {
  return sign(null, Buffer.from(text, "utf8"), key.secretKey).toString("hex");
}

// Public keys seen recently, as KeyObjects: the same few senders sign most messages.
const verifyKeys = new KeyCache<KeyObject>(4096);

function verifyingKey(publicKeyHex: string): KeyObject {
  let key = verifyKeys.get(publicKeyHex);
  if (key === undefined) {
    key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: hexToB64url(publicKeyHex) }, format: "jwk" });
    verifyKeys.set(publicKeyHex, key);
  }
  return key;
}

/** Does `signatureHex` sign `text` under `publicKeyHex`? False for anything malformed, never a throw. */
export function verifyText(publicKeyHex: string, text: string, signatureHex: string): boolean {
  if (!isKeyHex(publicKeyHex) || !isSignatureHex(signatureHex)) return false;
  try {
    return verify(null, Buffer.from(text, "utf8"), verifyingKey(publicKeyHex), Buffer.from(signatureHex, "hex"));
  } catch {
    return false; // a 32-byte string that is not a point on the curve
  }
}

// Fingerprints are of member keys, a handful per daemon, each repeated in every session's
// presence: one string each, not one per session.
const fingerprints = new Map<string, string>();

/** `SHA256:` + unpadded base64 of the SHA-256 of the raw public key, in the style of `ssh-keygen -l`. */
export function fingerprint(publicKeyHex: string): string {
  let print = fingerprints.get(publicKeyHex);
  if (print === undefined) {
    const digest = createHash("sha256").update(Buffer.from(publicKeyHex, "hex")).digest("base64");
    print = `SHA256:${digest.replace(/=+$/, "")}`;
    if (fingerprints.size >= 1024) fingerprints.clear();
    fingerprints.set(publicKeyHex, print);
  }
  return print;
}
