// The member key file (`member.key`, 0600 in the daemon dir): one ed25519 key pair standing for
// "this user on this machine". Pure codec; the daemon reads and writes the file.
//
//   {"format":"claudemesh-member-key","version":1,"public_key":"<hex>","secret_key":"<seed hex>","created_at":<ms>}
import { fingerprint, isKeyHex, type SigningKey, seedOf, signingKeyFromSeed } from "./keys.js";

export const MEMBER_KEY_FORMAT = "claudemesh-member-key";

export interface MemberKey {
  readonly key: SigningKey;
  readonly fingerprint: string;
  readonly createdAt: number;
}

export function memberKeyOf(key: SigningKey, createdAt: number): MemberKey {
  return { key, fingerprint: fingerprint(key.publicKey), createdAt };
}

export function encodeMemberKey(member: MemberKey): string {
  return `${JSON.stringify({
    format: MEMBER_KEY_FORMAT,
    version: 1,
    public_key: member.key.publicKey,
    secret_key: seedOf(member.key),
    created_at: member.createdAt,
  })}\n`;
}

export class MemberKeyError extends Error {
  override readonly name = "MemberKeyError";
}

/** Decodes a member key file; throws MemberKeyError saying what is wrong with it. */
export function decodeMemberKey(text: string): MemberKey {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new MemberKeyError("not valid JSON");
  }
  if (typeof raw !== "object" || raw === null || (raw as { format?: unknown }).format !== MEMBER_KEY_FORMAT) {
    throw new MemberKeyError(`not a ${MEMBER_KEY_FORMAT} file`);
  }
  const { version, public_key: publicKey, secret_key: seed, created_at: createdAt } = raw as Record<string, unknown>;
  if (version !== 1) throw new MemberKeyError(`unsupported version ${String(version)} (this build reads 1)`);
  if (!isKeyHex(seed)) throw new MemberKeyError("secret_key must be 64 lowercase hex characters");
  if (typeof createdAt !== "number" || !Number.isSafeInteger(createdAt)) {
    throw new MemberKeyError("created_at must be an integer (epoch ms)");
  }
  const key = signingKeyFromSeed(seed);
  if (key.publicKey !== publicKey) throw new MemberKeyError("public_key is not the public key of secret_key");
  return memberKeyOf(key, createdAt);
}
