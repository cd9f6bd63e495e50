// The persisted session state: loaded once at start, written atomically after changes.
// Many changes arriving together are coalesced into one write; a failing write (full disk,
// read-only dir) is logged and retried, never fatal.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { decodeState, encodeEntry, encodeHeader, forEachSliced, type RegistryEntry } from "@claudemesh/registry";
import type { Logger } from "./logger.js";

export type LoadResult =
  | { kind: "missing" }
  | { kind: "loaded"; entries: RegistryEntry[] }
  /** The file was unreadable or corrupt and has been moved aside to `setAsidePath`. */
  | { kind: "corrupt"; reason: string; setAsidePath: string | null };

/** The file system calls the store makes, injectable so that faults can be tested. */
export interface StateFs {
  readFile(path: string): string;
  writeFileAtomic(path: string, chunks: readonly string[]): void;
  rename(from: string, to: string): void;
}

export const nodeStateFs: StateFs = {
  readFile: (path) => readFileSync(path, "utf8"),
  writeFileAtomic(path, chunks) {
    const temp = `${path}.tmp`;
    try {
      const fd = openSync(temp, "w", 0o600);
      try {
        for (const chunk of chunks) writeSync(fd, chunk);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path);
    } catch (error) {
      try {
        unlinkSync(temp); // a half-written temp file must not linger (a full disk stays full)
      } catch {
        // never created, or already renamed
      }
      throw error;
    }
    // The rename is durable only once the directory entry is.
    try {
      const dir = openSync(dirname(path), "r");
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch {
      // some file systems refuse fsync on a directory; the data itself is synced
    }
  },
  rename: (from, to) => renameSync(from, to),
};

export interface StateStoreOptions {
  path: string;
  logger: Logger;
  /** The entries to save, read at write time so a write always has the latest state. */
  snapshot: () => RegistryEntry[];
  fs?: StateFs;
  now?: () => number;
  /** Wait this long after a change for more changes before writing. */
  coalesceMs?: number;
  /** First retry delay after a failed write; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
}

export class StateStore {
  readonly #o: Required<Omit<StateStoreOptions, "fs" | "now">> & { fs: StateFs; now: () => number };
  #timer: NodeJS.Timeout | undefined;
  #dirty = false;
  #writing: Promise<void> | undefined;
  #failures = 0;
  #writes = 0;

  constructor(options: StateStoreOptions) {
    this.#o = {
      fs: nodeStateFs,
      now: Date.now,
      coalesceMs: 25,
      retryMs: 500,
      maxRetryMs: 30_000,
      ...options,
    };
  }

  get writes(): number {
    return this.#writes;
  }

  get failures(): number {
    return this.#failures;
  }

  /** Reads the state file. A corrupt one is moved aside (never deleted) and reported. */
  load(): LoadResult {
    const { fs, path, logger } = this.#o;
    let text: string;
    try {
      text = fs.readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing" };
      return this.#setAside(`unreadable: ${(error as Error).message}`);
    }
    const decoded = decodeState(text);
    if (decoded.ok) return { kind: "loaded", entries: decoded.entries };
    logger.error("state file is corrupt", { path, reason: decoded.error.message });
    return this.#setAside(decoded.error.message);
  }

  #setAside(reason: string): LoadResult {
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
    if (this.#timer === undefined && this.#writing === undefined) this.#schedule(this.#o.coalesceMs);
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

  #retryDelay(): number {
    if (this.#failures === 0) return this.#o.coalesceMs;
    return Math.min(this.#o.retryMs * 2 ** (this.#failures - 1), this.#o.maxRetryMs);
  }

  async #write(): Promise<void> {
    this.#dirty = false;
    try {
      // Entries are immutable, so a snapshot encoded in slices is still one consistent state.
      const entries = this.#o.snapshot();
      const chunks = [`${encodeHeader(entries.length, this.#o.now())}\n`];
      let batch: string[] = [];
      await forEachSliced(entries, (entry) => {
        batch.push(encodeEntry(entry));
        if (batch.length === 256) {
          chunks.push(`${batch.join("\n")}\n`);
          batch = [];
        }
      });
      if (batch.length > 0) chunks.push(`${batch.join("\n")}\n`);
      this.#o.fs.writeFileAtomic(this.#o.path, chunks);
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

  /** Stops any scheduled write without writing. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
