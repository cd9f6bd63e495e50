// The shape every persisted state shares (sessions, messages): a checkpoint file in JSON Lines,
// and journal generations replayed over it. Pure; each state brings its own line codec.
//
// Checkpoint:  {"format":F,"version":V,"count":N,"saved_at":<epoch ms>,"journal_from":G}
//              one JSON line per item                                            × N
// The count catches a file cut at a line boundary; a file cut mid-line fails to parse. Either way
// decoding fails whole: never a half-valid state. `journal_from` (default 0) is the first journal
// generation holding changes made after the checkpoint was taken.
// Journal:     one JSON line per change. A line that does not parse or apply is skipped and
//              reported, never fatal; a last line without its newline is a write cut short.

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

export type CheckpointResult<T> =
  | { ok: true; items: T[]; savedAt: number; journalFrom: number }
  | { ok: false; error: StateDecodeError };

export function encodeCheckpointHeader(
  format: string,
  version: number,
  count: number,
  savedAt: number,
  journalFrom = 0,
): string {
  return JSON.stringify({ format, version, count, saved_at: savedAt, journal_from: journalFrom });
}

function parseJson(text: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new StateDecodeError("not valid JSON (truncated or corrupt file?)", line);
  }
}

function decodeHeader(text: string | undefined, format: string, version: number) {
  if (text === undefined || text.length === 0) throw new StateDecodeError("empty file");
  const header = parseJson(text, 1) as Record<string, unknown> | null;
  if (typeof header !== "object" || header === null || header.format !== format) {
    throw new StateDecodeError(`not a ${format} file`, 1);
  }
  if (header.version !== version) {
    throw new StateDecodeError(`unsupported version ${String(header.version)} (this build reads ${version})`, 1);
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

/**
 * Decodes a checkpoint. `item` turns one parsed line into an item or throws a message saying why
 * it cannot (a string, or a StateDecodeError); the line number is added here. Never throws.
 */
export function decodeCheckpoint<T>(
  text: string,
  format: string,
  version: number,
  item: (raw: unknown) => T,
  noun = "items",
): CheckpointResult<T> {
  try {
    if (text.length > 0 && !text.endsWith("\n")) throw new StateDecodeError("missing final newline (truncated file?)");
    const lines = text.split("\n");
    lines.pop();
    const { count, savedAt, journalFrom } = decodeHeader(lines[0], format, version);
    const items: T[] = [];
    for (let i = 1; i < lines.length; i++) {
      const raw = parseJson(lines[i] as string, i + 1);
      try {
        items.push(item(raw));
      } catch (error) {
        throw new StateDecodeError(error instanceof Error ? error.message : String(error), i + 1);
      }
    }
    if (items.length !== count) {
      throw new StateDecodeError(`header announces ${count} ${noun}, file holds ${items.length} (truncated?)`);
    }
    return { ok: true, items, savedAt, journalFrom };
  } catch (error) {
    if (error instanceof StateDecodeError) return { ok: false, error };
    return { ok: false, error: new StateDecodeError(`unexpected: ${String(error)}`) };
  }
}

/** A journal line replay did not apply, and why. */
export interface SkippedLine {
  /** Index of its text in the `journals` given to replay. */
  readonly journal: number;
  /** 1-based line within that text. */
  readonly line: number;
  readonly reason: string;
}

/**
 * Feeds every line of the journal texts, in order, to `apply`, which returns undefined when it
 * applied the line or the reason it could not. Returns how many applied and which were skipped.
 */
export function replayLines(
  journals: readonly string[],
  apply: (raw: object) => string | undefined,
): { applied: number; skipped: SkippedLine[] } {
  let applied = 0;
  const skipped: SkippedLine[] = [];
  journals.forEach((text, journal) => {
    const lines = text.split("\n");
    const cut = lines.pop() ?? ""; // "" when the text ends with its newline
    if (cut !== "") skipped.push({ journal, line: lines.length + 1, reason: "cut short (no final newline)" });
    lines.forEach((line, i) => {
      if (line === "") return;
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        skipped.push({ journal, line: i + 1, reason: "not valid JSON" });
        return;
      }
      const reason =
        typeof raw === "object" && raw !== null && !Array.isArray(raw) ? apply(raw as object) : "not an object";
      if (reason === undefined) applied++;
      else skipped.push({ journal, line: i + 1, reason });
    });
  });
  return { applied, skipped };
}
