import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from "node:crypto";
import { SecretKey } from "@claudemesh/registry";
import { describe, expect, it } from "vitest";
import {
  generateSealingKeyPair,
  isSealingKey,
  open,
  openWithAny,
  type SealContext,
  SealError,
  type SealedBox,
  type SealFailure,
  seal,
  sealContextText,
  sealingKeyPairFromSeed,
} from "../src/seal.js";

const CONTEXT: SealContext = {
  mesh: "default",
  message_id: "01890a5d-ac96-774b-bcce-b302099a8057",
  sender_session_id: "alice",
  recipient_session_id: "bob",
};

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array) => new TextDecoder().decode(value);

function reasonOf(result: { ok: true } | { ok: false; error: SealError }): SealFailure | "opened" {
  if (result.ok) return "opened";
  expect(result.error).toBeInstanceOf(SealError);
  return result.error.reason;
}

/** The box with bit `bit` of field `field`'s bytes flipped. */
function flipped(box: SealedBox, field: "epk" | "nonce" | "ct", bit: number): SealedBox {
  const raw = Buffer.from(box[field], "base64url");
  raw[bit >> 3] = (raw[bit >> 3] as number) ^ (1 << (bit & 7));
  return { ...box, [field]: raw.toString("base64url") };
}

// RFC 7748, section 6.1.
const RFC = {
  alice: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
  alicePublic: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  bob: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
  bobPublic: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  shared: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
};

const hexToB64url = (hex: string) => Buffer.from(hex, "hex").toString("base64url");
const jwkSecret = (hex: string) =>
  createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: hexToB64url(hex), x: "A".repeat(43) }, format: "jwk" });
// DER, not JWK: a JWK export of a generated key can deadlock Node 20 (see seal.ts).
const spkiRaw = (key: KeyObject) => key.export({ format: "der", type: "spki" }).subarray(-32).toString("base64url");
const jwkPublic = (b64url: string) => createPublicKey({ key: { kty: "OKP", crv: "X25519", x: b64url }, format: "jwk" });

describe("X25519 sealing keys", () => {
  it("derives RFC 7748's public keys and shared secret from raw secrets", () => {
    expect(sealingKeyPairFromSeed(RFC.alice).publicKey).toBe(hexToB64url(RFC.alicePublic));
    expect(sealingKeyPairFromSeed(RFC.bob).publicKey).toBe(hexToB64url(RFC.bobPublic));
    const shared = diffieHellman({
      privateKey: jwkSecret(RFC.alice),
      publicKey: jwkPublic(hexToB64url(RFC.bobPublic)),
    });
    expect(shared.toString("hex")).toBe(RFC.shared);
  });

  it("imports raw keys as node's generateKeyPairSync('x25519') makes them: diffieHellman agrees both ways", () => {
    for (let i = 0; i < 20; i++) {
      const a = generateKeyPairSync("x25519");
      const b = generateKeyPairSync("x25519");
      const raw = (key: typeof a.privateKey) =>
        key.export({ format: "der", type: "pkcs8" }).subarray(-32).toString("hex");
      const pairA = sealingKeyPairFromSeed(raw(a.privateKey));
      const pairB = sealingKeyPairFromSeed(raw(b.privateKey));
      expect(pairA.publicKey).toBe(spkiRaw(a.publicKey));
      const ours = diffieHellman({
        privateKey: jwkSecret(pairA.secret.reveal()),
        publicKey: jwkPublic(pairB.publicKey),
      });
      const theirs = diffieHellman({ privateKey: b.privateKey, publicKey: a.publicKey });
      expect(ours.equals(theirs)).toBe(true);
      expect(diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey }).equals(theirs)).toBe(true);
    }
  });

  it("generates distinct pairs whose secret never prints", () => {
    const a = generateSealingKeyPair();
    const b = generateSealingKeyPair();
    expect(isSealingKey(a.publicKey)).toBe(true);
    expect(a.publicKey).not.toBe(b.publicKey);
    expect(sealingKeyPairFromSeed(a.secret.reveal()).publicKey).toBe(a.publicKey);
    expect(JSON.stringify(a)).not.toContain(a.secret.reveal());
    expect(String(a.secret)).not.toContain(a.secret.reveal());
  });

  it("tells sealing keys from other strings", () => {
    expect(isSealingKey("A".repeat(43))).toBe(true);
    expect(isSealingKey("A".repeat(42))).toBe(false);
    expect(isSealingKey(`${"A".repeat(42)}B`)).toBe(false); // stray trailing bits: not canonical
    expect(isSealingKey(`${"A".repeat(42)}=`)).toBe(false);
    expect(isSealingKey("00".repeat(32))).toBe(false);
    expect(isSealingKey(42)).toBe(false);
  });
});

