// The persistence codec of sessions: registry entries to text and back. Pure.
//
// Format (version 1), a checkpoint as checkpoint.ts describes it:
//   {"format":"claudemesh-sessions","version":1,"count":N,"saved_at":<epoch ms>,"journal_from":G}
//   {"token_hash":"<sha-256 hex>", ...every stored session field...}   × N
// Token hashes only, never tokens; no presence (a restored session gets a fresh one).
import { decodeCheckpoint, encodeCheckpointHeader, StateDecodeError } from "./checkpoint.js";
import { isTokenHash, parseSession, toStoredSession } from "./model.js";
import type { RegistryEntry } from "./registry.js";

export { StateDecodeError } from "./checkpoint.js";

export const STATE_FORMAT = "claudemesh-sessions";
export const STATE_VERSION = 1;

export type DecodeResult =
  | { ok: true; entries: RegistryEntry[]; savedAt: number; journalFrom: number }
  | { ok: false; error: StateDecodeError };

export function encodeHeader(count: number, savedAt: number, journalFrom = 0): string {
  return encodeCheckpointHeader(STATE_FORMAT, STATE_VERSION, count, savedAt, journalFrom);
}

export function encodeEntry(entry: RegistryEntry): string {
  return JSON.stringify({ token_hash: entry.tokenHash, ...toStoredSession(entry.session) });
}

export function encodeState(entries: readonly RegistryEntry[], savedAt: number, journalFrom = 0): string {
  const lines = [encodeHeader(entries.length, savedAt, journalFrom)];
  for (const entry of entries) lines.push(encodeEntry(entry));
  return `${lines.join("\n")}\n`;
}

/** Decodes a state file. Never throws: every failure is a StateDecodeError in the result. */
export function decodeState(text: string): DecodeResult {
  const hashes = new Set<string>();
  const ids = new Set<string>();
  const result = decodeCheckpoint(
    text,
    STATE_FORMAT,
    STATE_VERSION,
    (raw) => {
      const tokenHash = (raw as Record<string, unknown> | null)?.token_hash;
      if (!isTokenHash(tokenHash)) throw new StateDecodeError("token_hash must be 64 lowercase hex characters");
      const parsed = parseSession(raw);
      if (!parsed.ok) throw new StateDecodeError(parsed.error.message);
      if (hashes.has(tokenHash)) throw new StateDecodeError("duplicate token_hash");
      if (ids.has(parsed.value.session_id)) throw new StateDecodeError("duplicate session_id");
      hashes.add(tokenHash);
      ids.add(parsed.value.session_id);
      return { tokenHash, session: parsed.value } as RegistryEntry;
    },
    "sessions",
  );
  return result.ok
    ? { ok: true, entries: result.items, savedAt: result.savedAt, journalFrom: result.journalFrom }
    : result;
}
