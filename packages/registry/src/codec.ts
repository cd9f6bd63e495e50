// The persistence codec: registry entries to text and back. Pure.
//
// Format (version 1), JSON Lines so it can be written and read in slices:
//   {"format":"claudemesh-sessions","version":1,"count":N,"saved_at":<epoch ms>,"journal_from":G}
//   {"token_hash":"<sha-256 hex>", ...every session field...}   × N
// Token hashes only, never tokens. The count in the header catches a file cut at a line boundary;
// a file cut mid-line fails to parse. Either way decoding fails whole: never a half-valid registry.
// `journal_from` (optional, default 0) is the first journal generation holding changes made after
// this state was taken (see journal-codec.ts); older generations are already in it.
import { isTokenHash, parseSession, toStoredSession } from "./model.js";
import type { RegistryEntry } from "./registry.js";

export const STATE_FORMAT = "claudemesh-sessions";
export const STATE_VERSION = 1;

export class StateDecodeError extends Error {
  override readonly name = "StateDecodeError";
  constructor(
    message: string,
    /** 1-based line of the file where decoding failed, when it is a line's fault. */
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`);
  }
}

export type DecodeResult =
  | { ok: true; entries: RegistryEntry[]; savedAt: number; journalFrom: number }
  | { ok: false; error: StateDecodeError };

export function encodeHeader(count: number, savedAt: number, journalFrom = 0): string {
  return JSON.stringify({
    format: STATE_FORMAT,
    version: STATE_VERSION,
    count,
    saved_at: savedAt,
    journal_from: journalFrom,
  });
}

export function encodeEntry(entry: RegistryEntry): string {
  return JSON.stringify({ token_hash: entry.tokenHash, ...toStoredSession(entry.session) });
}

export function encodeState(entries: readonly RegistryEntry[], savedAt: number, journalFrom = 0): string {
  const lines = [encodeHeader(entries.length, savedAt, journalFrom)];
  for (const entry of entries) lines.push(encodeEntry(entry));
  return `${lines.join("\n")}\n`;
}

function parseJson(text: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new StateDecodeError("not valid JSON (truncated or corrupt file?)", line);
  }
}

function decodeHeader(text: string | undefined): { count: number; savedAt: number; journalFrom: number } {
  if (text === undefined || text.length === 0) throw new StateDecodeError("empty file");
  const header = parseJson(text, 1) as Record<string, unknown> | null;
  if (typeof header !== "object" || header === null || header.format !== STATE_FORMAT) {
    throw new StateDecodeError(`not a ${STATE_FORMAT} file`, 1);
  }
  if (header.version !== STATE_VERSION) {
    throw new StateDecodeError(`unsupported version ${String(header.version)} (this build reads ${STATE_VERSION})`, 1);
  }
  const { count, saved_at: savedAt, journal_from: journalFrom = 0 } = header;
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
    throw new StateDecodeError("header count must be a non-negative integer", 1);
  }
  if (typeof savedAt !== "number" || !Number.isSafeInteger(savedAt)) {
    throw new StateDecodeError("header saved_at must be an integer", 1);
  }
  if (typeof journalFrom !== "number" || !Number.isSafeInteger(journalFrom) || journalFrom < 0) {
    throw new StateDecodeError("header journal_from must be a non-negative integer", 1);
  }
  return { count, savedAt, journalFrom };
}

function decodeEntries(lines: readonly string[], count: number): RegistryEntry[] {
  const entries: RegistryEntry[] = [];
  const hashes = new Set<string>();
  const ids = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = parseJson(lines[i] as string, lineNo) as Record<string, unknown> | null;
    const tokenHash = raw?.token_hash;
    if (!isTokenHash(tokenHash)) throw new StateDecodeError("token_hash must be 64 lowercase hex characters", lineNo);
    const parsed = parseSession(raw);
    if (!parsed.ok) throw new StateDecodeError(parsed.error.message, lineNo);
    if (hashes.has(tokenHash)) throw new StateDecodeError("duplicate token_hash", lineNo);
    if (ids.has(parsed.value.session_id)) throw new StateDecodeError("duplicate session_id", lineNo);
    hashes.add(tokenHash);
    ids.add(parsed.value.session_id);
    entries.push({ tokenHash, session: parsed.value });
  }
  if (entries.length !== count) {
    throw new StateDecodeError(`header announces ${count} sessions, file holds ${entries.length} (truncated?)`);
  }
  return entries;
}

/** Decodes a state file. Never throws: every failure is a StateDecodeError in the result. */
export function decodeState(text: string): DecodeResult {
  try {
    if (text.length > 0 && !text.endsWith("\n")) throw new StateDecodeError("missing final newline (truncated file?)");
    const lines = text.split("\n");
    lines.pop();
    const { count, savedAt, journalFrom } = decodeHeader(lines[0]);
    return { ok: true, entries: decodeEntries(lines, count), savedAt, journalFrom };
  } catch (error) {
    if (error instanceof StateDecodeError) return { ok: false, error };
    return { ok: false, error: new StateDecodeError(`unexpected: ${String(error)}`) };
  }
}
