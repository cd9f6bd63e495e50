// The journal codec: one line per registry change, appended before a registration is answered,
// replayed over the last state file at start. Pure.
//
// Lines (JSON):
//   {"op":"put","token_hash":"<sha-256 hex>", ...every session field...}   an entry added or updated
//   {"op":"del","token_hash":"<sha-256 hex>"}                              an entry removed
// Replay applies the registry's own rules: a put updates the entry of its token hash in place
// (keeping its position, so the order stays oldest first) and evicts another token's holder of
// the same session id. Replaying a journal over a state file that already holds its changes
// yields that same state, so a journal may safely be replayed twice.
import { replayLines, type SkippedLine } from "./checkpoint.js";
import { isTokenHash, parseSession, toStoredSession } from "./model.js";
import type { RegistryEntry, RegistryEvent } from "./registry.js";

export function encodeJournalPut(entry: RegistryEntry): string {
  return JSON.stringify({ op: "put", token_hash: entry.tokenHash, ...toStoredSession(entry.session) });
}

export function encodeJournalDelete(tokenHash: string): string {
  return JSON.stringify({ op: "del", token_hash: tokenHash });
}

export type { SkippedLine } from "./checkpoint.js";

export interface ReplayResult {
  readonly entries: RegistryEntry[];
  /** Lines applied. */
  readonly applied: number;
  readonly skipped: SkippedLine[];
}

type Change = { op: "put"; entry: RegistryEntry } | { op: "del"; tokenHash: string };

function parseLine(raw: object): Change | string {
  const { op, token_hash: tokenHash, ...fields } = raw as Record<string, unknown>;
  if (!isTokenHash(tokenHash)) return "token_hash must be 64 lowercase hex characters";
  if (op === "del") return { op, tokenHash };
  if (op !== "put") return `unknown op ${JSON.stringify(op)}`;
  const parsed = parseSession(fields);
  if (!parsed.ok) return parsed.error.message;
  return { op, entry: { tokenHash, session: parsed.value } };
}

/**
 * Applies journal texts, in order, over `base` (the entries of the state file). A line that does
 * not parse is skipped and reported, never fatal: the lines around it still hold changes worth
 * keeping, and whatever replay yields is re-checked against the live processes anyway. A last
 * line without its newline is a write cut short and is skipped the same way.
 */
export function replayJournal(base: readonly RegistryEntry[], journals: readonly string[]): ReplayResult {
  const byHash = new Map<string, RegistryEntry>();
  const hashById = new Map<string, string>();
  for (const entry of base) {
    byHash.set(entry.tokenHash, entry);
    hashById.set(entry.session.session_id, entry.tokenHash);
  }
  const remove = (tokenHash: string) => {
    const entry = byHash.get(tokenHash);
    if (entry === undefined) return;
    byHash.delete(tokenHash);
    if (hashById.get(entry.session.session_id) === tokenHash) hashById.delete(entry.session.session_id);
  };
  const { applied, skipped } = replayLines(journals, (raw) => {
    const change = parseLine(raw);
    if (typeof change === "string") return change;
    if (change.op === "del") {
      remove(change.tokenHash);
      return undefined;
    }
    const { entry } = change;
    const holder = hashById.get(entry.session.session_id);
    if (holder !== undefined && holder !== entry.tokenHash) remove(holder);
    const own = byHash.get(entry.tokenHash);
    if (own !== undefined && hashById.get(own.session.session_id) === entry.tokenHash) {
      hashById.delete(own.session.session_id);
    }
    byHash.set(entry.tokenHash, entry); // an existing key keeps its place in the order
    hashById.set(entry.session.session_id, entry.tokenHash);
    return undefined;
  });
  return { entries: [...byHash.values()], applied, skipped };
}

/**
 * The journal line of a registry change, or undefined for a change nothing persisted holds (a
 * new presence: presences live in memory only).
 */
export function journalLineOf(event: RegistryEvent): string | undefined {
  if (event.type === "session_deregistered") return encodeJournalDelete(event.tokenHash);
  if (event.type === "session_updated" && event.reason === "presence") return undefined;
  return encodeJournalPut({ tokenHash: event.tokenHash, session: event.session });
}