describe("seal and open", () => {
  const bob = generateSealingKeyPair();

  it.each([0, 1, 1024, 64 * 1024])("round-trips %i bytes", (size) => {
    const plaintext = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
    const box = seal(plaintext, bob.publicKey, CONTEXT);
    expect(Buffer.from(box.ct, "base64url").length).toBe(size + 16);
    const opened = open(JSON.parse(JSON.stringify(box)), bob, CONTEXT);
    expect(opened.ok && Buffer.from(opened.value).equals(Buffer.from(plaintext))).toBe(true);
  });

  it("writes a versioned box of unpadded base64url fields", () => {
    const box = seal(bytes("hi"), bob.publicKey, CONTEXT);
    expect(Object.keys(box)).toEqual(["v", "kid", "epk", "nonce", "ct"]);
    expect(box.v).toBe(1);
    expect(box.kid).toBe(Buffer.from(bob.publicKey, "base64url").subarray(0, 8).toString("base64url"));
    expect(box.epk).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(box.nonce).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(Object.isFrozen(box)).toBe(true);
  });

  it("seals the same plaintext differently each time", () => {
    const a = seal(bytes("same"), bob.publicKey, CONTEXT);
    const b = seal(bytes("same"), bob.publicKey, CONTEXT);
    expect(a.epk).not.toBe(b.epk);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ct).not.toBe(b.ct);
  });

  it("shows no plaintext in the box", () => {
    const marker = "CLAUDEMESH-PLAINTEXT-MARKER-1234567890";
    const box = seal(bytes(`${marker} `.repeat(100)), bob.publicKey, CONTEXT);
    const wire = JSON.stringify(box);
    expect(wire).not.toContain(marker);
    expect(wire).not.toContain(Buffer.from(marker).toString("base64url").slice(0, 16));
    const raw = Buffer.from(box.ct, "base64url");
    expect(raw.includes(Buffer.from(marker))).toBe(false);
    expect(raw.includes(Buffer.from(marker.slice(0, 8)))).toBe(false);
  });

  it("does not open with another key: wrong_key, or auth_failed when the kid is forged", () => {
    const eve = generateSealingKeyPair();
    const box = seal(bytes("for bob"), bob.publicKey, CONTEXT);
    expect(reasonOf(open(box, eve, CONTEXT))).toBe("wrong_key");
    const forged = { ...box, kid: Buffer.from(eve.publicKey, "base64url").subarray(0, 8).toString("base64url") };
    expect(reasonOf(open(forged, eve, CONTEXT))).toBe("auth_failed");
    expect(reasonOf(open(forged, bob, CONTEXT))).toBe("wrong_key");
  });

  it("fails on any single flipped bit of epk, nonce, ciphertext or tag", () => {
    const box = seal(bytes("a short message"), bob.publicKey, CONTEXT);
    for (const field of ["epk", "nonce", "ct"] as const) {
      const bits = Buffer.from(box[field], "base64url").length * 8;
      for (let bit = 0; bit < bits; bit++) {
        const result = open(flipped(box, field, bit), bob, CONTEXT);
        // A flipped epk may land on a low-order point, which is no key at all: malformed.
        const expected = field === "epk" ? ["auth_failed", "malformed"] : ["auth_failed"];
        expect(expected, `${field} bit ${bit}`).toContain(reasonOf(result));
      }
    }
    // The tag is the last 16 bytes of ct: covered above, and checked here by name.
    const ctBits = Buffer.from(box.ct, "base64url").length * 8;
    expect(reasonOf(open(flipped(box, "ct", ctBits - 1), bob, CONTEXT))).toBe("auth_failed");
    expect(reasonOf(open(flipped(box, "ct", ctBits - 128), bob, CONTEXT))).toBe("auth_failed");
    expect(reasonOf(open(box, bob, CONTEXT))).toBe("opened");
  });

  it("fails under any other context: message id, recipient, sender or mesh", () => {
    const box = seal(bytes("routed"), bob.publicKey, CONTEXT);
    const others: SealContext[] = [
      { ...CONTEXT, message_id: "01890a5d-ac96-774b-bcce-b302099a8058" },
      { ...CONTEXT, recipient_session_id: "carol" },
      { ...CONTEXT, sender_session_id: "mallory" },
      { ...CONTEXT, sender_session_id: null },
      { ...CONTEXT, mesh: "other" },
    ];
    for (const other of others) expect(reasonOf(open(box, bob, other)), JSON.stringify(other)).toBe("auth_failed");
    const fromShell = { ...CONTEXT, sender_session_id: null };
    expect(reasonOf(open(seal(bytes("x"), bob.publicKey, fromShell), bob, fromShell))).toBe("opened");
  });

  it("refuses malformed boxes with a reason, never a throw", () => {
    const box = seal(bytes("x"), bob.publicKey, CONTEXT);
    const cases: [unknown, SealFailure][] = [
      [null, "malformed"],
      ["a string", "malformed"],
      [[box], "malformed"],
      [{ ...box, v: 2 }, "unsupported_version"],
      [{ ...box, v: 0 }, "unsupported_version"],
      [{ ...box, v: "1" }, "malformed"],
      [{ kid: box.kid, epk: box.epk, nonce: box.nonce, ct: box.ct }, "malformed"],
      [{ ...box, kid: undefined }, "malformed"],
      [{ ...box, epk: undefined }, "malformed"],
      [{ ...box, nonce: undefined }, "malformed"],
      [{ ...box, ct: undefined }, "malformed"],
      [{ ...box, epk: `${box.epk.slice(0, 42)}!` }, "malformed"],
      [{ ...box, epk: `${box.epk}=` }, "malformed"],
      [{ ...box, epk: `${Buffer.from(box.epk, "base64url").toString("base64")}+/` }, "malformed"],
      [{ ...box, ct: "not base64url!" }, "malformed"],
      [{ ...box, nonce: box.nonce.slice(0, 12) }, "malformed"],
      [{ ...box, nonce: Buffer.alloc(8).toString("base64url") }, "malformed"],
      [{ ...box, epk: Buffer.alloc(31).toString("base64url") }, "malformed"],
      [{ ...box, ct: Buffer.alloc(15).toString("base64url") }, "malformed"],
      [{ ...box, ct: 42 }, "malformed"],
      // A low-order point: X25519 with it yields zeros, which OpenSSL refuses.
      [{ ...box, epk: Buffer.alloc(32).toString("base64url") }, "malformed"],
    ];
    for (const [raw, reason] of cases) {
      expect(() => open(raw, bob, CONTEXT)).not.toThrow();
      expect(reasonOf(open(raw, bob, CONTEXT)), JSON.stringify(raw)).toBe(reason);
    }
    const error = open({ ...box, v: 2 }, bob, CONTEXT);
    expect(!error.ok && error.error.message).toMatch(/^sealed box is of a version/);
  });

  it("opens an empty ciphertext of exactly a tag only if it authenticates", () => {
    const box = seal(new Uint8Array(0), bob.publicKey, CONTEXT);
    expect(reasonOf(open({ ...box, ct: Buffer.alloc(16).toString("base64url") }, bob, CONTEXT))).toBe("auth_failed");
    const opened = open(box, bob, CONTEXT);
    expect(opened.ok && opened.value.length).toBe(0);
  });

  it("throws for a bad recipient key, context or size when sealing (caller errors)", () => {
    expect(() => seal(bytes("x"), "nope", CONTEXT)).toThrow(TypeError);
    expect(() => seal(bytes("x"), Buffer.alloc(32).toString("base64url"), CONTEXT)).toThrow(/low-order/);
    expect(() => seal(bytes("x"), bob.publicKey, { ...CONTEXT, message_id: "x" })).toThrow(TypeError);
    expect(() => seal(bytes("x"), bob.publicKey, { ...CONTEXT, mesh: "Bad Mesh" })).toThrow(TypeError);
    expect(() => seal(bytes("x"), bob.publicKey, { ...CONTEXT, recipient_session_id: "" })).toThrow(TypeError);
    expect(() => seal(bytes("x"), bob.publicKey, { ...CONTEXT, sender_session_id: "a b" })).toThrow(TypeError);
    expect(() => seal(new Uint8Array(256 * 1024 + 1), bob.publicKey, CONTEXT)).toThrow(RangeError);
    expect(() => open(seal(bytes("x"), bob.publicKey, CONTEXT), bob, { ...CONTEXT, message_id: "x" })).toThrow(
      TypeError,
    );
  });

  it("encodes the context canonically", () => {
    expect(sealContextText(CONTEXT)).toBe(
      'claudemesh seal v1|["default","01890a5d-ac96-774b-bcce-b302099a8057","alice","bob"]',
    );
    expect(sealContextText({ ...CONTEXT, sender_session_id: null })).toContain(',null,"bob"]');
  });
});

