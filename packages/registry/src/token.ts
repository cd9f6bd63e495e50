// Token helpers. The registry only ever keeps the SHA-256 of a token; the raw value lives in the
// session's token file and in the Authorization header, nowhere else.
import { createHash, randomBytes } from "node:crypto";

export const TOKEN_BYTES = 32;

/** A fresh session token: 32 bytes from the CSPRNG as 64 lowercase hex characters. */
export function mintToken(): string {
  return randomBytes(TOKEN_BYTES).toString("hex");
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The part of a token shown to humans so they can tell sessions apart. */
export function tokenPrefix(token: string): string {
  return token.slice(0, 8);
}
