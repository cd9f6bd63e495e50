import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fingerprint, generateSigningKey, seedOf, signingKeyFromSeed, signText, verifyText } from "../src/keys.js";
import { decodeMemberKey, encodeMemberKey, MemberKeyError, memberKeyOf } from "../src/member-key.js";

// RFC 8032, section 7.1, test 1: the empty message.
const RFC_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC_SIGNATURE =
  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

describe("ed25519 keys", () => {
  it("derives the public key of a seed and signs as RFC 8032 says", () => {
    const key = signingKeyFromSeed(RFC_SEED);
    expect(key.publicKey).toBe(RFC_PUBLIC);
    expect(signText(key, "")).toBe(RFC_SIGNATURE);
    expect(verifyText(RFC_PUBLIC, "", RFC_SIGNATURE)).toBe(true);
    expect(seedOf(key)).toBe(RFC_SEED);
  });

  it("verifies only the exact text under the exact key", () => {
    const key = generateSigningKey();
    const other = generateSigningKey();
    const signature = signText(key, "hello");
    expect(verifyText(key.publicKey, "hello", signature)).toBe(true);
    expect(verifyText(key.publicKey, "hellO", signature)).toBe(false);
    expect(verifyText(other.publicKey, "hello", signature)).toBe(false);
    const flipped = (signature[0] === "0" ? "1" : "0") + signature.slice(1);
    expect(verifyText(key.publicKey, "hello", flipped)).toBe(false);
  });

  it("answers false, never throws, for malformed keys and signatures", () => {
    const key = generateSigningKey();
    const signature = signText(key, "x");
    expect(verifyText("zz", "x", signature)).toBe(false);
    expect(verifyText(key.publicKey.toUpperCase(), "x", signature)).toBe(false);
    expect(verifyText(key.publicKey, "x", signature.slice(2))).toBe(false);
    // 32 bytes that are not a point of the curve.
    expect(verifyText("ff".repeat(32), "x", signature)).toBe(false);
    expect(() => signingKeyFromSeed("abc")).toThrow(TypeError);
  });

  it("fingerprints the raw public key: SHA256: and unpadded base64", () => {
    const expected = createHash("sha256").update(Buffer.from(RFC_PUBLIC, "hex")).digest("base64").replace(/=+$/, "");
    expect(fingerprint(RFC_PUBLIC)).toBe(`SHA256:${expected}`);
    expect(fingerprint(RFC_PUBLIC)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it("makes thousands of keys in one process (a Node 20 private-JWK export hang is avoided)", () => {
    const publics = new Set<string>();
    for (let i = 0; i < 5_000; i++) publics.add(generateSigningKey().publicKey);
    expect(publics.size).toBe(5_000);
  });
});

describe("member key file", () => {
  it("round-trips, and the decoded key signs like the original", () => {
    const member = memberKeyOf(generateSigningKey(), 1234);
    const text = encodeMemberKey(member);
    const back = decodeMemberKey(text);
    expect(back.key.publicKey).toBe(member.key.publicKey);
    expect(back.fingerprint).toBe(member.fingerprint);
    expect(back.createdAt).toBe(1234);
    expect(verifyText(member.key.publicKey, "m", signText(back.key, "m"))).toBe(true);
    expect(text.endsWith("\n")).toBe(true);
  });

  it.each([
    ["{", "not valid JSON"],
    ['{"format":"other"}', "not a claudemesh-member-key file"],
    ['{"format":"claudemesh-member-key","version":2}', "unsupported version 2"],
    ['{"format":"claudemesh-member-key","version":1,"secret_key":"xy","created_at":1}', "secret_key must be"],
    [`{"format":"claudemesh-member-key","version":1,"secret_key":"${RFC_SEED}"}`, "created_at must be"],
    [
      `{"format":"claudemesh-member-key","version":1,"secret_key":"${RFC_SEED}","public_key":"${"0".repeat(64)}","created_at":1}`,
      "public_key is not the public key of secret_key",
    ],
  ])("refuses %s", (text, message) => {
    expect(() => decodeMemberKey(text)).toThrow(MemberKeyError);
    expect(() => decodeMemberKey(text)).toThrow(message);
  });
});