describe("key rotation: openWithAny", () => {
  it("opens with the previous key, and says which one opened it", () => {
    const previous = generateSealingKeyPair();
    const current = generateSealingKeyPair();
    const old = seal(bytes("sealed before the rotation"), previous.publicKey, CONTEXT);
    const fresh = seal(bytes("sealed after"), current.publicKey, CONTEXT);
    const a = openWithAny(old, [current, previous], CONTEXT);
    expect(a.ok && [a.value.index, a.value.key.publicKey, text(a.value.plaintext)]).toEqual([
      1,
      previous.publicKey,
      "sealed before the rotation",
    ]);
    const b = openWithAny(fresh, [current, previous], CONTEXT);
    expect(b.ok && [b.value.index, text(b.value.plaintext)]).toEqual([0, "sealed after"]);
  });

  it("fails with wrong_key once the previous key is dropped, auth_failed when a held key's box is tampered", () => {
    const previous = generateSealingKeyPair();
    const current = generateSealingKeyPair();
    const old = seal(bytes("late"), previous.publicKey, CONTEXT);
    expect(reasonOf(openWithAny(old, [current], CONTEXT))).toBe("wrong_key");
    expect(reasonOf(openWithAny(old, [], CONTEXT))).toBe("wrong_key");
    expect(reasonOf(openWithAny(flipped(old, "ct", 0), [current, previous], CONTEXT))).toBe("auth_failed");
    expect(reasonOf(openWithAny({ ...old, v: 2 }, [current, previous], CONTEXT))).toBe("unsupported_version");
  });

  it("opens with a pair built outside this module (no cached KeyObject), refuses a pair that does not match", () => {
    const node = () => {
      const { privateKey, publicKey } = generateKeyPairSync("x25519");
      const seed = privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32).toString("hex");
      return { publicKey: spkiRaw(publicKey), secret: new SecretKey(seed) };
    };
    const pair = node();
    const box = seal(bytes("restored"), pair.publicKey, CONTEXT);
    const opened = open(box, pair, CONTEXT);
    expect(opened.ok && text(opened.value)).toBe("restored");
    const other = node();
    const mismatched = { publicKey: other.publicKey, secret: pair.secret };
    expect(() => open(seal(bytes("x"), other.publicKey, CONTEXT), mismatched, CONTEXT)).toThrow(/does not match/);
  });
});
