// A persisted state (the sessions, the messages): loaded once at start, written atomically after
// changes. Many changes arriving together are coalesced into one write; a failing write (full
// disk, read-only dir) is logged and retried, never fatal. Between two writes, every change is in
// the journal (journal.ts), replayed over the state file at load. What the file holds and how a
// journal line applies is the state's codec (packages/registry/checkpoint.ts describes the shape).
import { readFileSync, renameSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import {
  decodeState,
  encodeEntry,
  encodeHeader,
  forEachSliced,
  type RegistryEntry,
  replayJournal,
  type SkippedLine,
} from "@claudemesh/registry";
import { fsyncDir } from "./fsync-dir.js";
import type { Journal } from "./journal.js";
import type { Logger } from "./logger.js";

/** How many journal lines load replayed over the state file. */
export interface Replayed {
  readonly generations: number;
  readonly applied: number;
  readonly skipped: number;
}

export type LoadResult<T = RegistryEntry> =
  /** Neither a state file nor a journal change. */
  | { kind: "missing" }
  | { kind: "loaded"; entries: T[]; replayed: Replayed }
  /**
   * The file was unreadable or corrupt and has been moved aside to `setAsidePath`; `entries` are
   * what the journal still held.
   */
  | { kind: "corrupt"; reason: string; setAsidePath: string | null; entries: T[]; replayed: Replayed };

/** How a state is written down and read back: its checkpoint lines and its journal replay. */
export interface StateCodec<T> {
  header(count: number, savedAt: number, journalFrom: number): string;
  item(item: T): string;
  decode(text: string): { ok: true; items: T[]; journalFrom: number } | { ok: false; error: Error };
  replay(base: readonly T[], journals: readonly string[]): { items: T[]; applied: number; skipped: SkippedLine[] };
}

/** The sessions' codec: `sessions.jsonl` and its journal. */
export const SESSION_STATE_CODEC: StateCodec<RegistryEntry> = {
  header: encodeHeader,
  item: encodeEntry,
  decode(text) {
    const decoded = decodeState(text);
    return decoded.ok ? { ok: true, items: decoded.entries, journalFrom: decoded.journalFrom } : decoded;
  },
  replay(base, journals) {
    const { entries, applied, skipped } = replayJournal(base, journals);
    return { items: entries, applied, skipped };
  },
};

/** The file system calls the store makes, injectable so that faults can be tested. */
export interface StateFs {
  readFile(path: string): string;
  /** Writes a temp file, syncs it, renames it over `path`. May be synchronous in tests. */
  writeFileAtomic(path: string, chunks: readonly (string | Buffer)[]): void | Promise<void>;
  rename(from: string, to: string): void;
}

export const nodeStateFs: StateFs = {
  readFile: (path) => readFileSync(path, "utf8"),
  // Asynchronous: the writing and syncing of a large file happen off the event loop, so
  // requests keep being answered while the state is saved.
  async writeFileAtomic(path, chunks) {
    const temp = `${path}.tmp`;
    try {
      const file = await open(temp, "w", 0o600);
      try {
        await file.writev(chunks.map((chunk) => (typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk)));
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, path);
    } catch (error) {
      await unlink(temp).catch(() => {}); // a half-written temp file must not linger
      throw error;
    }
    await fsyncDir(path);
  },
  rename: (from, to) => renameSync(from, to),
};

export interface StateStoreOptions<T = RegistryEntry> {
  path: string;
  logger: Logger;
  /** The items to save, read at write time so a write always has the latest state. */
  snapshot: () => T[];
  /** Default: the sessions' codec. */
  codec?: StateCodec<T>;
  /** Where changes go between writes; without one, a crash loses the changes since the last write. */
  journal?: Journal;
  fs?: StateFs;
  now?: () => number;
  /** Wait this long after a change for more changes before writing. */
  coalesceMs?: number;
  /** First retry delay after a failed write; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
}

export class StateStore<T = RegistryEntry> {
  readonly #o: Required<Omit<StateStoreOptions<T>, "fs" | "now" | "journal" | "codec">> & {
    fs: StateFs;
    now: () => number;
  };
  readonly #codec: StateCodec<T>;
  readonly #journal: Journal | undefined;
  #timer: NodeJS.Timeout | undefined;
  #dirty = false;
  #writing: Promise<void> | undefined;
  #failures = 0;
  #writes = 0;
  // Under load, writes are spaced by ten times the last write's duration (at most 1 s), so that
  // saving a large registry stays a small share of the daemon's time.
  #lastWriteMs = 0;

  constructor(options: StateStoreOptions<T>) {
    this.#codec = options.codec ?? (SESSION_STATE_CODEC as unknown as StateCodec<T>);
    this.#o = {
      fs: nodeStateFs,
      now: Date.now,
      coalesceMs: 25,
      retryMs: 500,
      maxRetryMs: 30_000,
      ...options,
    };
    this.#journal = options.journal;
  }

  get writes(): number {
    return this.#writes;
  }

  get failures(): number {
    return this.#failures;
  }

  /**
   * Reads the state file and replays the journal over it. A corrupt state file is moved aside
   * (never deleted) and reported; the journal then gives back what it holds.
   */
  load(): LoadResult<T> {
    const file = this.#loadFile();
    if (file.kind === "missing") {
      const { entries, replayed } = this.#replay([], 0);
      return replayed.generations > 0 ? { kind: "loaded", entries, replayed } : file;
    }
    if (file.kind === "loaded") return { kind: "loaded", ...this.#replay(file.entries, file.journalFrom) };
    return { ...file, ...this.#replay([], undefined) };
  }

  #replay(base: T[], from: number | undefined): { entries: T[]; replayed: Replayed } {
    if (this.#journal === undefined) return { entries: base, replayed: { generations: 0, applied: 0, skipped: 0 } };
    const { texts, generations } = this.#journal.readFrom(from);
    const result = this.#codec.replay(base, texts);
    const written = texts.filter((text) => text.length > 0).length; // a generation may exist empty
    for (const { journal, line, reason } of result.skipped.slice(0, 20)) {
      this.#o.logger.warn("skipped a damaged journal line", { generation: generations[journal], line, reason });
    }
    if (written > 0) {
      this.#o.logger.info("journal replayed", {
        generations,
        applied: result.applied,
        skipped: result.skipped.length,
      });
    }
    return {
      entries: result.items,
      replayed: { generations: written, applied: result.applied, skipped: result.skipped.length },
    };
  }

  #loadFile():
    | { kind: "missing" }
    | { kind: "loaded"; entries: T[]; journalFrom: number }
    | { kind: "corrupt"; reason: string; setAsidePath: string | null } {
    const { fs, path, logger } = this.#o;
    let text: string;
    try {
      text = fs.readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing" };
      return this.#setAside(`unreadable: ${(error as Error).message}`);
    }
    const decoded = this.#codec.decode(text);
    if (decoded.ok) return { kind: "loaded", entries: decoded.items, journalFrom: decoded.journalFrom };
    logger.error("state file is corrupt", { path, reason: decoded.error.message });
    return this.#setAside(decoded.error.message);
  }

  /** Records a change (its journal line) and schedules a state write. */
  record(line: string): void {
    this.#journal?.append(line);
    this.markDirty();
  }

  /** Resolves once every change recorded so far is in the journal: then a client may hear of it. */
  recorded(): Promise<void> {
    return this.#journal?.written() ?? Promise.resolve();
  }

  #setAside(reason: string): { kind: "corrupt"; reason: string; setAsidePath: string | null } {
    const { fs, path, logger, now } = this.#o;
    const aside = `${path}.corrupt-${now()}`;
    try {
      fs.rename(path, aside);
      logger.warn("state file set aside; starting with the sessions it could not give", { path, aside, reason });
      return { kind: "corrupt", reason, setAsidePath: aside };
    } catch (error) {
      logger.error("could not set the corrupt state file aside", { path, error: error as Error });
      return { kind: "corrupt", reason, setAsidePath: null };
    }
  }

  /** Marks the state changed; a write follows after the coalescing delay. */
  markDirty(): void {
    this.#dirty = true;
    if (this.#timer === undefined && this.#writing === undefined) this.#schedule(this.#coalesceDelay());
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#writeNow();
    }, delayMs);
  }

  #writeNow(): Promise<void> {
    if (this.#writing) return this.#writing;
    this.#writing = this.#write().finally(() => {
      this.#writing = undefined;
      // Changes that arrived during the write get their own write.
      if (this.#dirty && this.#timer === undefined) this.#schedule(this.#retryDelay());
    });
    return this.#writing;
  }

  #coalesceDelay(): number {
    return Math.min(Math.max(this.#o.coalesceMs, this.#lastWriteMs * 10), Math.max(1_000, this.#o.coalesceMs));
  }

  #retryDelay(): number {
    if (this.#failures === 0) return this.#coalesceDelay();
    return Math.min(this.#o.retryMs * 2 ** (this.#failures - 1), this.#o.maxRetryMs);
  }

  async #write(): Promise<void> {
    this.#dirty = false;
    const started = performance.now();
    try {
      // Changes from here on go to a new journal generation; the older ones are all in this snapshot.
      const journalFrom = this.#journal?.cut() ?? 0;
      // Entries are immutable, so a snapshot encoded in slices is still one consistent state.
      const entries = this.#o.snapshot();
      // Encoded in short slices, each batch turned into bytes at once: no step of a write holds
      // the event loop for more than about a millisecond, whatever the registry's size.
      const chunks: Buffer[] = [Buffer.from(`${this.#codec.header(entries.length, this.#o.now(), journalFrom)}\n`)];
      let batch: string[] = [];
      await forEachSliced(
        entries,
        (entry) => {
          batch.push(this.#codec.item(entry));
          if (batch.length === 512) {
            chunks.push(Buffer.from(`${batch.join("\n")}\n`));
            batch = [];
          }
        },
        { budgetMs: 1 },
      );
      if (batch.length > 0) chunks.push(Buffer.from(`${batch.join("\n")}\n`));
      await this.#o.fs.writeFileAtomic(this.#o.path, chunks);
      await this.#journal?.dropBelow(journalFrom);
      this.#lastWriteMs = performance.now() - started;
      this.#writes++;
      if (this.#failures > 0) this.#o.logger.info("state file writes work again", { path: this.#o.path });
      this.#failures = 0;
    } catch (error) {
      this.#failures++;
      this.#dirty = true;
      this.#o.logger.error("could not write the state file; will retry", {
        path: this.#o.path,
        attempt: this.#failures,
        error: error as Error,
      });
    }
  }

  /** Writes now if anything is pending (shutdown). Resolves once written or failed. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#writing) await this.#writing;
    if (this.#dirty) await this.#writeNow();
    // A timer still set here is either redundant (everything was just written) or a write that is
    // still owed: a change made during the write above, or the retry of a failed one. Keep those.
    if (this.#timer !== undefined && !this.#dirty) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /**
   * Stops any scheduled write without writing, and closes the journal. When the state file on
   * disk holds every change (nothing dirty, no write under way, the last one worked), the
   * journal's files are deleted: a clean stop leaves only the state file.
   */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const saved = !this.#dirty && this.#writing === undefined && this.#failures === 0;
    await this.#journal?.close(saved);
  }
}
